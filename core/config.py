"""TrainConfig: every hyperparameter in one dataclass, driving the model, the CLI flags, the Train page and the card."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
ARCHITECTURES = ("seed", "wide")
PADDINGS = ("valid", "same")
KERNEL_SIZES = (3, 5, 7)
# stride: the block's convolution steps two pixels at a time instead of being followed by a pooling layer.
POOLINGS = ("max", "avg", "stride", "none")
MAX_CONV_BLOCKS = 4
MAX_DENSE_LAYERS = 3
# Keys of cards saved before the network was built block by block, and the fields that took their place.
RENAMED_KEYS = {"kernel_size": ("conv1_kernel", "conv2_kernel"), "dense_units": ("dense1_units",), "dropout": ("dense1_dropout",)}
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
MNIST_TRAIN_SIZE = 60_000


def _param(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    step: float | None = None,
    choices: tuple[Any, ...] | None = None,
    log: bool = False,
    group: str = "Training",
    label: str,
    layer: str | None = None,
) -> Any:
    """A dataclass field whose metadata lets the CLI and the Train page build their controls (`label` in plain words).

    `layer` names the convolution block ("conv2") or dense layer ("dense1") a setting belongs to, for the page's table.
    """
    metadata = {
        "help": help,
        "low": low,
        "high": high,
        "step": step,
        "choices": choices,
        "log": log,
        "group": group,
        "label": label,
        "layer": layer,
    }
    return field(default=default, metadata=metadata)


def _block_param(block: int, setting: str, default: Any, *, high: int = 256) -> Any:
    """One setting of convolution block `block` (filters, kernel, batchnorm or pooling)."""
    where = f"block {block}"
    specs: dict[str, dict[str, Any]] = {
        "filters": {"help": f"Filters in {where}'s convolution.", "low": 4, "high": high, "step": 4, "label": "Filters"},
        "kernel": {"help": f"Size in pixels of {where}'s filters.", "choices": KERNEL_SIZES, "label": "Filter size"},
        "batchnorm": {"help": f"Normalise {where}'s outputs over each batch (batch normalisation).", "label": "Batch norm"},
        "pooling": {
            "help": f"How {where} halves its map: max or average of each 2x2, a convolution that steps 2 pixels (stride), or none.",
            "choices": POOLINGS,
            "label": "Pooling",
        },
    }
    spec = specs[setting]
    return _param(default, spec.pop("help"), group="Network", layer=f"conv{block}", **spec)


def _dense_param(layer: int, setting: str, default: Any) -> Any:
    """One setting of hidden dense layer `layer` (units or dropout)."""
    if setting == "units":
        return _param(
            default, f"Units in dense layer {layer}.", low=16, high=1024, step=16, group="Network", layer=f"dense{layer}", label="Units"
        )
    return _param(
        default,
        f"Fraction of dense layer {layer}'s units dropped while training.",
        low=0.0,
        high=0.9,
        step=0.05,
        group="Network",
        layer=f"dense{layer}",
        label="Dropout",
    )


@dataclass(frozen=True)
class TrainConfig:
    """How a model is built and trained; saved inside every model file so the model explains itself."""

    # Training.
    epochs: int = _param(12, "Passes over the training images.", low=1, high=60, label="Epochs")
    batch_size: int = _param(128, "Images per gradient step.", low=8, high=1024, step=8, label="Batch size")
    learning_rate: float = _param(1e-3, "Initial step size of the optimizer.", low=1e-5, high=1.0, log=True, label="Learning rate")
    optimizer: str = _param("adam", "Update rule.", choices=OPTIMIZERS, label="Optimizer")
    # Cosine decay to zero over the run gives the last epochs small steps, worth ~0.1% on MNIST test.
    lr_schedule: str = _param("cosine", "How the learning rate changes over the run.", choices=SCHEDULES, label="Learning-rate schedule")
    # Architecture. The defaults are the seed project's CNN: two blocks of a 3x3 convolution (32, then 64 filters)
    # and 2x2 max pooling, then one dense layer of 128 units with dropout 0.5.
    architecture: str = _param(
        "seed",
        "seed: the convolution blocks and dense layers set here (by default the seed project's network); "
        "wide: each block's convolution twice, with batch normalisation and 'same' padding.",
        choices=ARCHITECTURES,
        group="Network",
        label="Network design",
    )
    # Deslanting normalises the writer's slant before the convolutions; it has no weights (see model.Deslant).
    deslant: bool = _param(True, "Straighten slanted digits before the convolutions.", group="Network", label="Straighten slanted digits")
    conv_blocks: int = _param(
        2, "Convolution blocks, each a convolution and its pooling.", low=1, high=4, group="Network", label="Convolution blocks"
    )
    # 'valid' (the seed's) trims a border off every map, so four blocks of it leave nothing to pool.
    conv_padding: str = _param(
        "valid",
        "valid: each convolution trims the map's border, as the seed network does; same: keeps the map's size.",
        choices=PADDINGS,
        group="Network",
        label="Convolution padding",
    )
    conv1_filters: int = _block_param(1, "filters", 32, high=128)
    conv1_kernel: int = _block_param(1, "kernel", 3)
    conv1_batchnorm: bool = _block_param(1, "batchnorm", False)
    conv1_pooling: str = _block_param(1, "pooling", "max")
    conv2_filters: int = _block_param(2, "filters", 64)
    conv2_kernel: int = _block_param(2, "kernel", 3)
    conv2_batchnorm: bool = _block_param(2, "batchnorm", False)
    conv2_pooling: str = _block_param(2, "pooling", "max")
    conv3_filters: int = _block_param(3, "filters", 64)
    conv3_kernel: int = _block_param(3, "kernel", 3)
    conv3_batchnorm: bool = _block_param(3, "batchnorm", False)
    conv3_pooling: str = _block_param(3, "pooling", "none")
    conv4_filters: int = _block_param(4, "filters", 128)
    conv4_kernel: int = _block_param(4, "kernel", 3)
    conv4_batchnorm: bool = _block_param(4, "batchnorm", False)
    conv4_pooling: str = _block_param(4, "pooling", "none")
    dense_layers: int = _param(
        1, "Hidden dense layers between the convolutions and the ten outputs.", low=0, high=3, group="Network", label="Dense layers"
    )
    dense1_units: int = _dense_param(1, "units", 128)
    dense1_dropout: float = _dense_param(1, "dropout", 0.5)
    dense2_units: int = _dense_param(2, "units", 64)
    dense2_dropout: float = _dense_param(2, "dropout", 0.25)
    dense3_units: int = _dense_param(3, "units", 32)
    dense3_dropout: float = _dense_param(3, "dropout", 0.25)
    # Data.
    train_size: int = _param(
        MNIST_TRAIN_SIZE,
        "How many of the 60,000 MNIST training images to use (validation included).",
        low=100,
        high=MNIST_TRAIN_SIZE,
        step=100,
        group="Data",
        label="Training images used",
    )
    validation_split: float = _param(
        0.1,
        "Fraction held out to watch for overfitting.",
        low=0.0,
        high=0.5,
        step=0.05,
        group="Data",
        label="Share held out for validation",
    )
    # Augmentation: each switch adds one random transform to every training image (never to validation or test).
    # Leaving some images as MNIST wrote them keeps accuracy on clean digits while the rest teach robustness.
    augment_share: float = _param(
        0.5,
        "Fraction of training images that are augmented.",
        low=0.0,
        high=1.0,
        step=0.05,
        group="Augmentation",
        label="Share of images changed",
    )
    augment_rotate: bool = _param(True, "Rotate up to ±12°.", group="Augmentation", label="Rotate")
    augment_shear: bool = _param(True, "Slant (shear) up to ±0.3.", group="Augmentation", label="Slant")
    # Real digits come narrow and wide (Semeion's scans are even stretched to a square): vary the aspect ratio.
    augment_stretch: bool = _param(
        True, "Make digits narrower or wider (aspect x0.65 to x1.5).", group="Augmentation", label="Narrower or wider"
    )
    augment_shift: bool = _param(True, "Jitter position (±1.5 px) and size (±10%).", group="Augmentation", label="Shift and resize")
    augment_stroke: bool = _param(True, "Thicken or thin the pen stroke.", group="Augmentation", label="Thicker or thinner pen")
    # Forms and some scanners (Semeion's) stretch each digit to fill a square box; recognizing them needs examples
    # that went through the recognizer's own preprocessing after such a stretch.
    augment_square: bool = _param(
        True,
        "Add copies of a fifth of the digits stretched to fill a square, as form scanners do.",
        group="Augmentation",
        label="Add digits stretched to a square",
    )
    # MNIST's writers were American: add 1s with a flag and base, 7s with a crossbar and hooked 9s, as Europe writes them.
    augment_styles: bool = _param(
        True,
        "Add 1s with a flag, 7s with a crossbar and 9s with a hooked tail (European styles).",
        group="Augmentation",
        label="Add European 1, 7 and 9",
    )
    # A webcam sees pen lines 1-3 pixels wide, markers and faint pencil, never MNIST's even strokes: show the
    # network what the reader makes of them.
    augment_pens: bool = _param(
        True,
        "Add copies of a fifth of the digits redrawn with a ballpoint, a marker or a pencil, as a webcam sees them.",
        group="Augmentation",
        label="Add pen and pencil copies",
    )
    # Reproducibility and scale.
    seed: int = _param(
        1, "Seed for the weights, the shuffling and the augmentation.", low=0, high=2**31 - 1, group="Data", label="Random seed"
    )
    distribution: str = _param(
        "none",
        "tf.distribute strategy: none, mirrored (all local GPUs) or multi_worker (machines listed in TF_CONFIG).",
        choices=DISTRIBUTIONS,
        group="Scale",
        label="Spread training over devices",
    )

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            meta = spec.metadata
            if meta["choices"] is not None and value not in meta["choices"]:
                raise ValueError(f"{spec.name} must be one of {', '.join(map(str, meta['choices']))}, not {value!r}.")
            if meta["low"] is not None and not (meta["low"] <= value <= meta["high"]):
                raise ValueError(f"{spec.name} must be between {meta['low']:g} and {meta['high']:g}, not {value!r}.")

    @property
    def augmentations(self) -> tuple[str, ...]:
        """Names of the augmentations switched on, e.g. ("rotate", "shift")."""
        return tuple(name.removeprefix("augment_") for name, on in self.to_dict().items() if name.startswith("augment_") and on is True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild from a saved card, ignoring keys that newer or older versions added (renamed keys are carried over)."""
        known = {spec.name for spec in dataclasses.fields(cls)}
        renamed = {new: values[old] for old, news in RENAMED_KEYS.items() if old in values for new in news if new not in values}
        return cls(**{key: value for key, value in {**values, **renamed}.items() if key in known})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def parameters() -> list[dataclasses.Field[Any]]:
    """The TrainConfig fields in declaration order, with their help, ranges and choices in `.metadata`."""
    return list(dataclasses.fields(TrainConfig))


# --- Settings in a link -------------------------------------------------------------------------------------------


def to_query(config: TrainConfig) -> dict[str, str]:
    """The settings that differ from the defaults, as text for a page's URL ({"epochs": "3", "conv1_pooling": "avg"})."""
    defaults = TrainConfig()
    return {
        spec.name: _as_text(getattr(config, spec.name))
        for spec in parameters()
        if getattr(config, spec.name) != getattr(defaults, spec.name)
    }


def from_query(query: Mapping[str, str]) -> tuple[TrainConfig, list[str]]:
    """The config a link describes, and one sentence per value it could not use (that setting keeps its default).

    Keys that are not settings are ignored: a link may carry other pages' parameters.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in parameters():
        if spec.name not in query:
            continue
        text = str(query[spec.name])
        try:
            value = _from_text(text, spec.default)
            TrainConfig(**{spec.name: value})  # checks the range or the choices
            _check_step(spec.name, value, spec.metadata)
        except ValueError as error:
            problems.append(f"The link's {spec.name}={text[:40]} was not used, so it is the default {_as_text(spec.default)}: {error}")
            continue
        values[spec.name] = value
    return TrainConfig(**values), problems


def _as_text(value: Any) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


def _from_text(text: str, default: Any) -> Any:
    """A link's text as the type of the setting's default; ValueError with a sentence if it is not one."""
    try:
        if isinstance(default, bool):
            if text.lower() not in ("1", "0", "true", "false"):
                raise ValueError
            return text.lower() in ("1", "true")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
    except ValueError:
        kind = "1 or 0" if isinstance(default, bool) else "a whole number" if isinstance(default, int) else "a number"
        raise ValueError(f"it should be {kind}.") from None
    return text


def _check_step(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    """A slider only takes values on its steps (batch sizes in 8s); a link may carry any number."""
    step, low = meta["step"], meta["low"]
    if step and abs((value - low) / step - round((value - low) / step)) > 1e-6:
        raise ValueError(f"{name} moves in steps of {step:g} from {low:g}.")

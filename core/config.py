"""TrainConfig: every hyperparameter in one dataclass, driving the model, the CLI flags, the Train page and the card."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")
ARCHITECTURES = ("seed", "wide")
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
) -> Any:
    """A dataclass field whose metadata lets the CLI and the Train page build their controls (`label` in plain words)."""
    metadata = {"help": help, "low": low, "high": high, "step": step, "choices": choices, "log": log, "group": group, "label": label}
    return field(default=default, metadata=metadata)


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
    # Architecture. The defaults are the seed project's CNN.
    architecture: str = _param(
        "seed",
        "seed: two conv/pool blocks then Dense; wide: two convolutions per block with batch norm.",
        choices=ARCHITECTURES,
        group="Network",
        label="Network design",
    )
    # Deslanting normalises the writer's slant before the convolutions; it has no weights (see model.Deslant).
    deslant: bool = _param(True, "Straighten slanted digits before the convolutions.", group="Network", label="Straighten slanted digits")
    conv1_filters: int = _param(
        32, "Filters in the first convolution.", low=4, high=128, step=4, group="Network", label="Filters, first convolution"
    )
    conv2_filters: int = _param(
        64, "Filters in the second convolution.", low=4, high=256, step=4, group="Network", label="Filters, second convolution"
    )
    kernel_size: int = _param(3, "Convolution kernel size (pixels).", choices=(3, 5), group="Network", label="Filter size (pixels)")
    dense_units: int = _param(
        128, "Units in the hidden dense layer.", low=16, high=1024, step=16, group="Network", label="Neurons in the dense layer"
    )
    dropout: float = _param(
        0.5,
        "Fraction of dense units dropped while training.",
        low=0.0,
        high=0.9,
        step=0.05,
        group="Network",
        label="Dropout while training",
    )
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
        """Rebuild from a saved card, ignoring keys that newer or older versions added."""
        known = {spec.name for spec in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def parameters() -> list[dataclasses.Field[Any]]:
    """The TrainConfig fields in declaration order, with their help, ranges and choices in `.metadata`."""
    return list(dataclasses.fields(TrainConfig))

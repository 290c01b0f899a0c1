"""How much one visitor may ask of a shared server: rate limits, a training's memory estimate, free memory, byte-bounded caches."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from core.wording import duration, plural

if TYPE_CHECKING:
    import keras

    from core.config import TrainConfig

MB = 2**20
CEILING_ENV = "DIGIT_LAB_MEMORY_MB"
# Streamlit Community Cloud gives an app about 2.7 GB; the server, TensorFlow and the shipped model take ~0.7 GB of it.
DEFAULT_CEILING_MB = 2500
# What a process running the app holds before any training: Python, Streamlit, TensorFlow, the shipped model and MNIST
# (measured: 690-760 MB). Used when the estimate is made in a process that has not loaded TensorFlow yet.
RUNTIME_BYTES = 750 * MB


# --- Rate limits ----------------------------------------------------------------------------------------------------


class RateLimit:
    """At most `count` actions in any `window` seconds; `wait()` says how long until the next one is allowed."""

    def __init__(self, count: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.count, self.window, self._clock = count, window, clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Seconds until one more action is allowed (0.0: now)."""
        with self._lock:
            now = self._clock()
            while self._times and now - self._times[0] >= self.window:
                self._times.popleft()
            return 0.0 if len(self._times) < self.count else self._times[0] + self.window - now

    def take(self) -> float:
        """Record an action if one is allowed now and return 0.0; else record nothing and return the seconds to wait."""
        waiting = self.wait()
        if waiting == 0.0:
            with self._lock:
                self._times.append(self._clock())
        return waiting


@dataclass(frozen=True)
class Allowance:
    """How many of one kind of action a visitor may start, and the sentence that refuses one more."""

    what: str  # "uploaded a model", as in "You have uploaded a model 10 times in the last 10 minutes"
    count: int
    window: float  # seconds
    period: str  # the window in words: "10 minutes", "hour"

    def limit(self) -> RateLimit:
        return RateLimit(self.count, self.window)

    def refusal(self, waiting: float) -> str:
        """ "You have started a training 4 times in the last hour, the most one visitor may ...: try again in about 12 minutes." """
        return (
            f"You have {self.what} {plural(self.count, 'time')} in the last {self.period}, the most one "
            f"visitor may on this shared server: try again in {duration(max(waiting, 1.0))}."
        )


UPLOADS = Allowance("uploaded a model", 10, 600.0, "10 minutes")
TRAININGS = Allowance("started a training", 4, 3600.0, "hour")
EVALUATIONS = Allowance("evaluated a model", 20, 600.0, "10 minutes")


# --- Memory ---------------------------------------------------------------------------------------------------------


def ceiling_bytes() -> int:
    """The most memory the app's process may reach: $DIGIT_LAB_MEMORY_MB, else DEFAULT_CEILING_MB."""
    value = os.environ.get(CEILING_ENV, "")
    try:
        megabytes = float(value) if value else DEFAULT_CEILING_MB
    except ValueError:
        megabytes = DEFAULT_CEILING_MB
    return int(megabytes * MB) if megabytes > 0 else DEFAULT_CEILING_MB * MB


def process_rss() -> int:
    """This process's resident memory now, in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def available_bytes() -> int:
    """Memory the machine (or this container's cgroup, if smaller) can still give: MemAvailable, or limit minus use."""
    free = _meminfo_available()
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file) as limit, open(usage_file) as usage:
                text = limit.read().strip()
                if text != "max" and int(text) < 2**60:
                    free = min(free, int(text) - int(usage.read()))
        except (OSError, ValueError):
            continue
    return max(free, 0)


def _meminfo_available() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 2**62  # unknown: do not refuse on a guess


@dataclass(frozen=True)
class MemoryEstimate:
    """A training's peak memory over the process's own, by part (bytes), with the settings that drive each part."""

    weights: int  # the weights, their gradients and the optimizer's slots
    activations: int  # a batch's layer outputs kept for the backward pass, and their gradients
    dataset: int  # the training images (augmented copies included) in the pipeline, validation and test arrays
    overhead: int = 0  # TensorFlow's traced graphs, tf.data's threads and buffers, whatever the network

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.dataset + self.overhead

    def largest_part(self) -> str:
        """The settings to lower, named as the Train page labels them, for the part that needs the most."""
        parts = {
            "the network's size (Neurons in the dense layer, Filters)": self.weights,
            "Batch size (or the Filters)": self.activations,
            "Training images used (or the Add ... copies)": self.dataset,
        }
        return max(parts, key=lambda name: parts[name])


# Fitted to benchmarks/training_memory.py (peak RSS of a training subprocess over its RSS with TensorFlow and MNIST
# loaded) and rounded up, so that every measured training stays under its estimate: a batch costs about twice its
# activations (each layer's output kept for the backward pass, and its gradient), and any training about 250 MB more
# (the same small training grew by 337 MB in one process and 396 MB in another: TensorFlow's allocator varies).
ACTIVATION_COPIES = 2
TRAINING_OVERHEAD = 256 * MB
# Weights, gradients, and Keras's copies during the step; plus the optimizer's slots (Adam's two moments).
WEIGHT_COPIES = 3
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "rmsprop": 1, "sgd": 1}
# One training image (uint8, 784 bytes) is held about four times: the split's array, the pipeline's tensor, the
# shuffle buffer's element and its bookkeeping.
IMAGE_BYTES = 4 * 784
EVALUATION_BATCH = 512  # make_card evaluates and predicts the test and validation images in batches of 512
FLOAT_IMAGE_BYTES = 784 * 4


def activations_per_image(model: keras.Model) -> int:
    """Values one image makes the model compute, summed over every layer's outputs (its input included)."""
    import keras

    total = sum(math.prod(size for size in tensor.shape[1:] if size is not None) for tensor in model.inputs)
    pending, seen = list(getattr(model, "layers", [])), set()
    while pending:
        layer = pending.pop()
        if id(layer) in seen or isinstance(layer, keras.layers.InputLayer):  # inputs are counted once, above
            continue
        seen.add(id(layer))
        pending.extend(getattr(layer, "layers", []))
        for node in getattr(layer, "_inbound_nodes", []):
            for output in node.outputs:
                total += math.prod(size for size in output.shape[1:] if size is not None)
    return total


def estimate_model_training(model: keras.Model, *, batch_size: int, optimizer: str, training_images: int, held_out: int) -> MemoryEstimate:
    """The memory a training of `model` adds to its process: weights and optimizer, a batch's activations, the data.

    `model` may be built inside a StatelessScope (its weights never allocated): only shapes are read.
    `training_images` counts what the pipeline holds (augmented copies included), `held_out` the validation images.
    """
    parameters = sum(math.prod(weight.shape) for weight in model.weights)
    weights = parameters * 4 * (WEIGHT_COPIES + OPTIMIZER_SLOTS.get(optimizer, 2))
    per_image = activations_per_image(model) * 4
    activations = max(per_image * batch_size * ACTIVATION_COPIES, per_image * EVALUATION_BATCH)
    test_images = 10_000  # the card's test accuracy: all of MNIST's test set, as float32
    dataset = training_images * IMAGE_BYTES + (held_out + test_images) * FLOAT_IMAGE_BYTES * 2
    return MemoryEstimate(weights, activations, dataset, TRAINING_OVERHEAD)


def training_images(config: TrainConfig) -> tuple[int, int]:
    """(training images the pipeline holds, augmented copies included; validation images) for `config`."""
    drawn = min(config.train_size, 60_000)
    held_out = round(drawn * config.validation_split)
    images = drawn - held_out
    # make_splits appends copies: European styles (about a tenth of the 1s, 7s and 9s), then a fifth squared, then a
    # fifth redrawn with pens; each multiplies what follows it.
    for switch, share in (("augment_styles", 0.1), ("augment_square", 0.2), ("augment_pens", 0.2)):
        if getattr(config, switch, False):
            images += math.ceil(images * share)
    return images, held_out


def estimate_training(config: TrainConfig, build: Callable[[TrainConfig], keras.Model] | None = None) -> MemoryEstimate:
    """Estimate a training's added memory from the model `build(config)` makes (default: core.model.build_model).

    The model is built inside a StatelessScope that never initialises a weight, so even a huge one costs nothing.
    """
    import keras
    from keras.src.backend.common import global_state

    from core.model import build_model

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    already = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = (build or build_model)(config)
    finally:
        del pending[already:]  # the deferred weights are never initialised: forget them
    images, held_out = training_images(config)
    return estimate_model_training(
        model, batch_size=config.batch_size, optimizer=config.optimizer, training_images=images, held_out=held_out
    )


def _megabytes(size: int) -> str:
    return f"{size / 2**30:.1f} GB" if size >= 2**30 else f"{size / MB:,.0f} MB"


def training_refusal(estimate: MemoryEstimate, *, rss: int | None = None, free: int | None = None) -> str | None:
    """Why a training of this estimate must not start (one sentence), or None when it fits.

    It must fit under the ceiling with the process's memory now (at least RUNTIME_BYTES), and in the memory free now.
    """
    rss = max(process_rss() if rss is None else rss, RUNTIME_BYTES)
    free = available_bytes() if free is None else free
    ceiling = ceiling_bytes()
    if rss + estimate.total > ceiling:
        return (
            f"This training would need about {_megabytes(estimate.total)} more memory, and the server may use "
            f"{_megabytes(ceiling)} in all ({CEILING_ENV}); lower {estimate.largest_part()} and start again."
        )
    if estimate.total > free:
        return (
            f"This training needs about {_megabytes(estimate.total)} of memory and the server has "
            f"{_megabytes(free)} free right now: try again in a few minutes, or lower {estimate.largest_part()}."
        )
    return None


def evaluation_bytes(model: keras.Model, count: int) -> int:
    """Memory an evaluation of `count` test images adds: the float32 images, a batch's activations, the answers."""
    return count * FLOAT_IMAGE_BYTES * 2 + activations_per_image(model) * 4 * EVALUATION_BATCH + count * 10 * 4 * 4


def evaluation_refusal(needed: int, *, rss: int | None = None, free: int | None = None) -> str | None:
    """Why an evaluation must not start now (one sentence), or None."""
    rss = process_rss() if rss is None else rss
    free = available_bytes() if free is None else free
    if rss + needed > ceiling_bytes() or needed > free:
        return (
            f"Evaluating needs about {_megabytes(needed)} of memory, which the server cannot spare right now "
            f"({_megabytes(min(free, max(ceiling_bytes() - rss, 0)))} free): try again in a few minutes, or use fewer test images."
        )
    return None


# --- Caches bounded in bytes ----------------------------------------------------------------------------------------

Value = TypeVar("Value")


def size_of(value: Any) -> int:
    """Bytes held by a value made of numpy arrays, bytes, and tuples, lists or dataclasses of them (others: 1 KB)."""
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if isinstance(value, (tuple, list)):
        return sum(size_of(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(size_of(getattr(value, name)) for name in value.__dataclass_fields__)
    return 1024


class ByteBoundedCache(Generic[Value]):
    """A least-recently-used cache that holds at most `max_bytes` (each value measured with `size_of`)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Value, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: Value) -> Value:
        """Keep `value` (unless it alone is over the bound), dropping the least recently used; returns `value`."""
        size = size_of(value)
        with self._lock:
            self._items.pop(key, None)
            if size <= self.max_bytes:
                self._items[key] = (value, size)
            total = sum(item_size for _, item_size in self._items.values())
            while total > self.max_bytes and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                total -= dropped
        return value

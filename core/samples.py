"""A person's handwriting samples: through the recognizer's preprocessing, a capped set, folders and zips of PNGs (0/ to 9/)."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from core import segment
from core.imageio import ImageFileError, read_image_bytes, read_image_file

MAX_PER_DIGIT = 50  # enough to teach a style; a set stays small enough to keep in a session and to zip
MAX_ZIP_BYTES = 20 * 2**20  # 500 PNGs of 28x28 take about 200 KB; a photo per sample still fits
MAX_ZIP_MEMBERS = 2000
MAX_UNPACKED_BYTES = 100 * 2**20
NUM_CLASSES = 10


class SampleError(ValueError):
    """A sample that cannot be taught (no digit in it, a label outside 0-9); the message says which one."""


def sample_input(image: np.ndarray) -> np.ndarray:
    """One sample through the recognizer's own path: what `Recognizer.classify` gives the network.

    (H, W[, C]) any dtype, either polarity -> (28, 28) float32 in [0, 1]. Raises SampleError when there is no digit.
    An image that is already a model input (28x28 grey, white ink on black with an empty outer ring, as samples
    are saved) is kept as it is: preprocessing it again would move it by a pixel each time it is saved and loaded.
    """
    if is_model_input(image):
        levels = np.asarray(image, np.float32)
        return levels / 255.0 if np.issubdtype(np.asarray(image).dtype, np.integer) else np.clip(levels, 0.0, 1.0)
    model_input = segment.single_digit_input(image)  # classify's own path, without a model
    if model_input is None:
        raise SampleError("no digit was found in it")
    return model_input


def is_model_input(image: np.ndarray) -> bool:
    """Whether `image` is laid out as the network's input already: (28, 28) grey, some ink, its outer ring (nearly) empty.

    NOTE: "nearly": centring the mass can push a lopsided digit's edge onto the ring (a 7's long bar).
    """
    if np.shape(image) != (28, 28):
        return False
    ring = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    return bool(np.count_nonzero(ring) <= 0.1 * ring.size and np.asarray(image).any())


def sample_inputs(images: list[np.ndarray] | np.ndarray, names: list[str] | None = None) -> np.ndarray:
    """Every sample through `sample_input`.  n images -> (n, 28, 28) float32; SampleError names the first bad one."""
    inputs = []
    for index, image in enumerate(images):
        try:
            inputs.append(sample_input(np.asarray(image)))
        except (SampleError, ValueError) as error:
            name = names[index] if names is not None else f"sample {index + 1}"
            raise SampleError(f"{name}: {error}.") from error
    return np.stack(inputs) if inputs else np.zeros((0, 28, 28), np.float32)


class SampleSetError(ValueError):
    """A sample set (a folder, a zip, an addition) that cannot be used; the message is one sentence saying why."""


@dataclass
class SampleSet:
    """Labelled samples as the network sees them: (28, 28) float32 model inputs, white ink on black, at most
    MAX_PER_DIGIT per digit, in the order they were added."""

    inputs: list[np.ndarray] = field(default_factory=list)  # each (28, 28) float32 in [0, 1]
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> list[int]:
        """How many samples of each digit.  -> (10,)."""
        return np.bincount(np.asarray(self.labels, np.int64), minlength=NUM_CLASSES).tolist()

    def add(self, model_input: np.ndarray, label: int) -> None:
        """Keep one sample; SampleSetError when that digit already has MAX_PER_DIGIT."""
        if not 0 <= int(label) < NUM_CLASSES:
            raise SampleSetError(f"A sample's label must be a digit from 0 to 9, not {label}.")
        if self.counts()[int(label)] >= MAX_PER_DIGIT:
            raise SampleSetError(f"You already have {MAX_PER_DIGIT} samples of {label}, the most kept per digit; remove some to add more.")
        if np.shape(model_input) != (28, 28):
            raise SampleSetError(f"A sample is a 28x28 model input, not an array of shape {np.shape(model_input)}.")
        self.inputs.append(np.clip(np.asarray(model_input, np.float32), 0.0, 1.0))
        self.labels.append(int(label))

    def extend(self, other: SampleSet) -> None:
        """Add every sample of `other`, or none when that would put a digit over MAX_PER_DIGIT."""
        total = np.add(self.counts(), other.counts())
        if total.max() > MAX_PER_DIGIT:
            digit = int(total.argmax())
            raise SampleSetError(
                f"Together with yours that makes {total[digit]} samples of {digit}, over the {MAX_PER_DIGIT} kept per digit; remove some first."
            )
        self.inputs.extend(other.inputs)
        self.labels.extend(other.labels)

    def remove(self, index: int) -> None:
        del self.inputs[index], self.labels[index]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """-> (n, 28, 28) float32 inputs, (n,) int64 labels."""
        if not self.labels:
            return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
        return np.stack(self.inputs), np.asarray(self.labels, np.int64)

    def to_zip(self) -> bytes:
        """The set as a zip of PNGs, `3/007.png` for the 7th sample of 3; white ink on black, as the network sees it."""
        buffer = io.BytesIO()
        numbers = [0] * NUM_CLASSES
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for model_input, label in zip(self.inputs, self.labels, strict=True):
                numbers[label] += 1
                encoded, png = cv2.imencode(".png", np.round(model_input * 255).astype(np.uint8))
                if not encoded:  # pragma: no cover  (OpenCV encodes any 28x28 uint8 image)
                    raise SampleSetError("A sample could not be encoded as PNG.")
                archive.writestr(f"{label}/{numbers[label]:03d}.png", png.tobytes())
        return buffer.getvalue()

    @classmethod
    def from_images(cls, images: list[np.ndarray], labels: list[int], names: list[str]) -> SampleSet:
        """Images of one digit each, through the recognizer's preprocessing; SampleSetError names a bad image."""
        counts = np.bincount(np.asarray(labels, np.int64), minlength=NUM_CLASSES)
        if counts.max(initial=0) > MAX_PER_DIGIT:
            digit = int(counts.argmax())
            raise SampleSetError(f"{counts[digit]} samples of {digit} is over the {MAX_PER_DIGIT} kept per digit.")
        samples = cls()
        for image, label, name in zip(images, labels, names, strict=True):
            try:
                samples.add(sample_input(image), label)
            except (SampleError, ValueError) as error:
                raise SampleSetError(f"{name}: {str(error).rstrip('.')}.") from error
        return samples

    @classmethod
    def from_zip(cls, data: bytes, name: str = "the zip") -> SampleSet:
        """A zip of images in folders 0/ to 9/ (a folder above them is allowed); SampleSetError says what is wrong."""
        if len(data) > MAX_ZIP_BYTES:
            raise SampleSetError(f"{name}: {len(data) / 2**20:.0f} MB is over the {MAX_ZIP_BYTES // 2**20} MB limit for a sample set.")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = [member for member in archive.infolist() if not member.is_dir()]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise SampleSetError(f"{name}: not a zip file (or a damaged one).") from error
        with archive:
            if len(members) > MAX_ZIP_MEMBERS or sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
                raise SampleSetError(f"{name}: holds more than a sample set of {NUM_CLASSES} x {MAX_PER_DIGIT} images.")
            images, labels, names = [], [], []
            for member in members:
                path = PurePosixPath(member.filename)
                if path.name.startswith(".") or "__MACOSX" in path.parts:
                    continue  # files a desktop adds to a zip, not samples
                if len(path.parts) < 2 or path.parent.name not in DIGIT_FOLDERS:
                    raise SampleSetError(f"{name}: {member.filename[:80]} is not inside a folder named 0 to 9.")
                try:
                    images.append(read_image_bytes(archive.read(member), path.name))
                except ImageFileError as error:
                    raise SampleSetError(f"{name}: {member.filename[:80]} is not an image ({_reason(error, path.name)}).") from error
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
                    raise SampleSetError(f"{name}: {member.filename[:80]} cannot be unpacked (the zip is damaged).") from error
                labels.append(int(path.parent.name))
                names.append(f"{name}: {member.filename[:80]}")
        if not images:
            raise SampleSetError(f"{name}: holds no images in folders 0 to 9.")
        return cls.from_images(images, labels, names)


DIGIT_FOLDERS = tuple(str(digit) for digit in range(NUM_CLASSES))


def _reason(error: ImageFileError, name: str) -> str:
    """ImageFileError's message without the file name it starts with."""
    return str(error).removeprefix(f"{name}: ").rstrip(".")


def read_sample_folder(folder: str | os.PathLike[str]) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Images from `folder`/0 ... `folder`/9: (images, labels, names). SampleSetError (one sentence) for a missing
    or empty folder, a folder not named 0-9, or a file that is not an image."""
    root = Path(folder)
    if not root.is_dir():
        raise SampleSetError(f"{root}: no such folder of samples.")
    images: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir() or entry.name not in DIGIT_FOLDERS:
            raise SampleSetError(f"{entry}: a sample folder holds only folders named 0 to 9.")
        for file in sorted(entry.iterdir()):
            if file.name.startswith("."):
                continue
            try:
                images.append(read_image_file(file))
            except ImageFileError as error:
                raise SampleSetError(f"{file}: not an image ({_reason(error, file.name)}).") from error
            labels.append(int(entry.name))
            names.append(str(file))
        if not any(label == int(entry.name) for label in labels):
            raise SampleSetError(f"{entry}: the folder is empty.")
    if not images:
        raise SampleSetError(f"{root}: holds no folders 0 to 9 of images.")
    return images, labels, names

"""Image files to numpy arrays, refusing what is not an image or too large before it is decoded."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 megapixels: any phone photo; a 12000x12000 image would need ~0.5 GB decoded
EXIF_ORIENTATION = 0x0112
# How image files begin (PNG, JPEG, GIF, BMP, TIFF, WebP): a file that starts like one but cannot be parsed is damaged.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


class ImageFileError(ValueError):
    """A file that cannot be read as an image; the message names the file and the problem."""


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file: (H, W) or (H, W, 3|4) uint8/uint16, BGR order, upright (EXIF rotation applied)."""
    location = Path(path)
    try:
        size = location.stat().st_size
    except OSError as error:
        raise ImageFileError(f"{location.name}: cannot be opened ({error.strerror or error}).") from error
    if location.is_dir():
        raise ImageFileError(f"{location.name}: is a folder, not an image.")
    if size > MAX_FILE_BYTES:
        raise ImageFileError(f"{location.name}: {size / 2**20:.0f} MB is over the {MAX_FILE_BYTES // 2**20} MB limit.")
    try:
        data = location.read_bytes()
    except OSError as error:
        raise ImageFileError(f"{location.name}: cannot be read ({error.strerror or error}).") from error
    return read_image_bytes(data, location.name)


def read_image_bytes(data: bytes, name: str) -> np.ndarray:
    """Decode an image held in memory (an upload); `name` is used in error messages."""
    if len(data) == 0:
        raise ImageFileError(f"{name}: the file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageFileError(f"{name}: {len(data) / 2**20:.0f} MB is over the {MAX_FILE_BYTES // 2**20} MB limit.")
    _, _, orientation = _header(data, name)  # refuses non-images and oversized images before any pixel is decoded
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageFileError(f"{name}: the image data is damaged or truncated and cannot be decoded.")
    return _upright(image, orientation)


def _header(data: bytes, name: str) -> tuple[int, int, int]:
    """Width, height and EXIF orientation from the header alone (no pixels are decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                width, height = header.size
                # NOTE: the size is checked before the EXIF block is read, because Pillow's PNG reader decodes
                # every pixel to look for EXIF after the image data (144 MB for a 12000x12000 scan).
                if width * height > MAX_PIXELS:
                    raise ImageFileError(
                        f"{name}: {width}x{height} pixels is over the {MAX_PIXELS // 1_000_000} megapixel limit; shrink it first."
                    )
                orientation = _orientation(header)
    except ImageFileError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageFileError(f"{name}: the image is far over the {MAX_PIXELS // 1_000_000} megapixel limit.") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        if data.startswith(IMAGE_SIGNATURES):
            raise ImageFileError(f"{name}: the image data is damaged or truncated and cannot be decoded.") from error
        raise ImageFileError(f"{name}: not an image file (or a format that cannot be read).") from error
    return width, height, orientation


def _orientation(header: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright), read without decoding pixels; 1 when it is missing or damaged."""
    if header.format == "TIFF":
        return 1  # NOTE: OpenCV's TIFF decoder turns the image upright itself (a test checks all eight orientations)
    try:
        if header.format == "PNG":
            exif = Image.Exif()
            if header.info.get("exif"):  # an eXIf chunk placed before the pixels, as phones write it
                exif.load(header.info["exif"])
        else:
            exif = header.getexif()
        return int(exif.get(EXIF_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block should not cost the user the image
        return 1


def _upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply the EXIF orientation a phone camera records instead of rotating the pixels (all eight, as Pillow does).

    NOTE: not PIL.ImageOps.exif_transpose, which transposes a Pillow image: the pixels are decoded by OpenCV, which
    keeps 16-bit colour and BGR order that a Pillow image cannot hold; tests check these flips against Pillow's.
    """
    if orientation in (5, 6, 7, 8):
        image = np.swapaxes(image, 0, 1)  # (H, W, ...) -> (W, H, ...): a mirror across the main diagonal
    flips = {2: (1,), 3: (0, 1), 4: (0,), 6: (1,), 7: (0, 1), 8: (0,)}  # axes to reverse after that mirror
    if orientation in flips:
        image = np.flip(image, flips[orientation])
    return np.ascontiguousarray(image)


def to_display(image: np.ndarray) -> np.ndarray:
    """Any decoded image as 8-bit BGR for showing on screen.  (H, W[, 1|3|4]) uint8/uint16 -> (H, W, 3) uint8."""
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)

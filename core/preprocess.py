"""Real images to MNIST-style inputs: grey conversion, polarity, flattened lighting, an ink map, 28x28 centring.

A photographed page's ink is found by `core.paper`; the digits in an ink map by `core.segment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

MNIST_SIZE = 28  # side of the model input
MNIST_BOX = 20  # MNIST fits each digit into 20x20, keeping its aspect ratio, then centres it in 28x28
WORK_BOX = 80  # strokes are normalised at 4x the 20x20 box, then area-averaged down, which anti-aliases them
# Stroke width MNIST digits have at the 80-pixel working scale (median of `stroke_width` over the training set ~9.6).
TARGET_STROKE = 9.5
MAX_SIDE = 1024  # larger images are shrunk first: digits stay readable and a frame stays fast
MIN_CONTRAST = 0.12  # ink must stand this far (of the 0..1 range) above the flattened background
NOISY_FRAGMENTS = 150  # a mask in more pieces than this is treated as noisy and median-filtered once


@dataclass(frozen=True)
class Box:
    """A digit's bounding box in the caller's image: x, y of the top-left corner, width, height (pixels)."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True)
class InkMap:
    """An image reduced to ink: bright strokes on a flat black background, at working resolution."""

    ink: np.ndarray  # (H, W) float32 in [0, 1], 1 = darkest ink whatever the paper's colour
    mask: np.ndarray  # (H, W) uint8, 255 where there is ink
    scale: float  # working pixels per caller pixel (<= 1)
    dark_ink: bool  # True when the original was dark ink on light paper
    # The mask's 8-connected pieces, labelled once: (labels (H, W) int32, stats (count, 5) as OpenCV gives them).
    pieces: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False)
    denoised: bool = False  # the image was so speckled that it was median-filtered before thresholding
    lines_removed: bool = False  # a photographed page's map (page_ink_map): printed lines already subtracted
    printed: np.ndarray | None = field(default=None, repr=False, compare=False)  # (H, W) bool: where printed lines ran
    photograph: bool = False  # a colour photo or frame, where the frame's edge shows the world beyond the sheet
    # (H, W) uint8 0/255: a page's fainter darkness left out of the mask, which may be ink beside digits already found
    faint: np.ndarray | None = field(default=None, repr=False, compare=False)
    origin: tuple[int, int] = (0, 0)  # the caller's pixel (x, y) at the map's top-left corner: a sheet read alone


# --- Grey conversion ----------------------------------------------------------------------------------------------


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any numpy image to grey: (H, W), (H, W, 1|3|4) of bool, ints or floats -> (H, W) float32 in [0, 1].

    RGB and BGR are treated alike (luminance weights differ by a few per cent, which is irrelevant for ink).
    Transparent pixels of an RGBA image become background, whichever colour the opaque strokes are.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"Expected a numpy image, got {type(image).__name__}.")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"Expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"The image is empty (shape {image.shape}).")
    if image.dtype.kind not in "biuf":
        raise ValueError(f"Expected numeric pixels, got dtype {image.dtype}.")
    if image.ndim == 2:
        return _unit_range(image)
    if image.dtype in (np.uint8, np.uint16):
        # NOTE: never a float copy of all channels: for a 40-megapixel RGBA photo that is 640 MB. 8-bit images
        # (every camera frame) go through OpenCV's integer conversion; 16-bit ones are weighed channel by channel.
        gray = _unit_range(cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2GRAY)) if image.dtype == np.uint8 else _luminance(image)
        alpha = image[:, :, 3] if image.shape[2] == 4 else None
        if alpha is not None and alpha.min() < 0.99 * np.iinfo(image.dtype).max:
            gray = _composite_on_backdrop(gray, _unit_range(alpha))
        return gray
    values = _unit_range(image)
    gray = cv2.cvtColor(np.ascontiguousarray(values[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if values.shape[2] == 4:
        alpha = values[:, :, 3]
        if alpha.min() < 0.99:
            gray = _composite_on_backdrop(gray, alpha)
    return gray


def _luminance(image: np.ndarray) -> np.ndarray:
    """Grey of an 8- or 16-bit colour image, as cv2's RGB2GRAY weighs it.  (H, W, 3|4) uint -> (H, W) float32 in [0, 1]."""
    scale = 1.0 / np.iinfo(image.dtype).max
    gray = np.zeros(image.shape[:2], np.float32)
    channel = np.empty_like(gray)
    for index, weight in enumerate((0.299, 0.587, 0.114)):
        np.multiply(image[:, :, index], np.float32(weight * scale), out=channel, dtype=np.float32)
        gray += channel
    return np.clip(gray, 0.0, 1.0, out=gray)


def _unit_range(image: np.ndarray) -> np.ndarray:
    """Scale pixel values to float32 [0, 1] by their dtype's range (integers) or their own range (floats)."""
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if image.dtype in (np.uint8, np.uint16):
        values = image.astype(np.float32)
        values *= np.float32(1 / np.iinfo(image.dtype).max)
        return values
    # NOTE: checked before any cast: finite float64 values such as 1e300 would become infinite in float32.
    if not np.isfinite(image).all():
        raise ValueError("The image contains NaN or infinite values.")
    low, high = float(image.min()), float(image.max())
    if image.dtype.kind == "f" and low >= 0.0 and high <= 1.0:
        return image.astype(np.float32)
    if image.dtype.kind in "iu" and low >= 0 and high <= 255:
        values = image.astype(np.float32)
        values *= np.float32(1 / 255)
        return values
    half_span = high / 2 - low / 2  # halves, so that the span of the widest float64 range does not overflow
    if half_span < 5e-13:
        return np.zeros(image.shape, np.float32)
    return ((image / 2 - low / 2) / half_span).astype(np.float32)


def _composite_on_backdrop(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Put strokes drawn on a transparent layer onto paper of the opposite shade, so they stay visible as ink."""
    opaque = alpha > 0.5
    stroke_level = float(gray[opaque].mean()) if opaque.any() else 0.0
    backdrop = np.float32(0.0 if stroke_level > 0.5 else 1.0)
    # gray * alpha + backdrop * (1 - alpha), computed in place: these arrays can be hundreds of megabytes.
    composite = np.subtract(gray, backdrop, dtype=np.float32)
    composite *= alpha
    composite += backdrop
    return composite


# --- Ink ----------------------------------------------------------------------------------------------------------


def ink_map(image: np.ndarray) -> InkMap:
    """Find the ink: detect polarity, shrink huge images, flatten uneven light, threshold.  (H, W[, C]) -> InkMap."""
    gray = to_gray(image)  # (H, W) float32 in [0, 1]
    scale = min(1.0, MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    dark_ink = _paper_is_light(gray)
    ink = 1.0 - gray if dark_ink else gray
    flat = _flatten_background(ink)
    mask = _threshold(flat)
    pieces = _label(mask)
    if len(pieces[1]) > NOISY_FRAGMENTS:
        # Salt-and-pepper noise shatters the mask into specks that touch and form blobs. A 3x3 median removes
        # it; it is not applied to clean images, where it would also erase pen lines one pixel wide.
        flat = _flatten_background(cv2.medianBlur(ink, 3))
        mask = _threshold(flat)
        return InkMap(ink=flat, mask=mask, scale=scale, dark_ink=dark_ink, pieces=_label(mask), denoised=True)
    return InkMap(ink=flat, mask=mask, scale=scale, dark_ink=dark_ink, pieces=pieces)


def _label(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-connected pieces of a mask: labels (H, W) and OpenCV's stats rows (x, y, w, h, area), row 0 the background."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return labels, stats


def _paper_is_light(gray: np.ndarray) -> bool:
    """True for dark ink on light paper.

    Usually the outer ring of the image is paper (a canvas, a crop, a scan), and when it is clearly at one end
    of a clearly contrasted image's range, that settles it. Otherwise (little ink in a big picture, shadows
    across a photographed page), ink is what departs sharply from its neighbourhood: subtract a local median,
    which follows the shadows, and see whether the strong departures are dark or light.
    """
    factor = min(1.0, 64 / max(gray.shape))  # a coarse view is enough to tell dark ink from light
    small = cv2.resize(gray, (max(16, round(gray.shape[1] * factor)), max(16, round(gray.shape[0] * factor))), interpolation=cv2.INTER_AREA)
    ring = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    low, high = _quantiles(small, (0.01, 0.99))
    (ring_median,) = _quantiles(ring, (0.5,))
    paper = (ring_median - low) / max(high - low, 1e-6)  # 0: the darkest level, 1: the lightest
    (whole_median,) = _quantiles(small, (0.5,))
    # A photographed page whose outline is mostly desk: the outline is dark but most of the picture is light paper.
    outline_is_desk = min(gray.shape) >= 64 and (paper > 0.5) != ((whole_median - low) / max(high - low, 1e-6) > 0.5)
    if min(gray.shape) < 64 or (high - low > 0.25 and not 0.15 < paper < 0.85 and not outline_is_desk):
        middle = (low + high) / 2
        ring_light = float(np.mean(ring > middle))
        if abs(ring_light - 0.5) < 0.2:
            return _paper_is_light_by_vote(ring_light, small > middle)
        return paper > 0.5
    # Strokes must be visible here: a pen line is 1-3 pixels wide in a 640x480 frame, so look at up to 256 pixels.
    factor = min(1.0, 256 / max(gray.shape))
    levels = (
        cv2.resize(gray, (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor))), interpolation=cv2.INTER_AREA) * 255
    ).astype(np.uint8)
    # A median filter keeps the edges of large areas (the desk, a thumb, a shadow), so what departs from it is
    # thin: strokes. Count the clear departures each way; a page is far more often dark ink on light paper, so
    # light ink must outnumber dark ink two to one to win.
    residual = levels.astype(np.int16) - cv2.medianBlur(levels, 9).astype(np.int16)
    (spread,) = _quantiles(np.abs(residual), (0.5,))
    clear = max(12.0, 6.0 * spread)
    return bool(np.count_nonzero(residual < -clear) * 2 >= np.count_nonzero(residual > clear))


def _paper_is_light_by_vote(ring_light: float, light: np.ndarray) -> bool:
    """Polarity when the outline is as much ink as paper (a bold 0 or 8 in a tight crop touches every edge).

    Three weak cues vote: the outline's majority, the whole picture's majority (ink usually covers less than
    paper) and the pieces (a digit is one or two strokes, while the paper around it is cut into more: its holes,
    the corners the strokes cut off). Each alone misreads some bold or broken digits; two rarely agree wrongly.
    """
    light_share = float(light.mean())
    light_pieces = cv2.connectedComponents(light.astype(np.uint8))[0] - 1
    dark_pieces = cv2.connectedComponents((~light).astype(np.uint8))[0] - 1
    # Equal pieces say nothing, so they side with the majority level.
    pieces_say_light = light_pieces > dark_pieces if light_pieces != dark_pieces else light_share > 0.5
    return (ring_light > 0.5) + (light_share > 0.5) + pieces_say_light >= 2


def _quantiles(values: np.ndarray, fractions: tuple[float, ...]) -> list[float]:
    """Order statistics (nearest rank) from one partial sort: np.percentile costs ~0.3 ms on a 112x112 crop."""
    flat = values.ravel()
    ranks = [round(fraction * (flat.size - 1)) for fraction in fractions]
    ordered = np.partition(flat, ranks)
    return [float(ordered[rank]) for rank in ranks]


def _flatten_background(ink: np.ndarray) -> np.ndarray:
    """Subtract a smooth estimate of the background (shadows, vignetting, gradients).  (H, W) -> (H, W) in [0, 1].

    The background is a grey opening with a kernel a quarter of the image: strokes are narrower than that in at
    least one direction, so they vanish from the estimate, while lighting varies over larger distances.
    It is computed at a quarter of the resolution, which keeps a 640x480 frame under a millisecond.
    """
    height, width = ink.shape
    if min(height, width) < 64:
        # Too small for lighting to vary: the background is the faintest level present.
        (faintest,) = _quantiles(ink, (0.05,))
        background = np.full_like(ink, faintest)
    else:
        small = cv2.resize(ink, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
        side = max(3, (min(small.shape) // 4) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
        background = cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel)
        background = cv2.blur(background, (side, side))
        background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    # ink <= 1 and background >= 0, so the difference only needs clipping at zero.
    return np.maximum(ink - background, np.float32(0.0), dtype=np.float32)


def _threshold(flat: np.ndarray) -> np.ndarray:
    """Otsu's threshold on the flattened image, never below the contrast a real stroke has.  -> (H, W) uint8 0/255."""
    # The strongest ink, after a small blur so that one hot pixel of sensor noise cannot set the scale.
    peak = float(cv2.GaussianBlur(flat, (3, 3), 0).max())
    if peak < MIN_CONTRAST:
        return np.zeros(flat.shape, np.uint8)
    levels = cv2.convertScaleAbs(flat, alpha=255.0 / peak)  # flat >= 0: scaled, rounded and saturated to uint8
    otsu, _ = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    cut = max(otsu, 255.0 * 0.3, 255.0 * MIN_CONTRAST / peak)
    return cv2.threshold(levels, cut, 255, cv2.THRESH_BINARY)[1]


# --- To MNIST's 28x28 ---------------------------------------------------------------------------------------------


def stroke_width(binary: np.ndarray) -> float:
    """Mean stroke width of a binary drawing, as ink area over half its outline length (pixels)."""
    area = float(np.count_nonzero(binary))
    if area == 0:
        return 0.0
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * area / max(perimeter, 1.0)


def _normalise_stroke(binary: np.ndarray) -> np.ndarray:
    """Thicken thin pen lines and thin fat canvas strokes towards MNIST's width.  (80, w) uint8 -> same."""
    width = stroke_width(binary)
    difference = TARGET_STROKE - width
    if abs(difference) < 2.0:
        return binary
    size = int(round(abs(difference))) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    if difference > 0:
        return cv2.dilate(binary, kernel)
    thinned = cv2.erode(binary, kernel)
    # Never erode a digit away: stop if thinning would lose most of the ink.
    return thinned if np.count_nonzero(thinned) > 0.35 * np.count_nonzero(binary) else binary


def to_mnist(digit: np.ndarray) -> np.ndarray:
    """One digit's ink, tightly cropped, into MNIST's layout.  (h, w) float32 ink in [0, 1] -> (28, 28) float32.

    Keep aspect ratio, longest side 80 px, binarise, normalise the stroke width, area-average down to fit the 20x20
    box (the anti-aliasing), then shift so the centre of mass sits at the centre of the 28x28 canvas.
    """
    height, width = digit.shape
    factor = WORK_BOX / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    large = cv2.resize(digit, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    peak = float(large.max())
    binary = cv2.threshold(large, 0.5 * peak, 255, cv2.THRESH_BINARY)[1].astype(np.uint8) if peak > 0 else np.zeros(large.shape, np.uint8)
    binary = _normalise_stroke(cv2.copyMakeBorder(binary, 8, 8, 8, 8, cv2.BORDER_CONSTANT, value=0))  # room to thicken
    ys, xs = np.nonzero(binary)
    if len(xs) == 0:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    binary = binary[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    factor = MNIST_BOX / max(binary.shape)
    size = (max(1, round(binary.shape[1] * factor)), max(1, round(binary.shape[0] * factor)))
    box = cv2.resize(binary.astype(np.float32) * np.float32(1 / 255), size, interpolation=cv2.INTER_AREA)  # (<=20, <=20)
    canvas = _centre_of_mass_in_28(box)
    return np.minimum(canvas, np.float32(1.0), out=canvas)  # area-averaging can overshoot 1.0 by a rounding error


def _centre_of_mass_in_28(box: np.ndarray) -> np.ndarray:
    """Place a (<=20, <=20) patch in a 28x28 canvas so its centre of mass is at (14, 14), as MNIST did."""
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    height, width = box.shape
    mass = float(box.sum())
    if mass <= 0:
        return canvas
    # NOTE: not cv2.moments, which reads an (N, 2) array, such as a thin 1 that is 2 pixels wide, as N points.
    centre_y = float(box.sum(axis=1) @ np.arange(height)) / mass
    centre_x = float(box.sum(axis=0) @ np.arange(width)) / mass
    left = min(max(round(MNIST_SIZE / 2 - centre_x), 0), MNIST_SIZE - width)
    top = min(max(round(MNIST_SIZE / 2 - centre_y), 0), MNIST_SIZE - height)
    canvas[top : top + height, left : left + width] = box
    return canvas

"""Real images to MNIST-style inputs: grey conversion, polarity, flattened lighting, ink mask, digit boxes, 28x28 centring."""

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
MIN_DIGIT_PIXELS = 12  # at working resolution; smaller groups are specks
MIN_DIGIT_HEIGHT = 8  # pixels; with MIN_DIGIT_FRACTION of the image's shorter side, the smallest digit `read` accepts
MIN_DIGIT_FRACTION = 0.02
SPECK_FRACTION = 5e-5  # of the image's pixels: 15 px in a 640x480 frame
MAX_FRAGMENTS = 300  # more separate blobs than this is noise or texture, not a handful of digits
NOISY_FRAGMENTS = 150  # a mask in more pieces than this is treated as noisy and median-filtered once
MAX_MERGED = 80  # the largest blobs considered for digits; merging is quadratic in their number
# A digit encloses at most two loops (3 at most in MNIST, USPS and Semeion, counting holes of MIN_HOLE pixels or
# more; a stroke on textured paper is also pierced by smaller pinholes); noise that survives the median filter as
# one big blob encloses dozens.
MAX_HOLES = 12
MIN_HOLE = 3


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
    if min(gray.shape) < 64 or (high - low > 0.25 and not 0.15 < paper < 0.85):
        middle = (low + high) / 2
        ring_light = float(np.mean(ring > middle))
        if abs(ring_light - 0.5) < 0.2:
            return _paper_is_light_by_vote(ring_light, small > middle)
        return paper > 0.5
    levels = (small * 255).astype(np.uint8)
    background = cv2.medianBlur(levels, (min(levels.shape) // 3) | 1)
    residual = levels.astype(np.int16) - background.astype(np.int16)
    darkest, lightest = _quantiles(residual, (0.005, 0.995))
    return bool(-darkest > lightest)


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


# --- Finding digits -----------------------------------------------------------------------------------------------


@dataclass
class Group:
    """Connected components that together form one digit (a 5 and its bar, a 4 in two strokes)."""

    labels: list[int]
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int
    area: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def absorb(self, other: Group) -> None:
        self.labels += other.labels
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        self.area += other.area


def _remove_rules(mask: np.ndarray) -> np.ndarray:
    """Erase ruled lines: straight runs longer than a third of the image and thin, horizontal or vertical."""
    height, width = mask.shape
    lines = np.zeros_like(mask)
    # Openings with kernels this long cost milliseconds per frame: only try a direction in which some row or
    # column holds enough ink to contain such a run.
    row_ink, column_ink = np.count_nonzero(mask, axis=1), np.count_nonzero(mask, axis=0)
    for length, shape, most in ((width // 3, (width // 3, 1), row_ink.max()), (height // 3, (1, height // 3), column_ink.max())):
        if length >= 30 and most >= length:
            kernel = cv2.getStructuringElement(cv2.MORPH_RECT, shape)
            straight = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
            # A pen stroke can be as long (a tall 1 on the canvas, a digit in a tight crop) but is thicker than a
            # thirtieth of that length, so it survives an opening by a square of that side; a printed rule does not.
            side = max(3, length // 30)
            thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
            lines |= cv2.subtract(straight, thick)
    if not lines.any():
        return mask
    return cv2.subtract(mask, cv2.dilate(lines, np.ones((3, 3), np.uint8)))


def _components(pieces: tuple[np.ndarray, np.ndarray], smallest: float = 2) -> tuple[np.ndarray, list[Group]]:
    """Connected blobs of at least `smallest` pixels (filtered in numpy: noise can make tens of thousands)."""
    labels, stats = pieces
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= smallest) + 1
    if len(keep) > MAX_FRAGMENTS:
        return labels, [Group([], 0, 0, 0, 0, 0) for _ in range(len(keep))]  # only the count matters: noise
    return labels, [
        Group([int(label)], int(x), int(y), int(x + w), int(y + h), int(area))
        for label, (x, y, w, h, area) in zip(keep, stats[keep], strict=True)
    ]


def _could_be_one(first: Group, second: Group) -> bool:
    """Pieces of one digit overlap horizontally and nearly touch vertically."""
    overlap = min(first.x1, second.x1) - max(first.x0, second.x0)
    gap = max(first.y0, second.y0) - min(first.y1, second.y1)
    return overlap >= 0.5 * min(first.width, second.width) and gap <= 0.25 * max(first.height, second.height)


def _is_fragment(first: Group, second: Group) -> bool:
    """One piece is much shorter than the other: a 5's bar, a 7's crossbar, a broken-off end."""
    return min(first.height, second.height) < 0.6 * max(first.height, second.height)


def _merge_strokes(groups: list[Group]) -> list[Group]:
    """Merge fragments into the digit they belong to; two digit-sized shapes are left for `ambiguous_pairs`."""
    merged = True
    while merged:
        merged = False
        for i, first in enumerate(groups):
            for second in groups[i + 1 :]:
                if _could_be_one(first, second) and _is_fragment(first, second):
                    first.absorb(second)
                    groups.remove(second)
                    merged = True
                    break
            if merged:
                break
    return groups


def ambiguous_pairs(groups: list[Group]) -> list[tuple[int, int]]:
    """Neighbours in reading order that may be one digit or two (a 4 in two strokes, or a 1 under a 7's bar).

    Shape alone cannot tell; the recognizer reads both ways and keeps the likelier one.
    """
    return [
        (index, index + 1)
        for index in range(len(groups) - 1)
        if _could_be_one(groups[index], groups[index + 1]) and not _is_fragment(groups[index], groups[index + 1])
    ]


def union(first: Group, second: Group) -> Group:
    """A new group covering both (neither is changed)."""
    return _union([first, second])


def _is_digit_like(group: Group, tallest: int, largest: int) -> bool:
    """Drop specks and blobs: too small beside the biggest digit, or a filled patch rather than strokes."""
    if group.area < min(MIN_DIGIT_PIXELS, 0.5 * largest) or group.height < 0.35 * tallest or group.area < 0.04 * largest:
        return False
    fill = group.area / float(group.width * group.height)
    return not (fill > 0.8 and group.width > 0.6 * group.height)


def _is_texture(ink: InkMap, labels: np.ndarray, group: Group) -> bool:
    """A blob riddled with holes rather than strokes: what noise leaves after the median filter (clean images skip this)."""
    if not ink.denoised:
        return False
    own = np.isin(labels[group.y0 : group.y1, group.x0 : group.x1], group.labels)
    # Paper pieces enclosed by the ink, 4-connected; the 1-pixel frame joins every piece open to the outside.
    paper = cv2.copyMakeBorder((~own).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    _, pieces, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    areas = np.delete(stats[1:, cv2.CC_STAT_AREA], pieces[0, 0] - 1)  # the paper's pieces but the outside
    return np.count_nonzero(areas >= MIN_HOLE) > MAX_HOLES


def _touches_border(group: Group, shape: tuple[int, ...]) -> bool:
    return group.x0 <= 0 or group.y0 <= 0 or group.x1 >= shape[1] or group.y1 >= shape[0]


def find_digit_groups(ink: InkMap, *, whole_image: bool = False) -> tuple[np.ndarray, list[Group]]:
    """Label the ink and return the groups that look like digits, in reading order (rows top to bottom).

    With `whole_image` the image is one digit (a crop or a canvas), so pieces touching its edge are kept.
    """
    # Specks far too small to be part of a digit at this image size (sensor noise, paper texture, dust).
    smallest = 2 if whole_image else max(6, SPECK_FRACTION * ink.mask.size)
    mask = ink.mask if whole_image else _remove_rules(ink.mask)
    labels, groups = _components(ink.pieces if mask is ink.mask else _label(mask), smallest)
    if not groups or len(groups) > MAX_FRAGMENTS:
        return labels, []  # nothing, or hundreds of fragments: noise, not handwriting
    groups = _merge_strokes(sorted(groups, key=lambda group: -group.area)[:MAX_MERGED])
    tallest = max(group.height for group in groups)
    largest = max(group.area for group in groups)
    if whole_image:
        # One digit: keep every piece but specks, then judge the whole.
        groups = [group for group in groups if group.area >= 0.04 * largest]
        union = _union(groups)
        return labels, [union] if _is_digit_like(union, union.height, union.area) and not _is_texture(ink, labels, union) else []
    # Far too small to read (MNIST's digits are 20 pixels tall), whatever else is in the image: specks, texture.
    shortest = max(MIN_DIGIT_HEIGHT, MIN_DIGIT_FRACTION * min(ink.mask.shape))
    groups = [
        group
        for group in groups
        if group.height >= shortest and _is_digit_like(group, tallest, largest) and not _is_texture(ink, labels, group)
    ]
    if groups:
        # A digit cut by the edge of a camera frame is unreadable; drop such fragments when whole digits are present.
        inside = [group for group in groups if not _touches_border(group, ink.mask.shape)]
        groups = inside or groups
    return labels, _reading_order(groups)


def _reading_order(groups: list[Group]) -> list[Group]:
    """Rows first (groups whose vertical spans overlap by half share a row), then left to right."""
    rows: list[list[Group]] = []
    for group in sorted(groups, key=lambda group: (group.y0 + group.y1) / 2):
        row = rows[-1] if rows else None
        if row is not None:
            top, bottom = min(g.y0 for g in row), max(g.y1 for g in row)
            overlap = min(bottom, group.y1) - max(top, group.y0)
            if overlap >= 0.5 * min(group.height, bottom - top):
                row.append(group)
                continue
        rows.append([group])
    return [group for row in rows for group in sorted(row, key=lambda group: group.x0)]


def row_breaks(groups: list[Group]) -> list[int]:
    """Indices in reading order where a new row starts (after the first)."""
    breaks = []
    for index in range(1, len(groups)):
        previous, current = groups[index - 1], groups[index]
        if current.x0 < previous.x0 and current.y0 >= previous.y1 - 0.5 * previous.height:
            breaks.append(index)
    return breaks


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


def crop_group(ink: InkMap, labels: np.ndarray, group: Group) -> np.ndarray:
    """The ink of one group only (other digits inside its box are masked out).  -> (h, w) float32."""
    margin = 2  # the soft, below-threshold edge of a stroke lies just outside its thresholded box
    height, width = labels.shape
    window = (
        slice(max(0, group.y0 - margin), min(height, group.y1 + margin)),
        slice(max(0, group.x0 - margin), min(width, group.x1 + margin)),
    )
    region = labels[window]
    own = np.zeros(region.shape, np.uint8)
    for label in group.labels:  # a digit has a handful of pieces; this beats np.isin, which sorts
        own[region == label] = 1
    own = cv2.dilate(own, np.ones((3, 3), np.uint8))  # keep the soft edge pixels around the thresholded stroke
    return ink.ink[window] * own


def caller_box(ink: InkMap, group: Group) -> Box:
    """A group's box in the caller's pixel coordinates (undoing the shrink of large images)."""
    factor = 1.0 / ink.scale
    return Box(round(group.x0 * factor), round(group.y0 * factor), round(group.width * factor), round(group.height * factor))


def _union(groups: list[Group]) -> Group:
    union = Group([], groups[0].x0, groups[0].y0, groups[0].x1, groups[0].y1, 0)
    for group in groups:
        union.absorb(group)
    return union

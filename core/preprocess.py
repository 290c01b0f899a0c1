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
PAGE_SIDE = 320  # photographed pages are searched for ink at this size (half a 640x480 webcam frame)
MIN_CONTRAST = 0.12  # ink must stand this far (of the 0..1 range) above the flattened background
MIN_DIGIT_PIXELS = 12  # at working resolution; smaller groups are specks
MIN_DIGIT_HEIGHT = 8  # pixels; with MIN_DIGIT_FRACTION of the image's shorter side, the smallest digit `read` accepts
MIN_DIGIT_FRACTION = 0.02
ON_PRINTED_SHARE = 0.7  # a thin piece with this share of its ink on printed lines is what is left of them
PAGE_DIGIT_FRACTION = 0.06  # on a photographed page, digits are at least this share of the shorter side (29 px of 480)
SPECK_FRACTION = 5e-5  # of the image's pixels: 15 px in a 640x480 frame
MAX_FRAGMENTS = 300  # more separate blobs than this is noise or texture, not a handful of digits
NOISY_FRAGMENTS = 150  # a mask in more pieces than this is treated as noisy and median-filtered once
MAX_MERGED = 80  # the largest blobs considered for digits; merging is quadratic in their number
# A digit encloses at most two loops (3 at most in MNIST, USPS and Semeion, counting holes of MIN_HOLE pixels or
# more; a stroke on textured paper is also pierced by smaller pinholes); noise that survives the median filter as
# one big blob encloses dozens.
MAX_HOLES = 12
MIN_HOLE = 3
PAGE_BORDER = 0.03  # of a page's longer side: shapes this close to the frame's edge come from beyond it
PAGE_SHORTEST = 0.55  # of the digits' height: shorter shapes on a page are not digits
PAGE_SEED = 0.45  # of the digits' height: pieces at least this tall are digits or large parts of one
PAGE_REACH = 0.15  # of the digits' height: a smaller piece this close to a large one may be part of its digit
SPLIT_ASPECT = 1.05  # a shape wider than it is tall may be two digits written touching
CROP_TYPICAL = 0.75  # the stroke's darkness at this quantile counts as full ink when a page's digit is cropped
MAX_LINE_WIDTH = 9  # pixels: the widest band searched for a line's pixels around its centre
MAX_PRINTED_WIDTH = 6  # pixels: printed lines are no wider at any distance a camera can read digits from
LINE_VOTES = 0.35  # a printed line has pixels along at least this share of the frame's longer side
LINE_RELATIVE_VOTES = 0.4  # and at least this share of the strongest line's pixels
MIN_FAMILY = 3  # printed lines come at least three abreast
WIDTH_SAMPLE = 5  # a family's print width is the median width of its strongest lines
REFINE_REACH = 2  # pixels: how far a Hough line (found at half size, in 1-degree steps) may sit from the printed one at either end
LINE_FAN = 20  # degrees: how far perspective turns a sheet's lines from each other across a frame
LINE_LIKE_FILL = 0.025  # ink area per squared length below which a thin straight piece is a line, not a 1
# On a photographed page, ink is this much darker than the paper around it (fractions of the paper's brightness)
# or more: clear ink seeds a stroke, weak ink extends it (faint pencil, a fading ballpoint).
PAGE_STRONG_INK = 0.05
PAGE_WEAK_INK = 0.025


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


def page_ink_map(image: np.ndarray) -> InkMap:
    """Find handwriting on a photographed page: ink is what is darker than the paper around it.

    (H, W[, C]) -> InkMap at up to PAGE_SIDE pixels. The grey image is divided by a local estimate of the paper (a
    grey closing wider than any pen stroke), which cancels shadows, vignetting and tinted paper and leaves the desk
    level with itself. Printed lines (squares, rules, a margin, the sheet's edge) are found as families of long
    straight lines and their darkness is subtracted, so a stroke crossing or following one keeps its own. Faint
    pencil is kept by hysteresis: weak ink joined to clear ink. A thumb holding the sheet is masked by its colour.
    """
    if not isinstance(image, np.ndarray) or image.ndim < 2 or min(image.shape[:2]) < 1:
        to_gray(image)  # raises the ValueError that says what is wrong with it
    # NOTE: a page is read at PAGE_SIDE pixels at most. Halving a 640x480 frame keeps the signal-to-noise ratio of
    # a 1-pixel pen line (its contrast and the noise both halve) and makes every step below four times cheaper.
    scale = min(1.0, PAGE_SIDE / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    if _has_colour(image):
        colour = image[:, :, :3] if scale == 1.0 else cv2.resize(image[:, :, :3], size, interpolation=cv2.INTER_AREA)
        gray = _unit_range(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY))  # (h, w) float32 in [0, 1]
    else:
        colour = None
        gray = to_gray(image)
        gray = gray if scale == 1.0 else cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    dark_ink = _paper_is_light(gray)
    levels = cv2.convertScaleAbs(gray, alpha=255.0)  # (h, w) uint8
    if not dark_ink:
        levels = cv2.bitwise_not(levels)
    mask, darkness, printed = _page_mask(*_darkness(levels))
    _, stats = _label(mask)
    denoised = np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] <= 12) > NOISY_FRAGMENTS  # specks, not strokes
    if denoised:
        # Salt-and-pepper noise shatters the mask into specks; a 3x3 median removes it (pen lines are thicker here).
        mask, darkness, printed = _page_mask(*_darkness(cv2.medianBlur(levels, 3)))
    if colour is not None:
        # A thumb holding the sheet: its outline and shading are darker than the paper, but no pen writes in skin.
        mask = cv2.subtract(mask, _skin(colour))
    return InkMap(
        ink=np.minimum(darkness, 1.0),
        mask=mask,
        scale=scale,
        dark_ink=dark_ink,
        pieces=_label(mask),
        denoised=denoised,
        lines_removed=True,
        printed=printed > 0,
        photograph=colour is not None and not _drawn(levels),
    )


def _darkness(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """What the ink takes away from the paper around it (0 on paper, 1 for black); how much the paper's noise is
    magnified there (dividing by a paper in shadow magnifies its noise as much as its ink); and the darkness that
    is clearly ink and that may extend it, from the paper's noise, measured before negative values are clipped.
    (h, w) uint8 -> ((h, w) float32 darkness >= 0, (h, w) float32 noise factor >= 1, (strong, weak))."""
    paper = cv2.max(_paper_level(levels), 1)
    darkness = cv2.GaussianBlur(1.0 - cv2.divide(levels, paper, scale=1.0, dtype=cv2.CV_32F), (0, 0), 0.7)
    (usual,) = _quantiles(paper[::4, ::4], (0.5,))
    magnified = cv2.min(cv2.max(cv2.divide(np.float32(usual), paper.astype(np.float32)), 1.0), 4.0)
    return cv2.max(darkness, 0.0), magnified, _ink_levels(darkness)


def _page_mask(darkness: np.ndarray, magnified: np.ndarray, levels: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ink of a page's darkness map, printed lines subtracted.
    -> (mask (h, w) uint8 0/255, darkness without lines, the printed lines' darkness (h, w) float32)."""
    strong, weak = levels
    strong_map, weak_map = magnified * np.float32(strong), magnified * np.float32(weak)  # higher in shadow
    weak_mask = cv2.compare(darkness, weak_map, cv2.CMP_GT)
    # Printed lines are subtracted, not erased: a stroke that crosses or follows one keeps its own darkness.
    printed = _printed_lines(weak_mask, darkness)
    darkness = cv2.max(cv2.subtract(darkness, printed), 0.0)
    candidates = cv2.compare(darkness, weak_map, cv2.CMP_GT)
    return _grown_from(candidates, cv2.bitwise_and(cv2.compare(darkness, strong_map, cv2.CMP_GT), candidates)), darkness, printed


def _skin(colour: np.ndarray) -> np.ndarray:
    """Where a BGR image shows skin: red above green above blue, green 55-90% of red, not dark, and redder than
    most of the picture (tinted paper can be pink or cream, and is most of the picture).  -> uint8 0/255."""
    blue, green, red = (channel.astype(np.int16) for channel in cv2.split(colour))
    warmth = red - blue
    (usual,) = _quantiles(warmth[::4, ::4], (0.5,))
    skin = (red > 80) & (green > blue) & (20 * green > 11 * red) & (10 * green < 9 * red) & (warmth > max(40.0, usual + 30))
    # A thumb is a broad patch; the soft edge of a red or brown stroke can have skin's colour too, but is thin.
    patch = cv2.morphologyEx(skin.astype(np.uint8) * 255, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    return cv2.dilate(patch, np.ones((5, 5), np.uint8))


def _drawn(levels: np.ndarray) -> bool:
    """A drawing or a screenshot, not a photograph: most pixels are exactly one level (a camera's noise never is).
    A stroke that touches the edge of a canvas is part of the drawing, not something beyond the frame."""
    counts = cv2.calcHist([levels], [0], None, [256], [0, 256])
    return bool(counts.max() > 0.5 * levels.size)


def _has_colour(image: np.ndarray) -> bool:
    """An opaque 8-bit colour image (a camera frame or a photo), whose colours can tell printed lines from ink."""
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[2] < 3:
        return False
    return image.shape[2] == 3 or int(image[:, :, 3].min()) >= 250


def _paper_level(levels: np.ndarray) -> np.ndarray:
    """The paper's brightness around each pixel: a grey closing at half resolution.  (h, w) uint8 -> (h, w) uint8.

    Its side (a tenth of the shorter side at half size, about 48 pixels in a 640x480 frame) is wider than a
    marker's stroke, so strokes vanish from it, and narrower than the desk, which it follows edge for edge.
    """
    height, width = levels.shape
    small = cv2.resize(levels, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)
    side = max(5, (min(small.shape) // 10) | 1)
    level = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    return cv2.resize(cv2.blur(level, (3, 3)), (width, height), interpolation=cv2.INTER_LINEAR)


def _ink_levels(darkness: np.ndarray) -> tuple[float, float]:
    """Darkness that is clearly ink, and the fainter darkness that may extend it: both above the paper's noise."""
    sample = darkness[::4, ::4]
    (middle,) = _quantiles(sample, (0.5,))
    (spread,) = _quantiles(np.abs(sample - middle), (0.5,))
    noise = 1.4826 * spread
    return max(PAGE_STRONG_INK, middle + 6.0 * noise), max(PAGE_WEAK_INK, middle + 3.0 * noise)


def _grown_from(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pieces of `candidates` that contain a seed pixel (hysteresis).  uint8 0/255 masks -> uint8 0/255."""
    count, labels = cv2.connectedComponents(candidates, connectivity=8)
    keep = np.zeros(count, np.uint8)
    keep[labels[seeds > 0]] = 255
    keep[0] = 0
    return keep[labels]


def _printed_lines(mask: np.ndarray, darkness: np.ndarray) -> np.ndarray:
    """How dark printed rules, grid lines and the sheet's edge make each pixel: lines straight across the frame.

    A standard Hough transform finds them even where digits or shadows break them; each is then nudged onto the
    darkest nearby line (the transform's 1-degree steps drift by pixels across a frame), and drawn as wide as the
    lines are printed (all lines of a sheet alike), as dark as it is along its length (its median, which the few
    digits it crosses do not move). Subtracting this leaves the ink that crosses or follows a line.
    (h, w) uint8 0/255 mask, (h, w) float32 darkness -> (h, w) float32 darkness of the lines (0 elsewhere).
    """
    printed = np.zeros_like(darkness)
    longest_digit = 0.3 * max(mask.shape)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if not len(stats) > 1 or max(stats[1:, cv2.CC_STAT_WIDTH].max(), stats[1:, cv2.CC_STAT_HEIGHT].max()) < longest_digit:
        return printed
    # NOTE: the transform runs on the mask halved by max-pooling (a 1-pixel line survives it), four times cheaper;
    # the refinement below puts each line back on its pixels at full size.
    half = cv2.dilate(mask, np.ones((2, 2), np.uint8))[::2, ::2]
    found = cv2.HoughLinesWithAccumulator(half, 1, np.pi / 180, int(LINE_VOTES * max(half.shape)))
    if found is None:
        return printed
    distinct = _distinct_lines(found.reshape(-1, 3))
    # Rules and squares come in families of parallel lines; a lone straight stroke (a tall 1) is handwriting.
    sizes = np.bincount([family for _, _, family in distinct], minlength=2)
    lines = [(*_refined(darkness, 2 * rho, theta), family) for rho, theta, family in distinct if sizes[family] >= MIN_FAMILY]
    if not lines:
        return printed
    # Each direction is drawn apart and the two added: where lines cross, the paper bears both inks.
    for family in (0, 1):
        members = [line for line in lines if line[2] == family]
        if not members:
            continue
        # How wide the family is printed: the median over its strongest lines of the mask's pixels near a line per
        # pixel of the line on the mask. A sheet's edge, or the dark rim of a vignetted frame, may be the strongest
        # line of all and is wider; the median is the print's.
        width = round(float(np.median([_line_width(mask, points) for points, _, _ in members[:WIDTH_SAMPLE]])))
        if width > MAX_PRINTED_WIDTH:
            continue  # wider than print: a marker's straight strokes, not a sheet's lines
        drawn = np.zeros_like(darkness)
        for points, level, _ in sorted(members, key=lambda line: line[1]):
            cv2.polylines(drawn, [points], False, level, width + 1)
        printed += drawn
    return printed


def _line_width(mask: np.ndarray, points: np.ndarray) -> float:
    """The mask's pixels within MAX_LINE_WIDTH of a line, per pixel of the line that lies on the mask."""
    centre = np.zeros_like(mask)
    cv2.polylines(centre, [points], False, 255, 1)
    near = cv2.bitwise_and(cv2.dilate(centre, np.ones((MAX_LINE_WIDTH, MAX_LINE_WIDTH), np.uint8)), mask)
    return cv2.countNonZero(near) / max(1, cv2.countNonZero(cv2.bitwise_and(centre, mask)))


def _refined(darkness: np.ndarray, rho: float, theta: float) -> tuple[np.ndarray, float]:
    """A Hough line moved (by up to REFINE_REACH pixels at either end of the frame) onto the darkest line nearby, as the two
    ends of a polyline, and the median darkness along it where it is drawn.  -> ((2, 1, 2) int32 points, level)."""
    height, width = darkness.shape
    normal = np.array([np.cos(theta), np.sin(theta)])
    direction = np.array([-np.sin(theta), np.cos(theta)])
    steps = np.arange(-(height + width), height + width, 4.0)
    along = rho * normal[None, :] + steps[:, None] * direction[None, :]  # (n, 2) x, y on the line
    margin = REFINE_REACH
    along = along[
        (along[:, 0] >= margin) & (along[:, 0] <= width - 1 - margin) & (along[:, 1] >= margin) & (along[:, 1] <= height - 1 - margin)
    ]
    if len(along) < 6:
        return np.zeros((2, 1, 2), np.int32), 0.0
    # Each end's offset is chosen on its own third of the line: the darkest of the parallel positions there.
    offsets = np.arange(-REFINE_REACH, REFINE_REACH + 1)
    third = len(along) // 3
    ends = []
    for part, end in ((along[:third], along[0]), (along[-third:], along[-1])):
        points = part[None, :, :] + offsets[:, None, None] * normal[None, None, :]  # (offsets, m, 2)
        sums = darkness[np.rint(points[..., 1]).astype(int), np.rint(points[..., 0]).astype(int)].sum(axis=1)
        ends.append(end + offsets[int(sums.argmax())] * normal)
    fraction = np.linspace(0.0, 1.0, len(along))[:, None]
    placed = ends[0] * (1 - fraction) + ends[1] * fraction
    samples = darkness[np.rint(placed[:, 1]).astype(int).clip(0, height - 1), np.rint(placed[:, 0]).astype(int).clip(0, width - 1)]
    return np.rint(np.array(ends)).astype(np.int32).reshape(2, 1, 2), _quantiles(samples, (0.5,))[0]


def _distinct_lines(found: np.ndarray) -> list[tuple[float, float, int]]:
    """The Hough transform's lines without the near-copies a wide line also gets (within 2 pixels and 3 degrees),
    and without lines far weaker than the strongest (a diagonal through a grid's crossings collects votes too).
    (n, 3) rho, theta, votes -> [(rho, theta, direction 0 or 1)], strongest first."""
    found = found[np.argsort(-found[:, 2])]
    strongest = float(found[0, 2])
    # A sheet's lines and edges run in two directions (squares, or rules and the margin), each fanned out a little
    # by perspective: the strongest line's, and the strongest at 45 degrees or more from it.
    degrees = np.degrees(found[:, 1])
    turn = np.abs((degrees - degrees[0] + 90) % 180 - 90)  # 0..90 degrees from the strongest line's direction
    across = np.flatnonzero(turn >= 45)
    families = [degrees[0]] + ([degrees[across[0]]] if len(across) else [])
    family_of = np.full(len(found), -1)
    for index, family in enumerate(families):
        family_of[(family_of < 0) & (np.abs((degrees - family + 90) % 180 - 90) <= LINE_FAN)] = index
    taken: set[tuple[int, int]] = set()
    kept: list[tuple[float, float, int]] = []
    for (rho, theta, votes), family in zip(found[family_of >= 0], family_of[family_of >= 0], strict=True):
        if votes < LINE_RELATIVE_VOTES * strongest:
            break
        cell = (round(rho), round(np.degrees(theta)) % 180)
        if cell in taken:
            continue
        kept.append((float(rho), float(theta), int(family)))
        for degrees in range(-3, 4):
            wrapped = cell[1] + degrees
            sign = -1 if wrapped < 0 or wrapped >= 180 else 1  # past 0 or 180 degrees a line's rho changes sign
            taken.update((sign * cell[0] + shift, wrapped % 180) for shift in range(-2, 3))
    return kept


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


def _touches_border(group: Group, shape: tuple[int, ...], margin: int = 0) -> bool:
    return group.x0 <= margin or group.y0 <= margin or group.x1 >= shape[1] - margin or group.y1 >= shape[0] - margin


def find_digit_groups(ink: InkMap, *, whole_image: bool = False) -> tuple[np.ndarray, list[Group]]:
    """Label the ink and return the groups that look like digits, in reading order (rows top to bottom).

    With `whole_image` the image is one digit (a crop or a canvas), so pieces touching its edge are kept.
    """
    # Specks far too small to be part of a digit at this image size (sensor noise, paper texture, dust).
    smallest = 2 if whole_image else max(6, SPECK_FRACTION * ink.mask.size)
    mask = ink.mask if whole_image or ink.lines_removed else _remove_rules(ink.mask)
    labels, groups = _components(ink.pieces if mask is ink.mask else _label(mask), smallest)
    if not groups or len(groups) > MAX_FRAGMENTS:
        return labels, []  # nothing, or hundreds of fragments: noise, not handwriting
    groups = sorted(groups, key=lambda group: -group.area)[:MAX_MERGED]
    if not whole_image:
        # A digit cut by the edge of a camera frame is unreadable, and the desk's edge or a thumb comes in from
        # the frame's edge too: judge sizes among the shapes that lie inside, when there are any. On a
        # photographed page, what runs within a few pixels of the frame's edge comes from beyond it too.
        margin = round(PAGE_BORDER * max(ink.mask.shape)) if ink.lines_removed else 0
        inside = [group for group in groups if not _touches_border(group, ink.mask.shape, margin if _is_line_like(group) else 0)]
        # In a photo nothing at the edge is read, however little lies inside: the sheet's edge, the desk, a
        # shadow's rim and a thumb all come in from there.
        groups = inside if ink.photograph else inside or groups
        if not groups:
            return labels, []
    if ink.lines_removed and not whole_image:
        # What is left of printed lines (a piece the Hough transform missed, a grid's crossings) is thin, straight
        # and often longer than the digits: measure the digits' height without such pieces, then drop them.
        groups = [group for group in groups if not _on_printed_lines(ink, group)]
        if not groups:
            return labels, []
        tallest = _digit_height(groups)
        groups = [group for group in groups if not (_is_line_like(group) and max(group.width, group.height) > 1.3 * tallest)]
        groups = _columns_in_rows(groups, tallest) if groups else groups
        # Digits written together are of a size: a piece much shorter than them is a dot, a dash or a grid crossing.
        groups = [group for group in groups if group.height >= PAGE_SHORTEST * tallest]
        if not groups:
            return labels, []
    else:
        groups = _merge_strokes(groups)
        tallest = max(group.height for group in groups)
    largest = max(group.area for group in groups)
    if whole_image:
        # One digit: keep every piece but specks, then judge the whole.
        groups = [group for group in groups if group.area >= 0.04 * largest]
        union = _union(groups)
        return labels, [union] if _is_digit_like(union, union.height, union.area) and not _is_texture(ink, labels, union) else []
    # Far too small to read (MNIST's digits are 20 pixels tall), whatever else is in the image: specks, texture.
    shortest = max(MIN_DIGIT_HEIGHT, (PAGE_DIGIT_FRACTION if ink.lines_removed else MIN_DIGIT_FRACTION) * min(ink.mask.shape))
    groups = [
        group
        for group in groups
        if group.height >= shortest and _is_digit_like(group, tallest, largest) and not _is_texture(ink, labels, group)
    ]
    return labels, _reading_order(groups)


def _columns_in_rows(groups: list[Group], digit_height: int) -> list[Group]:
    """Assemble digits from pieces: a broken stroke, a 5's bar, a stroke cut by a rule.

    Pieces at least half as tall as the digits are digits or large parts of one; smaller pieces join the nearest
    of those within reach when together they still fit one digit's box, and are dropped otherwise (what is left
    of a grid's crossings, specks). Then large pieces that overlap left to right by a third of the narrower and
    fit one digit's width together are one digit; digits side by side only touch or overlap a little.
    """
    seeds = [group for group in groups if group.height >= PAGE_SEED * digit_height]
    reach, tallest, widest = PAGE_REACH * digit_height, 1.4 * digit_height, 1.1 * digit_height
    for piece in (group for group in groups if group.height < PAGE_SEED * digit_height):
        fits = [
            (_gap(piece, seed), index)
            for index, seed in enumerate(seeds)
            if _gap(piece, seed) <= reach
            and max(piece.y1, seed.y1) - min(piece.y0, seed.y0) <= tallest
            and max(piece.x1, seed.x1) - min(piece.x0, seed.x0) <= widest
        ]
        if fits:
            seeds[min(fits)[1]].absorb(piece)
    digits: list[Group] = []
    for seed in sorted(seeds, key=lambda group: group.x0):
        partner = next(
            (
                digit
                for digit in digits
                if min(digit.x1, seed.x1) - max(digit.x0, seed.x0) >= min(digit.width, seed.width) / 3
                and max(digit.x1, seed.x1) - min(digit.x0, seed.x0) <= widest
                and max(digit.y1, seed.y1) - min(digit.y0, seed.y0) <= tallest
            ),
            None,
        )
        if partner is None:
            digits.append(Group(list(seed.labels), seed.x0, seed.y0, seed.x1, seed.y1, seed.area))
        else:
            partner.absorb(seed)
    return digits


def _gap(first: Group, second: Group) -> float:
    """The distance between two boxes (0 when they overlap)."""
    dx = max(0, max(first.x0, second.x0) - min(first.x1, second.x1))
    dy = max(0, max(first.y0, second.y0) - min(first.y1, second.y1))
    return float(np.hypot(dx, dy))


def _on_printed_lines(ink: InkMap, group: Group) -> bool:
    """A thin piece lying along printed lines: what their subtraction left of them, not a 1 written in a square."""
    if ink.printed is None or min(group.width, group.height) > 0.3 * max(group.width, group.height):
        return False
    window = (slice(group.y0, group.y1), slice(group.x0, group.x1))
    own = ink.mask[window] > 0
    return bool(np.count_nonzero(ink.printed[window] & own) >= ON_PRINTED_SHARE * max(1, np.count_nonzero(own)))


def _is_line_like(group: Group) -> bool:
    """Thin and straight: the ink fills little more than a line of its length would (a 1 fills a little more)."""
    length = max(group.width, group.height)
    return length >= 3 * min(group.width, group.height) and group.area < LINE_LIKE_FILL * length * length


def _digit_height(groups: list[Group]) -> int:
    """The height digits have here: the median height of the pieces with the most ink, line-like pieces aside."""
    solid = [group for group in groups if not _is_line_like(group)] or groups
    largest = sorted(solid, key=lambda group: -group.area)[:7]
    return int(np.median([group.height for group in largest]))


def _reading_order(groups: list[Group]) -> list[Group]:
    """Rows first (groups whose vertical spans overlap by half share a row), then left to right."""
    rows: list[list[Group]] = []
    for group in sorted(groups, key=lambda group: (group.y0 + group.y1) / 2):
        if rows and _shares_row(rows[-1], group):
            rows[-1].append(group)
        else:
            rows.append([group])
    return [group for row in rows for group in sorted(row, key=lambda group: group.x0)]


def _shares_row(row: list[Group], group: Group) -> bool:
    """`group` overlaps the row's vertical span by half of the shorter of the two."""
    top, bottom = min(g.y0 for g in row), max(g.y1 for g in row)
    return min(bottom, group.y1) - max(top, group.y0) >= 0.5 * min(group.height, bottom - top)


def row_breaks(groups: list[Group]) -> list[int]:
    """Indices of groups in reading order that start a new row (after the first): a group that does not share the
    row of those before it. A second row may start further right than the first (an indented line, one digit)."""
    breaks, row = [], groups[:1]
    for index in range(1, len(groups)):
        if _shares_row(row, groups[index]):
            row.append(groups[index])
        else:
            breaks.append(index)
            row = [groups[index]]
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
    # The soft, below-threshold edge of a stroke lies just outside its thresholded box (a page's mask holds it).
    margin = 0 if ink.lines_removed else 2
    height, width = labels.shape
    window = (
        slice(max(0, group.y0 - margin), min(height, group.y1 + margin)),
        slice(max(0, group.x0 - margin), min(width, group.x1 + margin)),
    )
    region = labels[window]
    own = np.zeros(region.shape, np.uint8)
    for label in group.labels:  # a digit has a handful of pieces; this beats np.isin, which sorts
        own[region == label] = 1
    if ink.lines_removed:
        # The mask holds the whole stroke, faint parts included, and the blur's halo around it. The darkness shapes
        # the stroke; scaled so that its typical level is full ink, a fading pencil line keeps its faint parts.
        inside = own & (ink.mask[window] > 0)
        darkness = ink.ink[window] * inside
        if not inside.any():
            return darkness
        (typical,) = _quantiles(darkness[inside > 0], (CROP_TYPICAL,))
        return np.minimum(darkness * np.float32(1.0 / max(typical, 1e-6)), np.float32(1.0))
    own = cv2.dilate(own, np.ones((3, 3), np.uint8))  # keep the soft edge pixels around the thresholded stroke
    return ink.ink[window] * own


def split_candidates(ink: InkMap, labels: np.ndarray, group: Group) -> tuple[Group, Group] | None:
    """Two digits written touching, as one shape: its left and right parts, cut at the column with the least ink
    in the middle half; None for shapes narrower than SPLIT_ASPECT of their height. Only the recognizer can tell
    whether the shape is one wide digit or two, so it reads both ways.
    """
    if group.width < SPLIT_ASPECT * group.height or group.width < 6:
        return None
    own = crop_group(ink, labels, group) > 0  # (h, w) bool, the group's box
    columns = own.sum(axis=0)
    start, stop = group.width // 4, group.width - group.width // 4
    emptiest = np.flatnonzero(columns[start:stop] == columns[start:stop].min())
    cut = start + int(emptiest[len(emptiest) // 2])  # the middle one of the emptiest columns
    parts = []
    for x0, x1 in ((0, cut), (cut, group.width)):
        rows = np.flatnonzero(own[:, x0:x1].any(axis=1))
        if len(rows) == 0:
            return None
        area = int(own[:, x0:x1].sum())
        parts.append(Group(list(group.labels), group.x0 + x0, group.y0 + int(rows[0]), group.x0 + x1, group.y0 + int(rows[-1]) + 1, area))
    return parts[0], parts[1]


def caller_box(ink: InkMap, group: Group) -> Box:
    """A group's box in the caller's pixel coordinates (undoing the shrink of large images)."""
    factor = 1.0 / ink.scale
    return Box(round(group.x0 * factor), round(group.y0 * factor), round(group.width * factor), round(group.height * factor))


def _union(groups: list[Group]) -> Group:
    union = Group([], groups[0].x0, groups[0].y0, groups[0].x1, groups[0].y1, 0)
    for group in groups:
        union.absorb(group)
    return union

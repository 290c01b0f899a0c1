"""Ink on a photographed page: darkness against the paper, printed lines subtracted, faint pencil kept, a thumb masked."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from core.preprocess import NOISY_FRAGMENTS, InkMap, _label, _paper_is_light, _quantiles, _unit_range, to_gray
from core.printed import printed_lines
from core.sheet import along_sheet_edge, bends, detached_from_edges, sheet_seen_whole

PAGE_SIDE = 320  # photographed pages are searched for ink at this size (half a 640x480 webcam frame)
BRIDGE = 7  # pixels: a stroke cut by a subtracted printed line is joined across it up to this far
# On a photographed page, ink is this much darker than the paper around it (fractions of the paper's brightness)
# or more: clear ink seeds a stroke, weak ink extends it (faint pencil, a fading ballpoint).
PAGE_STRONG_INK = 0.05
PAGE_WEAK_INK = 0.025
STRONG_SPREADS, WEAK_SPREADS = 6.0, 3.0  # clear ink is this many of the paper's standard deviations above it, weak ink this many
# Beside digits already found, in their rows, fainter ink is looked for: this many deviations above the paper, in
# pieces at least FAINT_NEAR_HEIGHT of the digits' height tall or long (a 5's flat bar) and on average
# FAINT_NEAR_DARKNESS of their darkness (the same pen wrote them), within FAINT_NEAR_REACH digit heights to either
# side and FAINT_NEAR_ROW above and below.
FAINT_SPREADS = 2.5
FAINT_NEAR_HEIGHT = 0.12
FAINT_NEAR_DARKNESS = 0.4
FAINT_NEAR_REACH = 1.5
FAINT_NEAR_ROW = 0.3
# Ink is also darker than this share of the darkest ink in a disc NEARBY_INK pixels wide around it (a stroke's blur and the lines
# it touches are fainter than it by more).
RELATIVE_INK = 0.3
NEARBY_INK = 7


# A piece of weak ink with no clear ink is a faint stroke when it covers this many pixels, bends (the lesser spread
# of its pixels is at least this share of the greater: 0 for a straight line, 1 for a round blob) and is a line 1-2
# pixels wide (at most this share of it survives a 3x3 erosion).
FAINT_STROKE_AREA = 30
FAINT_STROKE_BEND = 0.02
FAINT_STROKE_CORE = 0.1

_THIN_LINES = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))  # a top-hat of this side keeps lines up to 4 pixels wide
_THUMB_REACH = np.ones((7, 7), np.uint8)  # pixels around a thumb where its outline and shadow lie


def page_ink_map(image: np.ndarray) -> InkMap:
    """Find handwriting on a photographed page: ink is what is darker than the paper around it.

    (H, W[, C]) -> InkMap at up to PAGE_SIDE pixels. The grey image is divided by a local estimate of the paper (a
    grey closing wider than any pen stroke), which cancels shadows, vignetting and tinted paper and leaves the desk
    level with itself. Printed lines (squares, rules, a margin, the sheet's edge) are found as families of long
    straight lines and their darkness is subtracted, so a stroke crossing or following one keeps its own. Faint
    pencil is kept by hysteresis: weak ink joined to clear ink. A thumb holding the sheet is masked by its colour, and
    digits joined to broad ink at the frame's edge (the desk, a vignetted rim) are cut free of it. A sheet seen whole,
    with a darker world around it, is read alone (`sheet.sheet_seen_whole`), so its lines and edges are a page's.
    """
    if not isinstance(image, np.ndarray) or image.ndim < 2 or min(image.shape[:2]) < 1:
        to_gray(image)  # raises the ValueError that says what is wrong with it
    seen = sheet_seen_whole(image)
    if seen is None:
        return _page_ink_map(image)
    # A sheet seen whole, the world around it: read as if it filled the frame, without its outline.
    x0, y0, x1, y1 = seen.box
    ink = _page_ink_map(np.ascontiguousarray(image[y0:y1, x0:x1]))
    outline = along_sheet_edge(seen, ink.pieces)
    if outline is not None:
        mask = cv2.subtract(ink.mask, outline)
        ink = replace(ink, mask=mask, pieces=_label(mask))
    return replace(ink, origin=(x0, y0))


def _page_ink_map(image: np.ndarray) -> InkMap:
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
    drawn = _drawn(levels)
    # NOTE: a grey drawing (the Draw canvas) has no paper to estimate, no noise and no printed lines: its ink is
    # what is darker than its one background level, and the page's steps cost the server most of a stroke's read.
    # A camera's frame is never exactly grey, even where bright paper clips to one level.
    find_ink = _drawing_mask if drawn and _grey(image) else _photo_mask
    mask, darkness, printed, faint = find_ink(levels)
    pieces = _label(mask)
    denoised = np.count_nonzero(pieces[1][1:, cv2.CC_STAT_AREA] <= 12) > NOISY_FRAGMENTS  # specks, not strokes
    if denoised:
        # Salt-and-pepper noise shatters the mask into specks; a 3x3 median removes it (pen lines are thicker here).
        mask, darkness, printed, faint = find_ink(cv2.medianBlur(levels, 3))
        pieces = _label(mask)
    if colour is not None:
        # A thumb holding the sheet: its outline and shading are darker than the paper, but no pen writes in skin.
        # What is left of its outline and shadow touches it; digits are written clear of the thumb.
        skin = _skin(colour)
        if skin.any():
            mask = cv2.subtract(mask, skin)
            near_skin = cv2.dilate(skin, _THUMB_REACH)
            mask = cv2.subtract(mask, _grown_from(mask, cv2.bitwise_and(mask, near_skin)))
            pieces = _label(mask)
            if faint is not None:
                faint = cv2.subtract(cv2.subtract(faint, skin), _grown_from(faint, cv2.bitwise_and(faint, near_skin)))
    if colour is not None and not drawn:
        # Nothing touching the frame's edge is read: a digit written where the desk's or the rim's ink reaches it is cut free.
        detached = detached_from_edges(mask, pieces)
        if detached is not None:
            mask, pieces = detached, _label(detached)
    return InkMap(
        ink=np.minimum(darkness, 1.0),
        mask=mask,
        scale=scale,
        dark_ink=dark_ink,
        pieces=pieces,
        denoised=denoised,
        lines_removed=True,
        printed=printed > 0,
        photograph=colour is not None and not drawn,
        faint=faint,
    )


def _photo_mask(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A photographed page's ink: darkness against the paper around it, printed lines subtracted (`_page_mask`)."""
    return _page_mask(*_darkness(levels))


def _drawing_mask(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
    """A drawing's ink: darkness against its one background level, by the page's thresholds (no noise raises them
    here), with no printed lines and no faint ink.  (h, w) uint8 -> as `_page_mask`."""
    background = max(1, int(np.argmax(cv2.calcHist([levels], [0], None, [256], [0, 256]))))
    darkness = cv2.max(cv2.GaussianBlur(1.0 - levels.astype(np.float32) / background, (0, 0), 0.7), 0.0)
    _, mask = _hysteresis(darkness, np.full_like(darkness, PAGE_WEAK_INK), np.full_like(darkness, PAGE_STRONG_INK))
    return mask, darkness, np.zeros_like(darkness), None


def _hysteresis(
    darkness: np.ndarray, weak: np.ndarray, strong: np.ndarray, not_blur: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Ink by hysteresis: darkness above `weak` (and not a dark stroke's blur) that joins darkness above `strong`.
    (h, w) float32 each, `not_blur` from `_not_blur` when the caller has it -> (the weak candidates, the ink), uint8 0/255 each."""
    not_blur = _not_blur(darkness) if not_blur is None else not_blur
    candidates = cv2.bitwise_and(cv2.compare(darkness, weak, cv2.CMP_GT), not_blur)
    return candidates, _grown_from(candidates, cv2.bitwise_and(cv2.compare(darkness, strong, cv2.CMP_GT), candidates))


def _not_blur(darkness: np.ndarray) -> np.ndarray:
    """Where darkness can be ink: darker than RELATIVE_INK of the darkest ink nearby.  (h, w) float32 -> uint8 0/255.

    Beside a dark stroke, faint darkness is its blur or what is left of a line it touches, not more ink: it would
    join a marker's digit to its neighbour or to the grid.
    """
    darkest_near = cv2.dilate(darkness, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (NEARBY_INK, NEARBY_INK)))
    return cv2.compare(darkness, np.float32(RELATIVE_INK) * darkest_near, cv2.CMP_GT)


def _grey(image: np.ndarray) -> bool:
    """No pixel has any colour: one channel, or red, green and blue equal everywhere."""
    if image.ndim == 2 or image.shape[2] < 3:
        return True
    return bool(np.array_equal(image[:, :, 0], image[:, :, 1]) and np.array_equal(image[:, :, 1], image[:, :, 2]))


def _darkness(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """What the ink takes away from the paper around it (0 on paper, 1 for black); how much the paper's noise is
    magnified there (dividing by a paper in shadow magnifies its noise as much as its ink); and the darkness that
    is clearly ink, that may extend it, and that may be a printed line, from the paper's noise, measured before
    negative values are clipped.
    (h, w) uint8 -> ((h, w) float32 darkness >= 0, (h, w) float32 noise factor >= 1, `_ink_levels`)."""
    paper = cv2.max(_paper_level(levels), 1)
    darkness = cv2.GaussianBlur(1.0 - cv2.divide(levels, paper, scale=1.0, dtype=cv2.CV_32F), (0, 0), 0.7)
    (usual,) = _quantiles(paper[::4, ::4], (0.5,))
    magnified = cv2.min(cv2.max(cv2.divide(np.float32(usual), paper.astype(np.float32)), 1.0), 4.0)
    return cv2.max(darkness, 0.0), magnified, _ink_levels(darkness)


def _page_mask(
    darkness: np.ndarray, magnified: np.ndarray, levels: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ink of a page's darkness map, printed lines subtracted.
    -> (mask (h, w) uint8 0/255, darkness without lines, the printed lines' darkness (h, w) float32, the fainter
    darkness left out of the mask (h, w) uint8 0/255)."""
    strong, weak, line_weak, _ = levels
    strong_map, weak_map = magnified * np.float32(strong), magnified * np.float32(weak)  # higher in shadow
    # Printed lines are looked for above the paper's noise measured on its light side, which they do not widen.
    weak_mask = cv2.compare(darkness, magnified * np.float32(line_weak), cv2.CMP_GT)
    # Printed lines are subtracted, not erased: a stroke that crosses or follows one keeps its own darkness.
    # A printed line is darker along its length than the paper is, by half the weakest ink's margin at least.
    (paper_middle,) = _quantiles(darkness[::4, ::4], (0.5,))
    # A fine, dark grid covers so much of a page that it raises the paper's measured level and noise to its own, and
    # many of its lines fall under `line_weak`. Lines are also looked for in what stands out of its surroundings
    # within a few pixels (a top-hat, where a grid raises nothing: its squares are wider than the top-hat).
    standing_out = cv2.morphologyEx(darkness, cv2.MORPH_TOPHAT, _THIN_LINES)
    thin = cv2.compare(standing_out, magnified * np.float32(_ink_levels(standing_out)[2]), cv2.CMP_GT)
    printed = printed_lines(weak_mask, darkness, 0.5 * (paper_middle + line_weak), also_thin=thin)
    darkness = cv2.max(cv2.subtract(darkness, printed), 0.0)
    # Squares and rules cover up to a third of a page: measured with them, the paper's noise looks several times
    # larger than it is and faint pencil falls below the thresholds. Measure it between the lines.
    paper = darkness[::4, ::4][printed[::4, ::4] == 0] if printed.any() else darkness[::4, ::4]
    between_lines = _ink_levels(paper, sampled=True)  # the faint level is always measured here, after subtraction
    if printed.any():
        strong, weak, _, _ = between_lines
        strong_map, weak_map = magnified * np.float32(strong), magnified * np.float32(weak)
    not_blur = _not_blur(darkness)
    candidates, mask = _hysteresis(darkness, weak_map, strong_map, not_blur)
    # Faint pencil can stay under the clear-ink level along its whole length. Above the weak level, the paper's noise
    # leaves specks and blotches and the subtraction straight remnants of lines, but not long, bent, thin strokes.
    mask = cv2.bitwise_or(mask, _faint_strokes(cv2.bitwise_and(candidates, cv2.bitwise_not(mask)), printed))
    if printed.any():
        # A stroke as faint as the lines it crosses is cut where they are subtracted: join its ends across them.
        bridge = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (BRIDGE, BRIDGE))
        joined = cv2.bitwise_and(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, bridge), cv2.compare(printed, 0.0, cv2.CMP_GT))
        nearby = cv2.dilate(darkness, bridge)
        # Only where the line is at least half as dark as the stroke: a darker stroke survived the subtraction.
        joined = cv2.bitwise_and(joined, cv2.bitwise_not(mask))
        joined = cv2.bitwise_and(joined, cv2.compare(printed, 0.5 * nearby, cv2.CMP_GE))
        darkness = np.where(joined > 0, nearby, darkness)
        mask = cv2.bitwise_or(mask, joined)
    faint = cv2.bitwise_and(cv2.compare(darkness, np.full_like(darkness, between_lines[3]), cv2.CMP_GT), not_blur)
    return mask, darkness, printed, cv2.bitwise_and(faint, cv2.bitwise_not(mask))


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


def _ink_levels(darkness: np.ndarray, sampled: bool = False) -> tuple[float, float, float, float]:
    """Darkness that is clearly ink, the fainter darkness that may extend it, the darkness above which printed
    lines are looked for, and the faintest darkness that is ink beside digits already found: all above the paper's noise. With `sampled`, `darkness` is already the sample of pixels to measure (any shape); otherwise every fourth."""
    sample = darkness if sampled else darkness[::4, ::4]
    if sample.size == 0:
        return PAGE_STRONG_INK, PAGE_WEAK_INK, PAGE_WEAK_INK, PAGE_WEAK_INK
    lower, middle = _quantiles(sample, (0.25, 0.5))
    (spread,) = _quantiles(np.abs(sample - middle), (0.5,))
    noise = 1.4826 * spread
    # Ink and printed lines are darker than the paper and can cover a third of a page, which widens the spread
    # until a grid as faint as pencil falls under the thresholds. The light side alone is the paper's: lines are
    # looked for above it. (The ink keeps the wider estimate: below it, faint pencil on plain paper drowns in noise.)
    light_side = min(noise, (middle - lower) / 0.6745)
    return (
        max(PAGE_STRONG_INK, middle + STRONG_SPREADS * noise),
        max(PAGE_WEAK_INK, middle + WEAK_SPREADS * noise),
        max(PAGE_WEAK_INK, middle + WEAK_SPREADS * light_side),
        max(PAGE_WEAK_INK, middle + FAINT_SPREADS * noise),
    )


def with_faint_ink_near(ink: InkMap, boxes: list[tuple[int, int, int, int]], digit_height: int) -> InkMap | None:
    """The ink map with the faint pieces beside the digits found added to its mask, or None when there are none.

    A digit written as faintly as its neighbours can stay under the clear-ink level along its whole length (pencil,
    a fading ballpoint) where they did not. Beside them, in their row, a fainter piece is taken for ink when it is
    tall or long enough to be part of a digit and about as dark as they are: the same pen wrote it. Noise this faint
    is everywhere on the page, which is why it is not looked for elsewhere.
    `boxes`: (x0, y0, x1, y1) of the digits found, at working resolution.
    """
    if ink.faint is None or not boxes:
        return None
    reach_x, reach_y = round(FAINT_NEAR_REACH * digit_height), round(FAINT_NEAR_ROW * digit_height)
    # Everything is done inside the rectangle that holds the rows (a webcam frame's digits are a small part of it).
    height, width = ink.mask.shape
    left, top = max(0, min(box[0] for box in boxes) - reach_x), max(0, min(box[1] for box in boxes) - reach_y)
    right, bottom = min(width, max(box[2] for box in boxes) + reach_x), min(height, max(box[3] for box in boxes) + reach_y)
    window = (slice(top, bottom), slice(left, right))
    band = np.zeros((bottom - top, right - left), np.uint8)
    for x0, y0, x1, y1 in boxes:
        band[max(0, y0 - reach_y - top) : y1 + reach_y - top, max(0, x0 - reach_x - left) : x1 + reach_x - left] = 255
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.bitwise_and(ink.faint[window], band), connectivity=8)
    darkness = ink.ink[window]
    mean_darkness = np.bincount(labels.ravel(), darkness.ravel().astype(np.float64), count) / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    (typical,) = _quantiles(darkness[(ink.mask[window] > 0) & (band > 0)], (0.5,))
    keep = (np.maximum(stats[:, cv2.CC_STAT_HEIGHT], stats[:, cv2.CC_STAT_WIDTH]) >= FAINT_NEAR_HEIGHT * digit_height) & (
        mean_darkness >= FAINT_NEAR_DARKNESS * typical
    )
    keep[0] = False
    if not keep.any():
        return None
    mask = ink.mask.copy()
    mask[window][keep[labels]] = 255
    return replace(ink, mask=mask, pieces=_label(mask), faint=None)


def _faint_strokes(weak: np.ndarray, printed: np.ndarray) -> np.ndarray:
    """The pieces of weak ink that are faint strokes: large, bent, thin and mostly off the printed lines (a straight
    piece is what the subtraction left of a line; specks and blotches are noise).  uint8 0/255, (h, w) float32 -> uint8 0/255."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak, connectivity=8)
    large = stats[:, cv2.CC_STAT_AREA] >= FAINT_STROKE_AREA
    large[0] = False
    if not large.any():
        return np.zeros_like(weak)
    ys, xs = np.nonzero(weak)
    owner = labels[ys, xs]
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    bend = bends(xs, ys, owner, count)
    # A pen's line is thin: a 3x3 erosion leaves almost nothing of it, but leaves the core of a blotch of noise (in a
    # shadow, where the paper's noise is magnified) or of the paper's grain.
    cores = np.bincount(labels[cv2.erode(weak, np.ones((3, 3), np.uint8)) > 0], minlength=count) / area
    keep = large & (bend >= FAINT_STROKE_BEND) & (cores <= FAINT_STROKE_CORE)
    keep &= np.bincount(owner, printed[ys, xs] > 0, count) < 0.5 * area
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def _grown_from(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pieces of `candidates` that contain a seed pixel (hysteresis).  uint8 0/255 masks -> uint8 0/255."""
    count, labels = cv2.connectedComponents(candidates, connectivity=8)
    keep = np.zeros(count, np.uint8)
    keep[labels[seeds > 0]] = 255
    keep[0] = 0
    return keep[labels]

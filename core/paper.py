"""Ink on a photographed page: darkness against the paper, printed lines subtracted, faint pencil kept, a thumb masked."""

from __future__ import annotations

import cv2
import numpy as np

from core.preprocess import NOISY_FRAGMENTS, InkMap, _label, _paper_is_light, _quantiles, _unit_range, to_gray

PAGE_SIDE = 320  # photographed pages are searched for ink at this size (half a 640x480 webcam frame)
MAX_LINE_WIDTH = 9  # pixels: the widest band searched for a line's pixels around its centre
MAX_PRINTED_WIDTH = 6  # pixels: printed lines are no wider at any distance a camera can read digits from
LINE_VOTES = 0.35  # a printed line has pixels along at least this share of the frame's longer side
LINE_RELATIVE_VOTES = 0.4  # and at least this share of the strongest line's pixels
MIN_FAMILY = 3  # printed lines come at least three abreast
WIDTH_SAMPLE = 5  # a family's print width is the median width of its strongest lines
REFINE_REACH = 2  # pixels: how far a Hough line (found at half size, in 1-degree steps) may sit from the printed one at either end
BRIDGE = 7  # pixels: a stroke cut by a subtracted printed line is joined across it up to this far
PROFILE_REACH = MAX_LINE_WIDTH // 2  # pixels: a line's darkness is measured this far on either side of its centre
PROFILE_OFFSETS = np.arange(-PROFILE_REACH, PROFILE_REACH + 1, dtype=np.float64)
LINE_FAN = 20  # degrees: how far perspective turns a sheet's lines from each other across a frame
# On a photographed page, ink is this much darker than the paper around it (fractions of the paper's brightness)
# or more: clear ink seeds a stroke, weak ink extends it (faint pencil, a fading ballpoint).
PAGE_STRONG_INK = 0.05
PAGE_WEAK_INK = 0.025
STRONG_SPREADS, WEAK_SPREADS = 6.0, 3.0  # clear ink is this many of the paper's standard deviations above it, weak ink this many
# Ink is also darker than this share of the darkest ink in a disc NEARBY_INK pixels wide around it (a stroke's blur and the lines
# it touches are fainter than it by more).
RELATIVE_INK = 0.3
NEARBY_INK = 7


_THIN_LINES = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))  # a top-hat of this side keeps lines up to 4 pixels wide
_THUMB_REACH = np.ones((7, 7), np.uint8)  # pixels around a thumb where its outline and shadow lie


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
        # What is left of its outline and shadow touches it; digits are written clear of the thumb.
        skin = _skin(colour)
        if skin.any():
            mask = cv2.subtract(mask, skin)
            mask = cv2.subtract(mask, _grown_from(mask, cv2.bitwise_and(mask, cv2.dilate(skin, _THUMB_REACH))))
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


def _darkness(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """What the ink takes away from the paper around it (0 on paper, 1 for black); how much the paper's noise is
    magnified there (dividing by a paper in shadow magnifies its noise as much as its ink); and the darkness that
    is clearly ink, that may extend it, and that may be a printed line, from the paper's noise, measured before
    negative values are clipped.
    (h, w) uint8 -> ((h, w) float32 darkness >= 0, (h, w) float32 noise factor >= 1, (strong, weak, line))."""
    paper = cv2.max(_paper_level(levels), 1)
    darkness = cv2.GaussianBlur(1.0 - cv2.divide(levels, paper, scale=1.0, dtype=cv2.CV_32F), (0, 0), 0.7)
    (usual,) = _quantiles(paper[::4, ::4], (0.5,))
    magnified = cv2.min(cv2.max(cv2.divide(np.float32(usual), paper.astype(np.float32)), 1.0), 4.0)
    return cv2.max(darkness, 0.0), magnified, _ink_levels(darkness)


def _page_mask(
    darkness: np.ndarray, magnified: np.ndarray, levels: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ink of a page's darkness map, printed lines subtracted.
    -> (mask (h, w) uint8 0/255, darkness without lines, the printed lines' darkness (h, w) float32)."""
    strong, weak, line_weak = levels
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
    printed = _printed_lines(weak_mask, darkness, 0.5 * (paper_middle + line_weak), also_thin=thin)
    darkness = cv2.max(cv2.subtract(darkness, printed), 0.0)
    if printed.any():
        # Squares and rules cover up to a third of a page: measured with them, the paper's noise looks several
        # times larger than it is and faint pencil falls below the thresholds. Measure it between the lines.
        strong, weak, _ = _ink_levels(darkness[::4, ::4][printed[::4, ::4] == 0], sampled=True)
        strong_map, weak_map = magnified * np.float32(strong), magnified * np.float32(weak)
    candidates = cv2.compare(darkness, weak_map, cv2.CMP_GT)
    # Beside a dark stroke, faint darkness is its blur or what is left of a line it touches, not more ink: it
    # would join a marker's digit to its neighbour or to the grid. Ink is judged against the darkest ink nearby.
    darkest_near = cv2.dilate(darkness, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (NEARBY_INK, NEARBY_INK)))
    candidates = cv2.bitwise_and(candidates, cv2.compare(darkness, np.float32(RELATIVE_INK) * darkest_near, cv2.CMP_GT))
    mask = _grown_from(candidates, cv2.bitwise_and(cv2.compare(darkness, strong_map, cv2.CMP_GT), candidates))
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
    return mask, darkness, printed


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


def _ink_levels(darkness: np.ndarray, sampled: bool = False) -> tuple[float, float, float]:
    """Darkness that is clearly ink, the fainter darkness that may extend it, and the darkness above which printed
    lines are looked for: all above the paper's noise. With `sampled`, `darkness` is already the sample of pixels to measure (any shape); otherwise every fourth."""
    sample = darkness if sampled else darkness[::4, ::4]
    if sample.size == 0:
        return PAGE_STRONG_INK, PAGE_WEAK_INK, PAGE_WEAK_INK
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
    )


def _grown_from(candidates: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pieces of `candidates` that contain a seed pixel (hysteresis).  uint8 0/255 masks -> uint8 0/255."""
    count, labels = cv2.connectedComponents(candidates, connectivity=8)
    keep = np.zeros(count, np.uint8)
    keep[labels[seeds > 0]] = 255
    keep[0] = 0
    return keep[labels]


def _printed_lines(mask: np.ndarray, darkness: np.ndarray, faintest: float, also_thin: np.ndarray | None = None) -> np.ndarray:
    """How dark printed rules, grid lines and the sheet's edge make each pixel: lines straight across the frame.

    A standard Hough transform finds them even where digits or shadows break them; each is then nudged onto the
    darkest nearby line (the transform's 1-degree steps drift by pixels across a frame), and drawn as wide as the
    lines are printed (all lines of a sheet alike), with its own darkness across it (the median along its length,
    which the few digits it crosses do not move). Subtracting this leaves the ink that crosses or follows a line.
    Lines are looked for, and their width measured, on `mask` and, if given, `also_thin` (thin ridges) together.
    (h, w) uint8 0/255 mask, (h, w) float32 darkness, the faintest ink -> (h, w) float32 darkness of the lines (0 elsewhere).
    """
    printed = np.zeros_like(darkness)
    searched = mask if also_thin is None else cv2.bitwise_or(mask, also_thin)  # where lines are looked for
    longest_digit = 0.3 * max(mask.shape)
    _, _, stats, _ = cv2.connectedComponentsWithStats(searched, connectivity=8)
    if not len(stats) > 1 or max(stats[1:, cv2.CC_STAT_WIDTH].max(), stats[1:, cv2.CC_STAT_HEIGHT].max()) < longest_digit:
        return printed
    # NOTE: the transform runs on the mask halved by max-pooling (a 1-pixel line survives it), four times cheaper;
    # the refinement below puts each line back on its pixels at full size.
    half = cv2.dilate(searched, np.ones((2, 2), np.uint8))[::2, ::2]
    found = cv2.HoughLinesWithAccumulator(half, 1, np.pi / 180, int(LINE_VOTES * max(half.shape)))
    if found is None:
        return printed
    distinct = _distinct_lines(found.reshape(-1, 3), half.shape)
    # A printed line is dark along its whole length. A line the transform draws through a row of digits (thick
    # marker strokes line up) is dark only where it crosses them, and its median is the paper's.
    refined = [_refined(darkness, 2 * rho, theta) for rho, theta, _ in distinct]
    dark = [index for index, (_, profile) in enumerate(refined) if profile[PROFILE_REACH] > faintest]
    # Only then are lines that cross a stronger one of their family dropped: a line through a row of digits,
    # discarded above, would otherwise take real rules with it.
    lines = [(*refined[dark[at]], distinct[dark[at]][2]) for at in _apart([distinct[index] for index in dark], half.shape)]
    # Rules and squares come in families of parallel lines; a lone straight stroke (a tall 1) is handwriting.
    sizes = np.bincount([family for _, _, family in lines], minlength=2)
    lines = [line for line in lines if sizes[line[2]] >= MIN_FAMILY]
    if not lines:
        return printed
    # Each direction is drawn apart and the two added: where lines cross, the paper bears both inks.
    for family in (0, 1):
        members = [line for line in lines if line[2] == family]
        if not members:
            continue
        # How wide the family is printed: the median over its strongest lines of the mask's pixels near a line per
        # pixel of the line on the mask. A band as wide as the search reaches is no line: the desk beyond a sheet's
        # edge, or the dark rim of a vignetted frame. Such bands are left out, and the family's print (a margin
        # beside the sheet's two edges) is still subtracted. (Handwriting along a line widens it, but less.)
        widths = [_line_width(searched, points) for points, *_ in members[: 2 * WIDTH_SAMPLE]]
        widths += [0.0] * (len(members) - len(widths))
        members = [line for line, measured in zip(members, widths, strict=True) if measured < MAX_LINE_WIDTH - 0.5]
        lines_widths = [measured for measured in widths[: 2 * WIDTH_SAMPLE] if 0.0 < measured < MAX_LINE_WIDTH - 0.5]
        if not members or not lines_widths:
            continue
        width = round(float(np.median(lines_widths[:WIDTH_SAMPLE])))
        if width > MAX_PRINTED_WIDTH:
            continue  # wider than print: a marker's straight strokes, not a sheet's lines
        drawn = np.zeros_like(darkness)
        for points, profile, _ in members:
            _draw_profile(drawn, points, np.where(profile > faintest, profile, 0.0), width)  # beyond its edges, paper
        printed += drawn
    return printed


def _line_width(mask: np.ndarray, points: np.ndarray) -> float:
    """The mask's pixels within MAX_LINE_WIDTH of a line, per pixel of the line that lies on the mask."""
    centre = np.zeros_like(mask)
    cv2.polylines(centre, [points], False, 255, 1)
    near = cv2.bitwise_and(cv2.dilate(centre, np.ones((MAX_LINE_WIDTH, MAX_LINE_WIDTH), np.uint8)), mask)
    return cv2.countNonZero(near) / max(1, cv2.countNonZero(cv2.bitwise_and(centre, mask)))


def _refined(darkness: np.ndarray, rho: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """A Hough line moved (by up to REFINE_REACH pixels at either end of the frame) onto the darkest line nearby, as the two
    ends of a polyline, and its darkness across it: the median along it at each of PROFILE_OFFSETS from where it is
    drawn (the few digits it crosses do not move a median).  -> ((2, 1, 2) int32 points, (offsets,) float32)."""
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
        return np.zeros((2, 1, 2), np.int32), np.zeros(len(PROFILE_OFFSETS), np.float32)
    # Each end's offset is chosen on its own third of the line: the darkest of the parallel positions there.
    offsets = np.arange(-REFINE_REACH, REFINE_REACH + 1)
    third = len(along) // 3
    ends = []
    for part, end in ((along[:third], along[0]), (along[-third:], along[-1])):
        points = part[None, :, :] + offsets[:, None, None] * normal[None, None, :]  # (offsets, m, 2)
        sums = darkness[np.rint(points[..., 1]).astype(int), np.rint(points[..., 0]).astype(int)].sum(axis=1)
        ends.append(end + offsets[int(sums.argmax())] * normal)
    points = np.rint(np.array(ends)).astype(np.int32).reshape(2, 1, 2)
    fraction = np.linspace(0.0, 1.0, len(along))[:, None]
    placed = points[0, 0] * (1 - fraction) + points[1, 0] * fraction  # (n, 2) x, y along the line as it is drawn
    across = _normal(points)
    shifted = placed[None, :, :] + PROFILE_OFFSETS[:, None, None] * across[None, None, :]  # (offsets, n, 2)
    samples = darkness[np.rint(shifted[..., 1]).astype(int).clip(0, height - 1), np.rint(shifted[..., 0]).astype(int).clip(0, width - 1)]
    return points, np.median(samples, axis=1).astype(np.float32)


def _normal(points: np.ndarray) -> np.ndarray:
    """The unit normal of the line through a polyline's two ends.  (2, 1, 2) int32 -> (2,) x, y."""
    along = (points[1, 0] - points[0, 0]).astype(np.float64)
    along /= max(float(np.hypot(*along)), 1e-9)
    return np.array([-along[1], along[0]])


def _draw_profile(drawn: np.ndarray, points: np.ndarray, profile: np.ndarray, width: int) -> None:
    """Draw a line `width` + 1 pixels wide into `drawn` with its own values across it (`profile`, at
    PROFILE_OFFSETS from its centre), keeping the larger where lines meet. A line fades at its edges; drawn as
    dark as its centre, it would take a faint stroke beside it away with it."""
    # Only the band's bounding box is drawn in: a sheet's lines run close to the frame's rows or columns.
    reach = width // 2 + 2
    (x0, y0), (x1, y1) = points[:, 0].min(axis=0) - reach, points[:, 0].max(axis=0) + reach + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(drawn.shape[1], x1), min(drawn.shape[0], y1)
    band = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.polylines(band, [points - np.array([x0, y0], np.int32)], False, 255, width + 1)
    ys, xs = np.nonzero(band)
    distance = (np.stack([xs + x0, ys + y0], axis=1) - points[0, 0]) @ _normal(points)
    values = np.interp(distance, PROFILE_OFFSETS, profile).astype(np.float32)
    ys, xs = ys + y0, xs + x0
    drawn[ys, xs] = np.maximum(drawn[ys, xs], values)


def _apart(lines: list[tuple[float, float, int]], shape: tuple[int, ...]) -> list[int]:
    """The positions of the lines (rho, theta, family; strongest first, in the frame of `shape`) that cross no
    stronger kept line of their own family inside the frame: a sheet's parallel lines meet, in perspective, only
    beyond it."""
    height, width = shape[:2]
    kept: list[int] = []
    for at, (rho, theta, family) in enumerate(lines):
        crosses = False
        for other_rho, other_theta, other_family in (lines[other] for other in kept):
            if other_family != family:
                continue
            matrix = np.array([[np.cos(theta), np.sin(theta)], [np.cos(other_theta), np.sin(other_theta)]])
            if abs(np.linalg.det(matrix)) < 1e-6:
                continue
            x, y = np.linalg.solve(matrix, np.array([rho, other_rho]))
            if 0 <= x < width and 0 <= y < height:
                crosses = True
                break
        if not crosses:
            kept.append(at)
    return kept


def _distinct_lines(found: np.ndarray, shape: tuple[int, ...]) -> list[tuple[float, float, int]]:
    """The Hough transform's lines without the near-copies a wide line also gets (within 2 pixels and 3 degrees),
    and without lines far weaker than the strongest (a diagonal through a grid's crossings collects votes too).
    A line's strength is its votes per pixel of its length inside the frame (`shape`): a diagonal is longer than a
    row or a column, and through a fine grid it collects more votes than a column that is inked along its whole length.
    (n, 3) rho, theta, votes -> [(rho, theta, direction 0 or 1)], strongest first."""
    found = found.astype(np.float64)
    found[:, 2] /= np.maximum(_length_inside(found[:, 0], found[:, 1], shape), 1.0)
    found = found[np.argsort(-found[:, 2], kind="stable")]
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


def _length_inside(rho: np.ndarray, theta: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """How long each line x cos(theta) + y sin(theta) = rho runs inside a frame of `shape`.  (n,), (n,) -> (n,) pixels."""
    height, width = shape[:2]
    cos, sin = np.cos(theta), np.sin(theta)
    # Along the line, a point is (rho cos - t sin, rho sin + t cos); each pair of the frame's edges bounds t.
    start, end = np.full(len(rho), -np.inf), np.full(len(rho), np.inf)
    for position, step, size in ((rho * cos, -sin, width), (rho * sin, cos, height)):
        moving = np.abs(step) > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            first, second = (0 - position) / step, (size - position) / step
        low = np.where(moving, np.minimum(first, second), np.where((position >= 0) & (position <= size), -np.inf, np.inf))
        high = np.where(moving, np.maximum(first, second), np.where((position >= 0) & (position <= size), np.inf, -np.inf))
        start, end = np.maximum(start, low), np.minimum(end, high)
    return np.maximum(end - start, 0.0)

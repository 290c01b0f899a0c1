"""A sheet's printed lines in a photographed page: squares, rules, a margin and the sheet's edges, found as families
of long straight lines (a Hough transform) and drawn back with their own darkness, to be subtracted from the ink."""

from __future__ import annotations

import cv2
import numpy as np

MAX_LINE_WIDTH = 9  # pixels: the widest band searched for a line's pixels around its centre
MAX_PRINTED_WIDTH = 6  # pixels: printed lines are no wider at any distance a camera can read digits from
LINE_VOTES = 0.35  # a printed line has pixels along at least this share of the frame's longer side
LINE_RELATIVE_VOTES = 0.4  # and at least this share of the strongest line's pixels
MIN_FAMILY = 3  # printed lines come at least three abreast
LONE_LINE_LENGTH = 0.8  # of the frame's shorter side: a lone printed line (a margin) runs across the frame
LONE_LINE_INKED = 0.8  # and is on the ink mask along this share of its length
WIDTH_SAMPLE = 5  # a family's print width is the median width of its strongest lines
REFINE_REACH = 2  # pixels: how far a Hough line (found at half size, in 1-degree steps) may sit from the printed one at either end
PROFILE_REACH = MAX_LINE_WIDTH // 2  # pixels: a line's darkness is measured this far on either side of its centre
PROFILE_OFFSETS = np.arange(-PROFILE_REACH, PROFILE_REACH + 1, dtype=np.float64)
LINE_FAN = 20  # degrees: how far perspective turns a sheet's lines from each other across a frame


def printed_lines(mask: np.ndarray, darkness: np.ndarray, faintest: float, also_thin: np.ndarray | None = None) -> np.ndarray:
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
    # NOTE: no piece of the mask need be long: under faint pencil the paper's noise breaks a faint grid into dashes,
    # which the transform still lines up.
    if not cv2.countNonZero(searched):
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
    refined = _refined(darkness, 2 * np.array([rho for rho, _, _ in distinct]), np.array([theta for _, theta, _ in distinct]))
    dark = [index for index, (_, profile) in enumerate(refined) if profile[PROFILE_REACH] > faintest]
    # Only then are lines that cross a stronger one of their family dropped: a line through a row of digits,
    # discarded above, would otherwise take real rules with it.
    lines = [(*refined[dark[at]], distinct[dark[at]][2]) for at in _apart([distinct[index] for index in dark], half.shape)]
    # Rules and squares come in families of parallel lines; a lone straight stroke (a tall 1) is handwriting. A
    # lone line inked along most of the frame, with paper on both sides of it (under half its darkness), is
    # printed too: a ruled sheet's margin (not a sheet's edge, with the desk beyond it).
    sizes = np.bincount([family for _, _, family in lines], minlength=2)
    lines = [line for line in lines if sizes[line[2]] >= MIN_FAMILY or _is_margin(searched, *line[:2])]
    if not lines:
        return printed
    # How wide each family is printed: the median over its strongest lines of the mask's pixels near a line per
    # pixel of the line on the mask. A band as wide as the search reaches is no line: the desk beyond a sheet's
    # edge, or the dark rim of a vignetted frame. Such bands are left out, and the family's print (a margin
    # beside the sheet's two edges) is still subtracted. (Handwriting along a line widens it, but less.)
    families = [_measured_family([line for line in lines if line[2] == family], searched) for family in (0, 1)]
    # A sheet prints its lines alike: a family measured on fewer than MIN_FAMILY lines (a margin, which a digit
    # written across it widens) is drawn as wide as the other family, when that one was measured on enough.
    enough = [np.median(sample) for _, sample in families if len(sample) >= MIN_FAMILY]
    # Each direction is drawn apart and the two added: where lines cross, the paper bears both inks.
    for members, sample in families:
        if not sample:
            continue
        width = round(float(np.median(sample) if len(sample) >= MIN_FAMILY or not enough else enough[0]))
        if width > MAX_PRINTED_WIDTH:
            continue  # wider than print: a marker's straight strokes, not a sheet's lines
        drawn = np.zeros_like(darkness)
        for points, profile, _ in members:
            _draw_profile(drawn, points, np.where(profile > faintest, profile, 0.0), width)  # beyond its edges, paper
        printed += drawn
    return printed


def _measured_family(members: list[tuple[np.ndarray, np.ndarray, int]], searched: np.ndarray) -> tuple[list, list[float]]:
    """A family's lines without those as wide as the search band, and the widths measured on its strongest lines
    away from the frame's edge (whose dark rim, when vignetted, is measured wider than print)."""
    strongest = members[: 2 * WIDTH_SAMPLE]
    widths = [_line_width(searched, points) for points, *_ in strongest]
    inner = [not _along_edge(points, searched.shape) for points, *_ in strongest]
    band = MAX_LINE_WIDTH - 0.5
    kept = [line for at, line in enumerate(members) if at >= len(widths) or widths[at] < band]
    return kept, [measured for measured, inside in zip(widths, inner, strict=True) if inside and 0.0 < measured < band][:WIDTH_SAMPLE]


def _line_width(mask: np.ndarray, points: np.ndarray) -> float:
    """The mask's pixels within MAX_LINE_WIDTH of a line, per pixel of the line that lies on the mask."""
    centre = np.zeros_like(mask)
    cv2.polylines(centre, [points], False, 255, 1)
    near = cv2.bitwise_and(cv2.dilate(centre, np.ones((MAX_LINE_WIDTH, MAX_LINE_WIDTH), np.uint8)), mask)
    return cv2.countNonZero(near) / max(1, cv2.countNonZero(cv2.bitwise_and(centre, mask)))


def _is_margin(mask: np.ndarray, points: np.ndarray, profile: np.ndarray) -> bool:
    """Whether a line runs inked across the frame with paper on both sides: at least LONE_LINE_LENGTH of the frame's
    shorter side long, on `mask` (within a pixel) along at least LONE_LINE_INKED of that length, and under half its
    darkness at the ends of its `profile` (a sheet's edge has the desk on one side).  (2, 1, 2) x, y points."""
    if max(profile[0], profile[-1]) >= 0.5 * profile[PROFILE_REACH]:
        return False
    length = float(np.hypot(*(points[1, 0] - points[0, 0]).astype(np.float64)))
    if length < LONE_LINE_LENGTH * min(mask.shape):
        return False
    centre = np.zeros_like(mask)
    cv2.polylines(centre, [points], False, 255, 1)
    near = cv2.bitwise_and(centre, cv2.dilate(mask, np.ones((3, 3), np.uint8)))
    return cv2.countNonZero(near) >= LONE_LINE_INKED * max(1, cv2.countNonZero(centre))


def _along_edge(points: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a line's two ends lie within MAX_LINE_WIDTH of the same edge of the frame.  (2, 1, 2) x, y points."""
    ends = points.reshape(2, 2)
    limits = np.array([shape[1], shape[0]]) - 1 - MAX_LINE_WIDTH
    return bool(((ends <= MAX_LINE_WIDTH).all(axis=0) | (ends >= limits).all(axis=0)).any())


def _refined(darkness: np.ndarray, rhos: np.ndarray, thetas: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Hough lines each moved (by up to REFINE_REACH pixels at either end of the frame) onto the darkest line nearby,
    as the two ends of a polyline, and each line's darkness across it: the median along it at each of
    PROFILE_OFFSETS from where it is drawn (the few digits it crosses do not move a median).
    (L,) rho, (L,) theta -> L x ((2, 1, 2) int32 points, (offsets,) float32); zeros for a line barely in the frame."""
    # NOTE: all lines at once (a dense grid gives hundreds): each is sampled every 4 pixels along its run inside the
    # frame, runs padded to the longest and masked.
    height, width = darkness.shape
    lines = np.arange(len(rhos))
    normal = np.stack([np.cos(thetas), np.sin(thetas)], axis=1)  # (L, 2)
    direction = np.stack([-np.sin(thetas), np.cos(thetas)], axis=1)
    steps = np.arange(-(height + width), height + width, 4.0)
    along = rhos[:, None, None] * normal[:, None, :] + steps[None, :, None] * direction[:, None, :]  # (L, S, 2) x, y
    margin = REFINE_REACH
    x, y = along[..., 0], along[..., 1]
    inside = (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)
    counts = inside.sum(axis=1)  # the frame is convex: a line's points inside it are one run of steps
    empty = (np.zeros((2, 1, 2), np.int32), np.zeros(len(PROFILE_OFFSETS), np.float32))
    if counts.max() < 6:
        return [empty for _ in lines]
    run = np.arange(int(counts.max()))
    along = along[lines[:, None], np.minimum(inside.argmax(axis=1)[:, None] + run[None, :], len(steps) - 1)]  # (L, W, 2)
    position = np.broadcast_to(run[None, :], (len(rhos), len(run)))
    valid = position < counts[:, None]
    # Each end's offset is chosen on its own third of the line: the darkest of the parallel positions there.
    offsets = np.arange(-REFINE_REACH, REFINE_REACH + 1)
    shifted = np.rint(along[:, None, :, :] + offsets[None, :, None, None] * normal[:, None, None, :]).astype(int)  # (L, O, W, 2)
    near = darkness[shifted[..., 1].clip(0, height - 1), shifted[..., 0].clip(0, width - 1)]
    thirds = (counts // 3)[:, None]
    ends = []
    for part, end in ((position < thirds, 0), (valid & (position >= counts[:, None] - thirds), np.maximum(counts, 1) - 1)):
        sums = np.where(part[:, None, :], near, np.float32(0)).sum(axis=2)  # (L, O)
        ends.append(along[lines, end] + offsets[sums.argmax(axis=1)][:, None] * normal)
    points = np.rint(np.stack(ends, axis=1)).astype(np.int32)  # (L, 2, 2)
    # As many samples as steps, evenly from one end to the other (as np.linspace places them).
    fraction = run[None, :] * (1.0 / (np.maximum(counts, 2) - 1))[:, None]
    fraction[lines, np.maximum(counts, 2) - 1] = 1.0
    placed = points[:, None, 0, :] * (1 - fraction[..., None]) + points[:, None, 1, :] * fraction[..., None]  # (L, W, 2)
    ahead = (points[:, 1] - points[:, 0]).astype(np.float64)
    ahead /= np.maximum(np.hypot(ahead[:, 0], ahead[:, 1]), 1e-9)[:, None]
    across = np.stack([-ahead[:, 1], ahead[:, 0]], axis=1)
    shifted = np.rint(placed[:, None, :, :] + PROFILE_OFFSETS[None, :, None, None] * across[:, None, None, :]).astype(int)  # (L, P, W, 2)
    samples = darkness[shifted[..., 1].clip(0, height - 1), shifted[..., 0].clip(0, width - 1)]
    ordered = np.sort(np.where(valid[:, None, :], samples, np.float32(np.inf)), axis=2)
    middle = np.maximum(counts, 1)
    profiles = (ordered[lines, :, (middle - 1) // 2] + ordered[lines, :, middle // 2]) / np.float32(2)  # the median
    return [(points[at].reshape(2, 1, 2), profiles[at].astype(np.float32)) if counts[at] >= 6 else empty for at in lines]


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
    if not lines:
        return []
    height, width = shape[:2]
    rho, theta, family = (np.array(values) for values in zip(*lines, strict=True))
    cos, sin = np.cos(theta), np.sin(theta)
    # Where each pair of lines meets (Cramer's rule on x cos + y sin = rho); parallel lines never do.
    determinant = cos[:, None] * sin[None, :] - sin[:, None] * cos[None, :]
    meets = np.abs(determinant) >= 1e-6
    safe = np.where(meets, determinant, 1.0)
    x = (rho[:, None] * sin[None, :] - sin[:, None] * rho[None, :]) / safe
    y = (cos[:, None] * rho[None, :] - rho[:, None] * cos[None, :]) / safe
    crosses = meets & (x >= 0) & (x < width) & (y >= 0) & (y < height) & (family[:, None] == family[None, :])
    kept = np.zeros(len(lines), bool)
    for at in range(len(lines)):
        kept[at] = not (crosses[at] & kept).any()
    return [int(at) for at in np.flatnonzero(kept)]


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
    chosen = found[family_of >= 0]
    families_chosen = family_of[family_of >= 0]
    weak = np.flatnonzero(chosen[:, 2] < LINE_RELATIVE_VOTES * strongest)
    end = int(weak[0]) if len(weak) else len(chosen)
    # NOTE: a grid of (rho, degree) cells marks where kept lines are, for the hundreds of lines of a dense grid.
    reach = int(np.ceil(np.hypot(shape[0], shape[1]))) + 3  # no line lies further than the frame's diagonal from its corner
    taken = np.zeros((2 * reach + 1, 180), bool)
    kept: list[tuple[float, float, int]] = []
    rho_cells = np.rint(chosen[:end, 0]).astype(int).tolist()
    degree_cells = (np.rint(np.degrees(chosen[:end, 1])).astype(int) % 180).tolist()
    rows = zip(chosen[:end, 0].tolist(), chosen[:end, 1].tolist(), families_chosen[:end].tolist(), rho_cells, degree_cells, strict=True)
    for rho, theta, family, rho_cell, degree_cell in rows:
        if taken[rho_cell + reach, degree_cell]:
            continue
        kept.append((rho, theta, family))
        for turned in range(degree_cell - 3, degree_cell + 4):
            sign = -1 if turned < 0 or turned >= 180 else 1  # past 0 or 180 degrees a line's rho changes sign
            taken[sign * rho_cell + reach - 2 : sign * rho_cell + reach + 3, turned % 180] = True
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

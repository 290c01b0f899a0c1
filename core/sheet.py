"""Where the sheet ends in a photographed page: a sheet seen whole inside the frame, and digits cut free of the world
beyond the sheet's edge (the desk, a wall, a vignetted rim)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from core.preprocess import _quantiles

_BROAD = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # an opening by this keeps broad ink, not pen lines
# A digit joined to broad ink at the frame's edge is cut free of it when it reaches EDGE_FREE of the frame's longer
# side away from it and bends: the lesser spread of its pixels is at least BENT of the greater (0: a straight line).
EDGE_FREE = 0.06
BENT = 0.1
# A sheet seen whole: paper (a closing wipes the ink off it) at least SHEET_LEVEL of the frame's brightest paper,
# surrounded by a world darker than that; its bounding box covers at most SHEET_MOST of the frame (more, and the
# sheet fills the frame, whose edges the reader already treats as the world's), the paper at least SHEET_LEAST of it
# and at least SHEET_FILLS of its own box (a sheet is a filled quadrilateral, however turned; strokes are not).
COARSE_SIDE = 80  # pixels: the frame's longer side when the sheet is looked for
SHEET_LEVEL = 0.5
SHEET_MOST = 0.9
SHEET_LEAST = 0.1
SHEET_FILLS = 0.5
EDGE_BAND = 0.025  # of the sheet's longer side, either side of its outline as a coarse view finds it
EDGE_SHARE = 0.6  # of a piece's pixels in that band: the sheet's edge
SHEET_EDGES = 2  # a sheet seen whole reaches at most this many of the frame's edges (within a coarse pixel)


@dataclass(frozen=True)
class SeenWhole:
    """A sheet seen whole inside a photo."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo's pixels
    paper: np.ndarray = field(repr=False)  # (h, w) uint8 0/1: where the box shows the sheet, at a coarse scale


def sheet_seen_whole(image: np.ndarray) -> SeenWhole | None:
    """Where a sheet seen whole lies in a colour photo, or None when the sheet fills the frame, nothing darker
    surrounds it, or the image is no photo (a drawing, grey, light ink on dark).

    Every step of reading a page assumes the sheet fills the frame: printed lines run across the frame, and the world
    beyond the sheet comes in at the frame's edge. A notepad or an index card held whole before the camera (or lying
    on a desk) breaks both: its lines stop at its edges, and the band where paper meets a dark desk reads as ink
    inside the frame. Read alone, its box is a frame the sheet fills (`core.paper.page_ink_map`).
    """
    if image.ndim != 3 or image.dtype != np.uint8 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < COARSE_SIDE:
        return None
    height, width = image.shape[:2]
    factor = COARSE_SIDE / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    grey = cv2.cvtColor(cv2.resize(image[:, :, :3], size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    counts = np.bincount(grey.ravel(), minlength=256)
    if counts.max() > 0.5 * grey.size:
        return None  # a drawing or a screenshot: most pixels at one level
    paper = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))  # ink closed over
    darkest, brightest = _quantiles(paper, (0.05, 0.95))
    if darkest >= SHEET_LEVEL * brightest:
        return None  # no darker world around the paper
    count, labels, stats, _ = cv2.connectedComponentsWithStats((paper >= SHEET_LEVEL * brightest).astype(np.uint8), connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[largest]
    if w * h > SHEET_MOST * grey.size or area < SHEET_LEAST * grey.size or area < SHEET_FILLS * w * h:
        return None
    if (x <= 1) + (y <= 1) + (x + w >= size[0] - 1) + (y + h >= size[1] - 1) > SHEET_EDGES:
        return None  # the world shows along one side or two: the frame's edges already stand for it
    box = int(x / factor), int(y / factor), min(width, int(np.ceil((x + w) / factor))), min(height, int(np.ceil((y + h) / factor)))
    return SeenWhole(box, (labels[y : y + h, x : x + w] == largest).astype(np.uint8))


def along_sheet_edge(seen: SeenWhole, pieces: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """The pieces of a sheet's ink map that lie along its edge, or None when none does.  `pieces`: the map's `_label`.

    Where paper meets the darker world, the edge reads as a straight dark line: a piece with at least EDGE_SHARE of its
    pixels within EDGE_BAND of the sheet's outline is that edge, not ink. -> (h, w) uint8 0/255 mask of those pieces.
    """
    labels, stats = pieces
    height, width = labels.shape
    world = cv2.resize((1 - seen.paper) * np.uint8(255), (width, height), interpolation=cv2.INTER_LINEAR)
    reach = max(3, round(EDGE_BAND * max(height, width)))
    around = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    band = cv2.subtract(cv2.dilate(world, around), cv2.erode(world, around))  # (h, w) uint8: either side of the outline
    near = np.bincount(labels[band > 127], minlength=len(stats))
    edge = near >= EDGE_SHARE * stats[:, cv2.CC_STAT_AREA]
    edge[0] = False
    return np.where(edge[labels], 255, 0).astype(np.uint8) if edge.any() else None


def detached_from_edges(mask: np.ndarray, pieces: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """The mask with digits cut free of the broad ink that reaches the frame's edge (the desk, the sheet's edge, a
    vignetted rim), or None when none is. `pieces`: the mask's `_label`.

    What comes free is a digit when it reaches well away from that ink, bends (the sheet's edge, a desk's grain and
    a grid's remnants come free as straight lines) and lies in a row beside a shape of its size clear of the edge.
    """
    labels, stats = pieces
    height, width = mask.shape
    x, y, w, h = (stats[:, index] for index in range(4))
    at_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    at_edge[0] = False
    if not at_edge.any():
        return None
    edge_ink = np.where(at_edge[labels], 255, 0).astype(np.uint8)
    band = cv2.dilate(cv2.morphologyEx(edge_ink, cv2.MORPH_OPEN, _BROAD), np.ones((3, 3), np.uint8))
    count, parts, found, _ = cv2.connectedComponentsWithStats(cv2.subtract(edge_ink, band), connectivity=8)
    reach = EDGE_FREE * max(height, width)
    others = stats[1:][~at_edge[1:]]  # (n, 5) the shapes clear of the edge
    free = np.zeros(count, bool)
    for index in np.flatnonzero(np.maximum(found[1:, 2], found[1:, 3]) >= reach) + 1:  # row 0 is the background
        px, py, pw, ph = found[index, :4]
        overlap = np.minimum(others[:, 1] + others[:, 3], py + ph) - np.maximum(others[:, 1], py)
        gap = np.maximum(others[:, 0], px) - np.minimum(others[:, 0] + others[:, 2], px + pw)
        sized = (others[:, 3] >= 0.6 * ph) & (others[:, 3] <= 1.7 * ph)
        free[index] = bool(np.any(sized & (overlap >= 0.5 * ph) & (gap <= 2 * ph)))
    if not free.any():
        return None
    ys, xs = np.nonzero(free[parts])
    owner = np.asarray(parts, np.intp)[ys, xs]
    free &= bends(xs, ys, owner, count) >= BENT
    if free.any():
        away = cv2.distanceTransform(cv2.bitwise_not(band), cv2.DIST_L2, 3)
        farthest = np.zeros(count, np.float32)
        np.maximum.at(farthest, owner, away[ys, xs])
        free &= farthest >= reach
    if not free.any():
        return None
    return cv2.bitwise_or(cv2.subtract(mask, edge_ink), np.where(free[parts], 255, 0).astype(np.uint8))


def bends(xs: np.ndarray, ys: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """How much each piece bends: the lesser spread of its pixels along its two principal axes over the greater
    (0 for a straight line, 1 for a round blob).  (n,) pixel x, y and piece label -> (count,) float64."""
    area = np.maximum(np.bincount(owner, minlength=count), 1).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:  # per piece
        return np.bincount(owner, values.astype(np.float64), count) / area

    mean_x, mean_y = mean(xs), mean(ys)
    var_x, var_y, covariance = mean(xs * xs) - mean_x**2, mean(ys * ys) - mean_y**2, mean(xs * ys) - mean_x * mean_y
    middle, half_gap = (var_x + var_y) / 2, np.sqrt(((var_x - var_y) / 2) ** 2 + covariance**2)
    return (middle - half_gap) / np.maximum(middle + half_gap, 1e-9)

"""Digits in an ink map: pieces grouped into digits, rows and reading order, each digit's crop and box."""

from __future__ import annotations

import cv2
import numpy as np

from core.groups import Group, could_be_one, gap, is_fragment, side_by_side_part, union_of
from core.paper import with_faint_ink_near
from core.preprocess import Box, InkMap, _label, _quantiles, ink_map, to_mnist
from core.rules import is_line_like, median_darkness, on_printed_lines, ones_on_printed_lines, remove_rules, runs_on

MIN_DIGIT_PIXELS = 12  # at working resolution; smaller groups are specks
MIN_DIGIT_HEIGHT = 8  # pixels; with MIN_DIGIT_FRACTION of the image's shorter side, the smallest digit `read` accepts
MIN_DIGIT_FRACTION = 0.02
PAGE_DIGIT_FRACTION = 0.06  # on a photographed page, digits are at least this share of the shorter side (29 px of 480)
SPECK_FRACTION = 5e-5  # of the image's pixels: 15 px in a 640x480 frame
MAX_FRAGMENTS = 300  # more separate blobs than this is noise or texture, not a handful of digits
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
# Pieces of a digit the pen broke all over (faint pencil), none of them a seed, join each other across gaps up to
# BROKEN_REACH of the digits' height: wider than PAGE_REACH, since a faint stroke breaks in longer gaps than a clear one.
BROKEN_REACH = 0.35
BROKEN_INK = 0.3  # of the median digit's ink: small pieces that together hold this much may be one broken digit
WITH_TAIL = 1.4  # of the digits' height: a digit with a piece of its own (a 2's long base) is no wider than this
ONE_PEN = 0.3  # of the other shapes' median darkness: a page's shape fainter than this is not written with their pen
CROP_TYPICAL = 0.75  # the stroke's darkness at this quantile counts as full ink when a page's digit is cropped


# --- Finding digits -----------------------------------------------------------------------------------------------


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


def _merge_strokes(groups: list[Group]) -> list[Group]:
    """Merge fragments into the digit they belong to; two digit-sized shapes are left for `ambiguous_pairs`."""
    merged = True
    while merged:
        merged = False
        for i, first in enumerate(groups):
            for second in groups[i + 1 :]:
                if could_be_one(first, second) and is_fragment(first, second):
                    first.absorb(second)
                    groups.remove(second)
                    merged = True
                    break
            if merged:
                break
    return groups


def ambiguous_pairs(groups: list[Group], page: bool = False) -> list[tuple[int, int]]:
    """Neighbours in reading order that may be one digit or two (a 4 in two strokes, or a 1 under a 7's bar).

    Shape alone cannot tell; the recognizer reads both ways and keeps the likelier one. On a page (`page`), a
    shorter piece that overlaps its neighbour is asked about too: pieces are put together there by the digits'
    size, which a frame of one or two broken digits measures on their pieces. So is a shorter piece close beside a
    taller one in its row (an open 4's corner beside its stem, which do not overlap left to right).
    """
    return [
        (index, index + 1)
        for index in range(len(groups) - 1)
        if (could_be_one(groups[index], groups[index + 1]) and (page or not is_fragment(groups[index], groups[index + 1])))
        or (page and side_by_side_part(groups[index], groups[index + 1], PAGE_REACH))
    ]


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
    mask = ink.mask if whole_image or ink.lines_removed else remove_rules(ink.mask)
    labels, groups = _components(ink.pieces if mask is ink.mask else _label(mask), smallest)
    if not groups or len(groups) > MAX_FRAGMENTS:
        return labels, []  # nothing, or hundreds of fragments: noise, not handwriting
    groups = sorted(groups, key=lambda group: -group.area)[:MAX_MERGED]
    if not whole_image:
        # A digit cut by the edge of a camera frame is unreadable, and the desk's edge or a thumb comes in from
        # the frame's edge too: judge sizes among the shapes that lie inside, when there are any. On a
        # photographed page, what runs within a few pixels of the frame's edge comes from beyond it too.
        margin = round(PAGE_BORDER * max(ink.mask.shape)) if ink.lines_removed else 0
        inside = [group for group in groups if not _touches_border(group, ink.mask.shape, margin if is_line_like(group) else 0)]
        # In a photo nothing at the edge is read, however little lies inside: the sheet's edge, the desk, a
        # shadow's rim and a thumb all come in from there.
        groups = inside if ink.photograph else inside or groups
        if not groups:
            return labels, []
    if ink.lines_removed and not whole_image:
        # What is left of printed lines (a piece the Hough transform missed, a grid's crossings) is thin, straight
        # and often longer than the digits: measure the digits' height without such pieces, then drop them.
        on_lines = [on_printed_lines(ink, group) for group in groups]
        printed = [group for group, on in zip(groups, on_lines, strict=True) if on]
        groups = [group for group, on in zip(groups, on_lines, strict=True) if not on and not runs_on(ink, labels, group)]
        if not groups:
            return labels, []
        tallest = _digit_height(groups)
        groups = [group for group in groups if not (is_line_like(group) and max(group.width, group.height) > 1.3 * tallest)]
        groups += ones_on_printed_lines(ink, labels, printed, groups, tallest)
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
        union = union_of(groups)
        return labels, [union] if _is_digit_like(union, union.height, union.area) and not _is_texture(ink, labels, union) else []
    # Far too small to read (MNIST's digits are 20 pixels tall), whatever else is in the image: specks, texture.
    shortest = max(MIN_DIGIT_HEIGHT, (PAGE_DIGIT_FRACTION if ink.lines_removed else MIN_DIGIT_FRACTION) * min(ink.mask.shape))
    groups = [
        group
        for group in groups
        if group.height >= shortest and _is_digit_like(group, tallest, largest) and not _is_texture(ink, labels, group)
    ]
    if ink.lines_removed and len(groups) >= 2:
        groups = _written_alike(ink, labels, groups)
    return labels, _reading_order(groups)


def _written_alike(ink: InkMap, labels: np.ndarray, groups: list[Group]) -> list[Group]:
    """Digits written together are written with one pen: a shape far fainter than the others (under ONE_PEN of
    their median darkness) is a shadow's rim, a smudge or what is left of a printed line, not a digit."""
    darkness = np.array([median_darkness(ink, labels, group) for group in groups])
    return [group for index, group in enumerate(groups) if darkness[index] >= ONE_PEN * np.median(np.delete(darkness, index))]


def find_page_digits(ink: InkMap) -> tuple[InkMap, np.ndarray, list[Group]]:
    """`find_digit_groups`, then on a page once more with the faint ink beside the digits found (a digit written as
    faintly as its neighbours, which stayed under the clear-ink level where they did not).
    -> (the ink map the groups were found in, labels, groups)."""
    labels, groups = find_digit_groups(ink)
    if groups and ink.faint is not None:
        height = int(np.median([group.height for group in groups]))
        fuller = with_faint_ink_near(ink, [(group.x0, group.y0, group.x1, group.y1) for group in groups], height)
        if fuller is not None:
            return fuller, *find_digit_groups(fuller)
    return ink, labels, groups


def _columns_in_rows(groups: list[Group], digit_height: int) -> list[Group]:
    """Assemble digits from pieces: a broken stroke, a 5's bar, a stroke cut by a rule.

    Pieces at least half as tall as the digits are digits or large parts of one; smaller pieces join the nearest
    of those within reach when together they still fit one digit's box. Small pieces that join no such piece but
    each other, into a digit's size and ink, are a digit the pen broke all over (`_broken_digits`); the others are
    dropped (what is left of a grid's crossings, specks). Then large pieces that overlap left to right by a third
    of the narrower and fit one digit's width together are one digit; digits side by side only touch or overlap a
    little.
    """
    seeds = [group for group in groups if group.height >= PAGE_SEED * digit_height]
    reach, tallest, widest = PAGE_REACH * digit_height, 1.4 * digit_height, 1.1 * digit_height
    orphans = []
    for piece in (group for group in groups if group.height < PAGE_SEED * digit_height):
        fits = [
            (gap(piece, seed), index)
            for index, seed in enumerate(seeds)
            if gap(piece, seed) <= reach
            and max(piece.y1, seed.y1) - min(piece.y0, seed.y0) <= tallest
            and max(piece.x1, seed.x1) - min(piece.x0, seed.x0) <= WITH_TAIL * digit_height
        ]
        if fits:
            seeds[min(fits)[1]].absorb(piece)
        else:
            orphans.append(piece)
    if len(orphans) >= 2:
        seeds += _broken_digits(orphans, digit_height, float(np.median([seed.area for seed in seeds])) if seeds else 0.0)
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


def _broken_digits(pieces: list[Group], digit_height: int, typical_area: float) -> list[Group]:
    """Digits that a skipping pen, or faint pencil, left in small pieces only, none of them a seed: two or more
    pieces within reach of each other that together have a digit's size and at least BROKEN_INK of a digit's ink.
    (The recognizer still has to read the result surely; grid crossings and specks rarely add up to a digit.)"""
    boxes = np.array([(piece.x0, piece.y0, piece.x1, piece.y1) for piece in pieces], np.float64)  # (n, 4)
    # Every pair's gap at once (as `gap`): there can be tens of pieces of noise.
    across = np.maximum(np.maximum.outer(boxes[:, 0], boxes[:, 0]) - np.minimum.outer(boxes[:, 2], boxes[:, 2]), 0.0)
    down = np.maximum(np.maximum.outer(boxes[:, 1], boxes[:, 1]) - np.minimum.outer(boxes[:, 3], boxes[:, 3]), 0.0)
    close = np.hypot(across, down) <= BROKEN_REACH * digit_height
    linked = close | np.eye(len(pieces), dtype=bool)
    while not np.array_equal(grown := (linked.astype(np.int32) @ linked.astype(np.int32)) > 0, linked):
        linked = grown  # pieces joined through others: each row becomes its piece's whole cluster
    clusters = sorted({tuple(np.flatnonzero(row).tolist()) for row in linked})
    shapes = [union_of([pieces[index] for index in members]) for members in clusters if len(members) >= 2]
    return [
        shape
        for shape in shapes
        if PAGE_SEED * digit_height <= shape.height <= 1.4 * digit_height
        and shape.width <= WITH_TAIL * digit_height
        and shape.area >= BROKEN_INK * typical_area
    ]


def _digit_height(groups: list[Group]) -> int:
    """The height digits have here: the median height of the pieces with the most ink, line-like pieces aside, and
    of those only pieces with at least half the most ink (a digit the pen broke into fragments does not pull it down)."""
    solid = [group for group in groups if not is_line_like(group)] or groups
    largest = sorted(solid, key=lambda group: -group.area)[:7]
    largest = [group for group in largest if group.area >= 0.5 * largest[0].area]
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


def single_digit_input(image: np.ndarray) -> np.ndarray | None:
    """What `Recognizer.classify` gives the network: the one digit filling `image`, laid out as MNIST.
    (H, W[, C]) any dtype, either polarity -> (28, 28) float32 in [0, 1], or None when there is no digit."""
    ink = ink_map(image)
    labels, groups = find_digit_groups(ink, whole_image=True)
    return to_mnist(crop_group(ink, labels, groups[0])) if groups else None


def caller_box(ink: InkMap, group: Group) -> Box:
    """A group's box in the caller's pixel coordinates (undoing the shrink of large images)."""
    factor = 1.0 / ink.scale
    x, y = ink.origin
    return Box(x + round(group.x0 * factor), y + round(group.y0 * factor), round(group.width * factor), round(group.height * factor))

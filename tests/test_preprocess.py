"""Preprocessing real images into MNIST's layout: grey conversion, polarity, the ink, digit boxes and the 28x28 input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import paper, preprocess, segment, sheet

SAMPLE = range(30)


def placed(digit: np.ndarray, size: int = 84, canvas: tuple[int, int] = (200, 300), at: tuple[int, int] = (40, 60)) -> np.ndarray:
    """An MNIST digit (white on black) enlarged to `size` and placed at (top, left) of a bigger black image."""
    image = np.zeros(canvas, np.uint8)
    top, left = at
    image[top : top + size, left : left + size] = cv2.resize(digit, (size, size), interpolation=cv2.INTER_CUBIC)
    return image


def model_input(image: np.ndarray) -> np.ndarray:
    """What the recognizer feeds the network for a one-digit image (the path Recognizer.classify takes)."""
    ink = preprocess.ink_map(image)
    labels, groups = segment.find_digit_groups(ink, whole_image=True)
    assert len(groups) == 1
    return preprocess.to_mnist(segment.crop_group(ink, labels, groups[0]))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.sum()
    return float(image.sum(axis=1) @ np.arange(image.shape[0])) / mass, float(image.sum(axis=0) @ np.arange(image.shape[1])) / mass


def boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    ink = preprocess.ink_map(image)
    _, groups = segment.find_digit_groups(ink)
    return [tuple(segment.caller_box(ink, group).as_list()) for group in groups]


def contains(box: tuple[int, int, int, int], point: tuple[float, float]) -> bool:
    x, y, width, height = box
    return x <= point[0] <= x + width and y <= point[1] <= y + height


class TestModelInput:
    def test_is_28_by_28_in_the_unit_range(self, mnist):
        for index in SAMPLE:
            prepared = model_input(255 - placed(mnist.x_test[index]))

            assert prepared.shape == (28, 28) and prepared.dtype == np.float32
            assert prepared.min() >= 0.0 and prepared.max() <= 1.0 + 1e-6
            assert prepared.max() > 0.9

    def test_centre_of_mass_is_at_the_centre(self, mnist):
        for index in SAMPLE:
            centre_y, centre_x = centre_of_mass(model_input(255 - placed(mnist.x_test[index])))

            assert abs(centre_y - 14) <= 1.0 and abs(centre_x - 14) <= 1.0

    def test_ink_fills_a_20_by_20_box(self, mnist):
        for index in SAMPLE:
            rows, columns = np.nonzero(model_input(255 - placed(mnist.x_test[index])) > 0.05)
            height, width = np.ptp(rows) + 1, np.ptp(columns) + 1

            assert max(height, width) in (19, 20, 21) and min(height, width) <= 21

    def test_does_not_depend_on_where_the_digit_is(self, mnist):
        digit = mnist.x_test[0]

        near_corner = model_input(placed(digit, at=(5, 8)))
        off_centre = model_input(placed(digit, at=(100, 200)))

        np.testing.assert_allclose(near_corner, off_centre, atol=1e-5)

    def test_dark_ink_on_white_and_white_on_black_give_the_same_input(self, mnist):
        for index in SAMPLE:
            image = placed(mnist.x_test[index])

            assert np.abs(model_input(image) - model_input(255 - image)).mean() < 0.01

    def test_is_close_to_the_original_mnist_digit(self, mnist):
        # The digit is enlarged 3x, binarised and its stroke normalised, so it differs in detail but not in shape.
        similarities = []
        for index in SAMPLE:
            original = mnist.x_test[index].astype(np.float32) / 255
            prepared = model_input(placed(mnist.x_test[index]))
            similarities.append(np.corrcoef(original.ravel(), prepared.ravel())[0, 1])

        assert np.mean(similarities) > 0.85 and min(similarities) > 0.5


class TestToGray:
    def test_colour_layouts_give_the_same_grey(self, mnist):
        grey = placed(mnist.x_test[0])
        bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        opaque_rgba = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)

        expected = preprocess.to_gray(grey)
        np.testing.assert_allclose(preprocess.to_gray(bgr), expected, atol=1 / 255)
        np.testing.assert_allclose(preprocess.to_gray(opaque_rgba), expected, atol=1 / 255)
        np.testing.assert_allclose(preprocess.to_gray(grey[..., None]), expected)

    def test_pixel_types_are_scaled_to_the_unit_range(self, mnist):
        grey = placed(mnist.x_test[0])
        expected = grey.astype(np.float32) / 255

        np.testing.assert_allclose(preprocess.to_gray(grey.astype(np.uint16) * 257), expected, atol=1e-6)
        np.testing.assert_allclose(preprocess.to_gray(expected.astype(np.float64)), expected, atol=1e-6)
        np.testing.assert_array_equal(preprocess.to_gray(grey > 127), (grey > 127).astype(np.float32))

    def test_strokes_on_a_transparent_layer_become_ink(self, mnist):
        strokes = placed(mnist.x_test[0])
        transparent = np.zeros((*strokes.shape, 4), np.uint8)
        transparent[..., 3] = strokes  # black strokes whose only trace is the alpha channel

        assert preprocess.ink_map(transparent).mask.any()
        np.testing.assert_allclose(model_input(transparent), model_input(strokes), atol=0.02)

    @pytest.mark.parametrize("shape", [(10,), (4, 4, 2), (4, 4, 5), (0, 5)])
    def test_shapes_that_are_not_images_raise_value_error(self, shape):
        with pytest.raises(ValueError):
            preprocess.to_gray(np.zeros(shape, np.uint8))


class TestInkMap:
    def test_detects_dark_ink_on_light_paper(self, mnist):
        assert preprocess.ink_map(255 - placed(mnist.x_test[0])).dark_ink

    def test_detects_light_ink_on_dark_background(self, mnist):
        assert not preprocess.ink_map(placed(mnist.x_test[0])).dark_ink

    def test_mask_covers_the_digit_and_nothing_else(self, mnist):
        image = placed(mnist.x_test[0])
        mask = preprocess.ink_map(255 - image).mask > 0
        strokes = image > 128

        assert (mask & strokes).sum() > 0.9 * strokes.sum()
        assert (mask & (image == 0)).sum() < 0.1 * strokes.sum()

    def test_uneven_lighting_is_flattened_away(self, mnist):
        image = 255 - placed(mnist.x_test[0]).astype(np.float32)
        shade = np.linspace(0.45, 1.0, image.shape[1])[None, :]  # a shadow darkening the left side
        shaded = (image * shade).astype(np.uint8)

        mask = preprocess.ink_map(shaded).mask > 0
        assert not mask[:, :40].any()  # the shadowed paper on the left is not ink
        assert boxes(shaded) and contains(boxes(shaded)[0], (60 + 42, 40 + 42))

    @pytest.mark.parametrize("level", [0, 128, 255])
    def test_a_blank_image_has_no_ink(self, level):
        ink = preprocess.ink_map(np.full((120, 160), level, np.uint8))

        assert not ink.mask.any()
        assert segment.find_digit_groups(ink)[1] == []


class TestFindDigitGroups:
    def test_digits_in_a_row_come_left_to_right(self, mnist):
        row = np.hstack([placed(mnist.x_test[index], size=80, canvas=(160, 140), at=(40, 30)) for index in range(4)])

        found = boxes(255 - row)

        assert len(found) == 4
        assert [box[0] for box in found] == sorted(box[0] for box in found)
        assert all(contains(box, (140 * index + 70, 80)) for index, box in enumerate(found))

    def test_two_rows_are_read_top_row_first(self, mnist):
        top = np.hstack([placed(mnist.x_test[index], size=80, canvas=(140, 140), at=(30, 30)) for index in (0, 1)])
        bottom = np.hstack([placed(mnist.x_test[index], size=80, canvas=(140, 140), at=(30, 30)) for index in (2, 3)])
        page = 255 - np.vstack([top, bottom])
        ink = preprocess.ink_map(page)
        _, groups = segment.find_digit_groups(ink)

        assert [(group.x0 < 140, group.y0 < 140) for group in groups] == [(True, True), (False, True), (True, False), (False, False)]
        assert segment.row_breaks(groups) == [2]

    def test_a_second_row_that_starts_further_right_is_still_a_new_row(self, mnist):
        page = np.zeros((280, 280), np.uint8)
        page[:140, :140] = placed(mnist.x_test[0], size=80, canvas=(140, 140), at=(30, 30))
        page[140:, 140:] = placed(mnist.x_test[1], size=80, canvas=(140, 140), at=(30, 30))  # indented, one digit
        _, groups = segment.find_digit_groups(preprocess.ink_map(255 - page))

        assert [group.y0 < 140 for group in groups] == [True, False]
        assert segment.row_breaks(groups) == [1]

    def test_ruled_lines_across_the_page_are_not_digits(self, mnist):
        page = np.full((480, 640), 235, np.uint8)
        for y in range(40, 480, 60):
            cv2.line(page, (0, y), (639, y), 150, 2)
        cv2.line(page, (70, 0), (70, 479), 120, 2)  # the margin
        for slot, index in enumerate(range(4)):
            glyph = 255 - cv2.resize(mnist.x_test[index], (100, 100), interpolation=cv2.INTER_CUBIC)
            region = page[170:270, 120 + 120 * slot : 220 + 120 * slot]
            np.minimum(region, glyph, out=region)  # written over the rule at y = 220

        found = boxes(page)

        assert len(found) == 4
        assert all(contains(box, (170 + 120 * slot, 220)) for slot, box in enumerate(found))
        assert all(box[2] < 100 and box[3] < 100 for box in found)

    @pytest.mark.parametrize("top", [0, 3])
    def test_a_stroke_touching_the_edge_of_an_opaque_canvas_is_read(self, recognizer, top):
        canvas = np.full((280, 560, 4), 255, np.uint8)  # a white canvas with no transparency, as a screenshot has
        cv2.line(canvas, (280, top), (284, 250), (0, 0, 0, 255), 18)  # a 1 started at the canvas's top edge

        assert recognizer.read(canvas).number == "1"
        assert not paper.page_ink_map(canvas).photograph  # edges of a drawing are the drawing's own

    def test_a_tall_stroke_on_a_canvas_is_a_digit_not_a_ruled_line(self):
        canvas = np.full((280, 560, 4), 255, np.uint8)
        cv2.line(canvas, (280, 30), (284, 250), (0, 0, 0, 255), 18)  # a 1 drawn the full height of the Draw canvas

        found = boxes(canvas)

        assert len(found) == 1
        assert found[0][3] > 200

    def test_specks_are_not_digits(self, mnist):
        image = 255 - placed(mnist.x_test[0])
        for x, y in ((10, 10), (250, 20), (280, 180)):
            cv2.circle(image, (x, y), 1, 0, -1)

        assert len(boxes(image)) == 1

    def test_boxes_of_a_large_photo_are_in_its_own_pixels(self, mnist):
        photo = np.full((1500, 2400), 255, np.uint8)
        glyph = cv2.resize(mnist.x_test[0], (300, 300), interpolation=cv2.INTER_CUBIC)
        photo[900:1200, 1700:2000] = 255 - glyph

        ink = preprocess.ink_map(photo)
        found = boxes(photo)

        assert ink.scale < 1.0
        assert len(found) == 1
        assert contains(found[0], (1850, 1050))
        assert found[0][0] >= 1700 - 10 and found[0][0] + found[0][2] <= 2000 + 10


class TestStrokeWidth:
    @pytest.mark.parametrize("thickness", [7, 11, 17])
    def test_measures_the_width_of_a_drawn_line(self, thickness):
        drawing = np.zeros((200, 200), np.uint8)
        cv2.line(drawing, (40, 30), (150, 170), 255, thickness)

        assert preprocess.stroke_width(drawing) == pytest.approx(thickness, rel=0.15)

    def test_empty_drawing_has_no_width(self):
        assert preprocess.stroke_width(np.zeros((20, 20), np.uint8)) == 0.0


class TestPiecesOfADigit:
    """`segment._columns_in_rows` puts a digit together from the pieces a skipping pen leaves."""

    @staticmethod
    def group(label: int, x0: int, y0: int, x1: int, y1: int) -> segment.Group:
        return segment.Group([label], x0, y0, x1, y1, (x1 - x0) * (y1 - y0) // 4)

    def test_a_2_keeps_its_long_base_drawn_apart_from_it(self):
        # A 2 40 pixels tall and 30 wide, and its base, a flat stroke running on to 1.3 times the digit's height.
        body, base = self.group(1, 0, 0, 30, 40), self.group(2, 26, 36, 52, 42)
        (digit,) = segment._columns_in_rows([body, base], 40)
        assert digit.labels == [1, 2] and (digit.x0, digit.x1) == (0, 52)

    def test_a_piece_that_would_make_a_digit_too_wide_is_left_out(self):
        # The same base running on to 1.7 times the digit's height is no 2's: a rule's remnant, or the next digit's.
        body, base = self.group(1, 0, 0, 30, 40), self.group(2, 26, 36, 68, 42)
        (digit,) = segment._columns_in_rows([body, base], 40)
        assert digit.labels == [1]

    def test_the_digits_height_is_measured_on_whole_digits_not_on_a_broken_one_s_pieces(self):
        # Three digits 50 pixels tall, and a fourth broken by a skipping pen into four pieces 20 tall with a fifth
        # of a digit's ink each: the pieces are not what the row's digits measure.
        whole = [segment.Group([label], 60 * label, 0, 60 * label + 35, 50, 300) for label in (1, 2, 3)]
        pieces = [segment.Group([label], 250 + 8 * label, 0, 258 + 8 * label, 20, 60) for label in (4, 5, 6, 7)]
        assert segment._digit_height(whole + pieces) == 50

    @staticmethod
    def row_and_pieces(apart: int, ink: int) -> list[segment.Group]:
        """Three digits 50 pixels tall, then four pieces 5 wide and 20 tall (none a seed) in two columns and two
        rows, `apart` pixels apart, with `ink` pixels each."""
        whole = [segment.Group([label], 60 * label, 0, 60 * label + 35, 50, 300) for label in (1, 2, 3)]
        corners = [(250 + (5 + apart) * (at % 2), (20 + apart) * (at // 2)) for at in range(4)]
        return whole + [segment.Group([4 + at], x, y, x + 5, y + 20, ink) for at, (x, y) in enumerate(corners)]

    def test_a_digit_broken_all_over_is_put_together(self):
        # A fourth digit that a skipping pen left in four pieces 5 pixels apart, each with a fifth of a digit's ink.
        digits = segment._columns_in_rows(self.row_and_pieces(apart=5, ink=60), 50)
        assert len(digits) == 4 and sorted(digits[-1].labels) == [4, 5, 6, 7]
        assert (digits[-1].x0, digits[-1].y0, digits[-1].x1, digits[-1].y1) == (250, 0, 265, 45)

    @pytest.mark.parametrize(("apart", "ink"), [(30, 60), (5, 5)])
    def test_scattered_or_faint_specks_are_not_a_digit(self, apart, ink):
        # The same pieces further apart than a digit's pieces lie (grid crossings), or with little ink (specks).
        digits = segment._columns_in_rows(self.row_and_pieces(apart, ink), 50)
        assert [digit.labels for digit in digits] == [[1], [2], [3]]

    def test_on_a_page_a_short_piece_overlapping_its_neighbour_is_asked_about(self):
        # A 6 broken where a grid line crossed it: its long left stroke (60 tall) and its loop (30 tall, overlapping
        # it). Put together by size alone they would be too wide for the digits measured on them; the recognizer
        # reads them both ways on a page. On a canvas the short piece has been merged already as a fragment.
        stroke, loop = segment.Group([1], 0, 0, 40, 60, 200), segment.Group([2], 15, 32, 50, 62, 150)
        assert segment.ambiguous_pairs([stroke, loop], page=True) == [(0, 1)]
        assert segment.ambiguous_pairs([stroke, loop]) == []

    def test_an_open_4_s_corner_beside_its_stem_is_read_both_ways_on_a_page(self):
        # An open 4 written in two strokes: its corner (an L, 30 tall) close beside its stem (50 tall), the two not
        # overlapping left to right, so not put together as one digit. Two digits of a size side by side are not asked.
        corner, stem = self.group(1, 0, 10, 18, 40), self.group(2, 21, 0, 30, 50)
        assert segment.ambiguous_pairs([corner, stem], page=True) == [(0, 1)]
        assert segment.ambiguous_pairs([corner, stem]) == []
        seven, one = self.group(1, 0, 0, 30, 50), self.group(2, 33, 2, 40, 50)
        assert segment.ambiguous_pairs([seven, one], page=True) == []


class TestFaintStrokes:
    """A faint stroke (pencil) that never reaches the clear-ink level is kept when it is long, bent and thin."""

    @staticmethod
    def page(draw) -> np.ndarray:
        """A 320x240 photographed page: paper at level 200 with sensor noise, `draw(levels)` drawing 11 levels darker."""
        rng = np.random.default_rng(0)
        levels = np.full((240, 320), 200, np.uint8)
        draw(levels)
        noisy = levels.astype(np.float32) + rng.normal(0, 1.5, levels.shape)
        return cv2.cvtColor(np.clip(noisy, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)

    def test_a_faint_round_stroke_is_ink_and_a_faint_straight_one_is_not(self, monkeypatch):
        def draw(levels):
            cv2.ellipse(levels, (90, 120), (18, 28), 0, 0, 360, 189, 1)  # a 0 in faint pencil
            cv2.line(levels, (220, 90), (222, 150), 189, 1)  # a lone straight stroke as faint

        page = self.page(draw)
        ink = paper.page_ink_map(page)
        assert ink.mask[85:155, 65:115].sum() > 0.6 * 255 * np.pi * (18 + 28)  # most of the 0's ring
        assert not ink.mask[:, 200:].any()
        # Faint: no pixel of it is clear ink, so without the faint-stroke rule the ring is not found at all.
        monkeypatch.setattr(paper, "_faint_strokes", lambda weak, printed: np.zeros_like(weak))
        assert not paper.page_ink_map(page).mask.any()

    def test_faint_strokes_are_long_bent_and_thin(self):
        weak = np.zeros((100, 100), np.uint8)
        cv2.ellipse(weak, (30, 30), (10, 15), 0, 0, 360, 255, 1)  # long and round: kept
        cv2.line(weak, (70, 10), (72, 80), 255, 2)  # long and straight: a printed line's remnant
        cv2.circle(weak, (30, 80), 2, 255, -1)  # round but a speck of grain
        cv2.ellipse(weak, (85, 90), (8, 5), 0, 0, 360, 255, -1)  # large and round but solid: a blotch of noise
        kept = paper._faint_strokes(weak, np.zeros(weak.shape, np.float32))
        assert kept[10:50, 15:45].any() and not kept[:, 60:].any() and not kept[70:90, 20:40].any()

    def test_a_faint_stroke_along_a_printed_line_is_the_line(self):
        weak = np.zeros((100, 100), np.uint8)
        cv2.ellipse(weak, (30, 30), (10, 15), 0, 0, 360, 255, 1)
        printed = np.zeros(weak.shape, np.float32)
        printed[10:50, 15:45] = 0.1  # the same place is a printed line's band
        assert not paper._faint_strokes(weak, printed).any()


class TestDigitsAtTheFramesEdge:
    """On a photo nothing that touches the frame's edge is read (the desk, the sheet's edge, a vignetted rim come in
    from there), so a digit written where such broad ink reaches it is cut free of it first."""

    @staticmethod
    def mask(joined: list[np.ndarray]) -> np.ndarray:
        """A 320x240 page's mask: a broad band of the desk along the bottom edge, two ellipses (digits) clear of it
        above, and each of `joined` (uint8 0/255 masks of the same size) drawn in, joined to the band."""
        mask = np.zeros((240, 320), np.uint8)
        mask[226:, :] = 255  # the desk's rim: broad, at the edge
        cv2.ellipse(mask, (40, 180), (12, 20), 0, 0, 360, 255, 2)
        cv2.ellipse(mask, (160, 180), (12, 20), 0, 0, 360, 255, 2)
        for shape in joined:
            mask |= shape
        return mask

    def test_a_bent_stroke_in_a_row_of_digits_comes_free_and_a_straight_one_does_not(self):
        digit, line = np.zeros((240, 320), np.uint8), np.zeros((240, 320), np.uint8)
        cv2.ellipse(digit, (100, 200), (12, 24), 0, 0, 360, 255, 2)  # its bottom dips into the band
        cv2.line(line, (250, 170), (254, 230), 255, 2)  # the sheet's edge, straight, reaching into the band
        mask = self.mask([digit, line])

        freed = sheet.detached_from_edges(mask, preprocess._label(mask))

        assert freed is not None
        assert freed[176:215, 88:113].any()  # the digit, without the band
        assert not freed[165:225, 240:265].any()  # not the line
        assert not freed[232:, :].any()  # nor the band
        assert freed[160:200, 28:53].any()  # the digits clear of the edge stay

    def test_a_bent_stroke_with_no_digit_beside_it_stays_with_the_edge(self):
        lone = np.zeros((240, 320), np.uint8)
        cv2.ellipse(lone, (280, 110), (12, 24), 0, 0, 360, 255, 2)
        cv2.line(lone, (280, 134), (280, 239), 255, 6)  # a shadow's rim running to the edge, far from any row
        mask = self.mask([lone])
        freed = sheet.detached_from_edges(mask, preprocess._label(mask))

        assert freed is None or not freed[80:140, 260:300].any()


class TestDrawings:
    """A grey drawing (the Draw canvas) is ink on one background level: read without the photographed page's steps."""

    @staticmethod
    def canvas_with_a_seven(width: int) -> np.ndarray:
        canvas = np.full((280, 560, 4), 255, np.uint8)  # what streamlit-drawable-canvas returns: opaque RGBA
        cv2.line(canvas, (250, 50), (330, 50), (0, 0, 0, 255), width)
        cv2.line(canvas, (330, 50), (270, 230), (0, 0, 0, 255), width)
        return canvas

    @pytest.mark.parametrize("width", [4, 18, 40])  # the Draw page's pen widths: thinnest, default, widest
    def test_a_canvas_is_read_without_estimating_paper_or_printed_lines(self, recognizer, monkeypatch, width):
        def photographed(levels):
            raise AssertionError("a grey drawing went through the photographed page's steps")

        monkeypatch.setattr(paper, "_photo_mask", photographed)

        assert recognizer.read(self.canvas_with_a_seven(width)).number == "7"

    def test_its_ink_is_every_pixel_of_the_stroke(self):
        canvas = self.canvas_with_a_seven(40)
        ink = paper.page_ink_map(canvas)
        stroke = cv2.resize(255 - canvas[:, :, 0], ink.mask.shape[::-1], interpolation=cv2.INTER_AREA) > 200

        assert (ink.mask[stroke] > 0).all()
        assert not ink.photograph and not ink.printed.any()

    def test_a_drawing_in_colour_is_still_read_as_a_page(self, recognizer, monkeypatch):
        calls = []
        photo_mask = paper._photo_mask
        monkeypatch.setattr(paper, "_photo_mask", lambda levels: calls.append(levels.shape) or photo_mask(levels))
        canvas = self.canvas_with_a_seven(18)
        canvas[canvas[:, :, 0] < 128] = (200, 30, 30, 255)  # a red pen

        assert recognizer.read(canvas).number == "7"
        assert calls  # a colour image may be a camera's frame whose paper clipped to one level

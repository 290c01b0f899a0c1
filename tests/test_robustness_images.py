"""Robustness of the image path: broken, odd, blank, noisy and huge images, by file, array, CLI and Draw-page upload."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from resources import REPO, assert_one_line_error

from core.imageio import MAX_PIXELS, ImageFileError, read_image_bytes, read_image_file

DIGIT_INDEX = 0  # MNIST test image 0: a clearly written 7
# TensorFlow's C++ start-up lines (absl) go to stderr before Python runs; they are not the CLI's own output.
TENSORFLOW_CHATTER = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWE]\d{4} )")


def paper_digit(mnist_image: np.ndarray, scale: int = 3, margin: int = 50) -> np.ndarray:
    """A real MNIST digit as dark ink on white paper, enlarged with a margin.  (28, 28) uint8 -> (H, W) uint8."""
    enlarged = cv2.resize(mnist_image, (28 * scale, 28 * scale), interpolation=cv2.INTER_LINEAR)
    return np.pad(255 - enlarged, margin, constant_values=255)


def transparent_strokes(paper: np.ndarray, ink_level: int) -> np.ndarray:
    """Strokes of one shade on a fully transparent layer, as drawing apps export them.  (H, W) -> (H, W, 4) BGRA."""
    layer = np.zeros((*paper.shape, 4), np.uint8)
    layer[..., :3] = ink_level
    layer[..., 3] = 255 - paper  # opaque where the ink is
    return layer


@pytest.fixture(scope="module")
def digit(mnist):
    """(label, paper image) of the real MNIST digit used throughout."""
    return int(mnist.y_test[DIGIT_INDEX]), paper_digit(mnist.x_test[DIGIT_INDEX])


@pytest.fixture(scope="module")
def image_files(digit, tmp_path_factory):
    """Real image files written with OpenCV and Pillow, by kind: readable digits, images without one, broken files."""
    folder = tmp_path_factory.mktemp("images")
    _, paper = digit
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "digit.png"), paper)
    cv2.imwrite(str(folder / "digit.jpg"), paper, [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(folder / "digit-16bit.png"), paper.astype(np.uint16) * 257)
    Image.fromarray(paper).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "digit-palette.png")
    cv2.imwrite(str(folder / "digit-blue-ink.png"), np.dstack([np.full_like(paper, 255), paper, paper]))  # BGR: blue ink
    cv2.imwrite(str(folder / "dark-strokes-on-transparent.png"), transparent_strokes(paper, 0))
    cv2.imwrite(str(folder / "light-strokes-on-transparent.png"), transparent_strokes(paper, 255))
    cv2.imwrite(str(folder / "white.png"), np.full((200, 200), 255, np.uint8))
    cv2.imwrite(str(folder / "black.png"), np.zeros((200, 200), np.uint8))
    cv2.imwrite(str(folder / "one-pixel.png"), np.zeros((1, 1), np.uint8))
    cv2.imwrite(str(folder / "noise.png"), rng.integers(0, 256, (200, 200), dtype=np.uint8))
    cv2.imwrite(str(folder / "colour-noise.jpg"), rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    (folder / "empty.png").write_bytes(b"")
    png, jpeg = (folder / "digit.png").read_bytes(), (folder / "digit.jpg").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "cut-at-the-header.jpg").write_bytes(jpeg[:40])
    (folder / "text.png").write_text("These are notes, not an image.\n")
    # 144 megapixels of white: the PNG is small, but decoding it would take 144 MB (432 MB in colour).
    cv2.imwrite(str(folder / "huge.png"), np.full((12_000, 12_000), 255, np.uint8))
    return folder


READABLE = [
    "digit.png",
    "digit.jpg",
    "digit-16bit.png",
    "digit-palette.png",
    "digit-blue-ink.png",
    "dark-strokes-on-transparent.png",
    "light-strokes-on-transparent.png",
]
WITHOUT_DIGIT = ["white.png", "black.png", "one-pixel.png", "noise.png", "colour-noise.jpg"]
BROKEN = {  # file -> what the one-line error must say
    "empty.png": "empty",
    "truncated.png": "damaged or truncated",
    "truncated.jpg": "damaged or truncated",
    "cut-at-the-header.jpg": "damaged or truncated",
    "text.png": "not an image",
    "huge.png": "megapixel limit",
}


class TestBrokenImageFiles:
    @pytest.mark.parametrize(("name", "problem"), BROKEN.items())
    def test_file_gives_one_line_error_naming_the_file_and_the_problem(self, image_files, name, problem):
        with pytest.raises(ImageFileError) as caught:
            read_image_file(image_files / name)

        assert_one_line_error(str(caught.value), name, problem)

    @pytest.mark.parametrize(("name", "problem"), BROKEN.items())
    def test_uploaded_bytes_give_the_same_error(self, image_files, name, problem):
        with pytest.raises(ImageFileError) as caught:
            read_image_bytes((image_files / name).read_bytes(), name)

        assert_one_line_error(str(caught.value), name, problem)

    def test_missing_file_is_named(self, tmp_path):
        with pytest.raises(ImageFileError, match=r"^gone\.png: cannot be opened"):
            read_image_file(tmp_path / "gone.png")

    def test_folder_is_not_an_image(self, tmp_path):
        (tmp_path / "photos.png").mkdir()

        with pytest.raises(ImageFileError, match=r"^photos\.png: is a folder"):
            read_image_file(tmp_path / "photos.png")


class TestUnusualImageFormats:
    @pytest.mark.parametrize("name", READABLE)
    def test_one_digit_is_classified(self, recognizer, digit, image_files, name):
        label, _ = digit

        assert recognizer.classify(read_image_file(image_files / name)).digit == label

    @pytest.mark.parametrize("name", READABLE)
    def test_digit_is_read_as_a_number(self, recognizer, digit, image_files, name):
        label, _ = digit

        assert recognizer.read(read_image_file(image_files / name)).number == str(label)

    def test_sixteen_bit_png_keeps_its_depth_and_matches_the_eight_bit_model_input(self, recognizer, image_files):
        deep, shallow = read_image_file(image_files / "digit-16bit.png"), read_image_file(image_files / "digit.png")

        assert deep.dtype == np.uint16
        np.testing.assert_allclose(recognizer.classify(deep).model_input, recognizer.classify(shallow).model_input, atol=1e-5)

    def test_dark_and_light_strokes_on_transparency_look_the_same_to_the_model(self, recognizer, image_files):
        dark = recognizer.classify(read_image_file(image_files / "dark-strokes-on-transparent.png"))
        light = recognizer.classify(read_image_file(image_files / "light-strokes-on-transparent.png"))

        np.testing.assert_allclose(dark.model_input, light.model_input, atol=1e-5)


def photo_with_orientation(orientation: int, format: str) -> bytes:
    """A picture of 5x3 blocks that all differ, saved with an EXIF orientation tag, as a phone camera saves photos."""
    blocks = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3) * 5  # (5, 3, 3) RGB
    pixels = np.kron(blocks, np.ones((8, 8, 1), np.uint8))  # (40, 24, 3): blocks survive JPEG's 8x8 compression
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = io.BytesIO()
    options = {"JPEG": {"quality": 100, "subsampling": 0}, "WEBP": {"lossless": True}}.get(format, {})
    Image.fromarray(pixels).save(stored, format=format, exif=exif.tobytes(), **options)
    return stored.getvalue()


class TestExifOrientation:
    @pytest.mark.parametrize("orientation", range(1, 9))
    @pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP", "TIFF"])
    def test_a_photo_is_turned_upright_as_pillows_exif_transpose_does(self, orientation, format):
        data = photo_with_orientation(orientation, format)
        upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
        read = read_image_bytes(data, "photo")[..., ::-1]  # BGR -> RGB

        assert read.shape == upright.shape
        np.testing.assert_allclose(read, upright, atol=2)  # JPEG decoders may differ by a level or two

    @pytest.mark.parametrize("format", ["JPEG", "TIFF"])
    def test_a_sideways_photo_comes_out_taller_than_wide(self, format):
        sideways = read_image_bytes(photo_with_orientation(6, format), "photo")

        assert sideways.shape[:2] == (24, 40)


class TestImagesWithoutADigit:
    @pytest.mark.parametrize("name", WITHOUT_DIGIT)
    def test_classify_says_no_digit(self, recognizer, image_files, name):
        prediction = recognizer.classify(read_image_file(image_files / name))

        assert prediction.digit is None

    @pytest.mark.parametrize("name", WITHOUT_DIGIT)
    def test_read_finds_no_number(self, recognizer, image_files, name):
        reading = recognizer.read(read_image_file(image_files / name))

        assert reading.number == "" and reading.digits == ()

    def test_uniform_noise_is_no_digit_whatever_its_seed(self, recognizer):
        # Such noise survives the median filter as one blob the size of the image; the network alone may call it
        # a 1 or an 8, so the blob's hundreds of enclosed holes must rule it out first.
        images = [np.random.default_rng(seed).integers(0, 256, (200, 200), dtype=np.uint8) for seed in range(10)]

        assert [recognizer.classify(image).digit for image in images] == [None] * 10
        assert [recognizer.read(image).number for image in images] == [""] * 10

    def test_salt_and_pepper_noise_is_not_read_as_a_number(self, recognizer):
        numbers = []
        for density, shape in ((0.01, (200, 200)), (0.05, (200, 200)), (0.2, (200, 200)), (0.2, (480, 640)), (0.5, (480, 640))):
            for seed in range(3):
                specks = np.random.default_rng(seed).random(shape) < density
                numbers.append(recognizer.read(np.where(specks, 0, 255).astype(np.uint8)).number)

        assert numbers == [""] * len(numbers)


MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from core import preprocess
    from core.imageio import ImageFileError, read_image_file

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    before = peak_mb()
    report = {}
    try:
        ink = preprocess.ink_map(read_image_file(sys.argv[1]))
        report["ink_shape"] = list(ink.ink.shape)
    except ImageFileError as error:
        report["error"] = str(error)
    report["peak_growth_mb"] = peak_mb() - before
    print(json.dumps(report))
    """
)


def probe_memory(path: Path) -> dict:
    """Read and preprocess one image in a fresh Python (no TensorFlow) and report how far its peak memory grew."""
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)], cwd=REPO, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


class TestHugeImages:
    def test_12000_pixel_square_is_refused_before_its_pixels_are_decoded(self, image_files):
        report = probe_memory(image_files / "huge.png")

        assert "12000x12000 pixels is over the 40 megapixel limit" in report["error"]
        assert report["peak_growth_mb"] < 60  # decoding alone would take 144 MB

    def test_largest_accepted_photo_is_shrunk_within_bounded_memory(self, tmp_path):
        height, width = 5_000, MAX_PIXELS // 5_000  # exactly at the limit, with transparency: the costliest kind
        layer = np.zeros((height, width, 4), np.uint8)
        cv2.putText(layer, "7", (width // 3, 4 * height // 5), cv2.FONT_HERSHEY_SIMPLEX, 60, (0, 0, 0, 255), 300)
        cv2.imwrite(str(tmp_path / "poster.png"), layer)
        del layer

        report = probe_memory(tmp_path / "poster.png")

        assert max(report["ink_shape"]) == 1024  # preprocessing works on a shrunk copy
        assert report["peak_growth_mb"] < 900  # 160 MB decoded; a float copy of all four channels alone would be 640 MB


class TestCanvasAndFrameArrays:
    def test_blank_canvas_has_no_digit(self, recognizer):
        canvas = np.full((280, 560, 4), 255, np.uint8)  # st_canvas: RGBA, white background, opaque

        assert recognizer.read(canvas).number == "" and recognizer.classify(canvas).digit is None

    def test_fully_transparent_canvas_has_no_digit(self, recognizer):
        canvas = np.zeros((280, 560, 4), np.uint8)

        assert recognizer.read(canvas).number == "" and recognizer.classify(canvas).digit is None

    def test_read_only_canvas_with_a_digit_is_read(self, recognizer, digit):
        label, paper = digit
        canvas = np.full((280, 560, 4), 255, np.uint8)
        canvas[40 : 40 + paper.shape[0], 180 : 180 + paper.shape[1], :3] = paper[..., None]
        canvas.flags.writeable = False  # the canvas component hands over a read-only buffer

        assert recognizer.read(canvas).number == str(label)

    @pytest.mark.parametrize("kind", ["black", "grey", "noise"])
    def test_empty_camera_frame_has_no_digit(self, recognizer, kind):
        frames = {
            "black": np.zeros((480, 640, 3), np.uint8),
            "grey": np.full((480, 640, 3), 128, np.uint8),
            "noise": np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        }

        assert recognizer.read(frames[kind]).number == ""

    def test_camera_frame_with_a_digit_is_read(self, recognizer, digit):
        label, paper = digit
        frame = np.full((480, 640, 3), 200, np.uint8)  # grey-ish paper filling the view
        frame[100 : 100 + paper.shape[0], 220 : 220 + paper.shape[1]] = (paper[..., None] * (200 / 255)).astype(np.uint8)

        assert recognizer.read(frame).number == str(label)


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *arguments], cwd=REPO, capture_output=True, text=True, timeout=600)


def own_stderr_lines(completed: subprocess.CompletedProcess) -> list[str]:
    return [line for line in completed.stderr.splitlines() if line.strip() and not TENSORFLOW_CHATTER.match(line)]


@pytest.fixture(scope="module")
def cli_single(image_files):
    """`python -m core predict --single --json` over every file, good and bad, in one process."""
    names = [*READABLE, *WITHOUT_DIGIT, *BROKEN, "missing.png"]
    return run_cli("predict", "--single", "--json", *(str(image_files / name) for name in names))


@pytest.fixture(scope="module")
def cli_read(image_files):
    """`python -m core predict --json` (reading numbers) over images without a digit and two broken files."""
    names = [*WITHOUT_DIGIT, "truncated.png", "text.png", "digit.jpg"]
    return run_cli("predict", "--json", *(str(image_files / name) for name in names))


def answers(completed: subprocess.CompletedProcess) -> dict[str, dict]:
    records = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    return {Path(record["file"]).name: record for record in records}


class TestCommandLinePredict:
    def test_exit_code_is_non_zero_when_some_files_fail(self, cli_single):
        assert cli_single.returncode == 1

    def test_every_error_is_one_line_starting_with_error_and_naming_the_file(self, cli_single):
        lines = own_stderr_lines(cli_single)

        assert "Traceback" not in cli_single.stderr
        assert all(line.startswith("error: ") for line in lines), lines
        assert sorted(line.split(":")[1].strip() for line in lines) == sorted([*BROKEN, "missing.png"])

    @pytest.mark.parametrize(("name", "problem"), BROKEN.items())
    def test_error_line_says_what_is_wrong(self, cli_single, name, problem):
        (line,) = [line for line in own_stderr_lines(cli_single) if line.startswith(f"error: {name}:")]

        assert problem in line

    def test_readable_files_are_still_answered_with_the_right_digit(self, cli_single, digit):
        label, _ = digit
        answered = answers(cli_single)

        assert {name: answered[name]["digit"] for name in READABLE} == dict.fromkeys(READABLE, label)

    def test_images_without_a_digit_answer_null(self, cli_single):
        answered = answers(cli_single)

        assert {name: answered[name]["digit"] for name in WITHOUT_DIGIT} == dict.fromkeys(WITHOUT_DIGIT)

    def test_reading_numbers_gives_an_empty_number_for_images_without_a_digit(self, cli_read, digit):
        label, _ = digit
        answered = answers(cli_read)

        assert {name: answered[name]["number"] for name in WITHOUT_DIGIT} == dict.fromkeys(WITHOUT_DIGIT, "")
        assert answered["digit.jpg"]["number"] == str(label)

    def test_reading_numbers_reports_broken_files_the_same_way(self, cli_read):
        lines = own_stderr_lines(cli_read)

        assert cli_read.returncode == 1 and "Traceback" not in cli_read.stderr
        assert [line.split(":")[1].strip() for line in lines] == ["truncated.png", "text.png"]


@pytest.fixture(scope="module")
def draw_page():
    """The Draw page under Streamlit's AppTest, reached through app.py as a user would."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=300).run()
    app.switch_page("pages/draw.py").run()
    return app


def upload_photo(app, name: str, content: bytes):
    app.file_uploader(key="draw_upload").set_value((name, content, "image/png")).run()
    return app


class TestDrawPageUploads:
    @pytest.mark.parametrize("name", ["empty.png", "truncated.png", "truncated.jpg", "text.png", "huge.png"])
    def test_broken_upload_shows_one_error_sentence_naming_the_file(self, draw_page, image_files, name):
        app = upload_photo(draw_page, name, (image_files / name).read_bytes())

        assert not app.exception
        (error,) = app.main.error
        assert_one_line_error(error.value, name, BROKEN[name])

    def test_good_upload_after_a_broken_one_is_read(self, draw_page, image_files, digit):
        label, _ = digit
        upload_photo(draw_page, "text.png", (image_files / "text.png").read_bytes())

        app = upload_photo(draw_page, "digit.png", (image_files / "digit.png").read_bytes())

        assert not app.exception and not app.main.error
        assert any(f"**Read:** {label}" in block.value for block in app.markdown)

"""The command line, `python -m core`, run as a user runs it: real image files, real MNIST, the shipped model."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from resources import REPO

from core.cli import main
from core.config import parameters
from core.model import SHIPPED_MODEL, read_card

COMMANDS = ["train", "personalize", "touching", "evaluate", "predict", "info", "measure", "bench"]
SINGLE_DIGITS = (0, 1, 2)  # indices of MNIST test digits written to PNG files
ROW_DIGITS = (3, 4, 5, 6)


def run_cli(*arguments: str, mnist_path: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MNIST_PATH": mnist_path}
    return subprocess.run(
        [sys.executable, "-m", "core", *arguments], cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout
    )


def error_lines(stderr: str) -> list[str]:
    """The CLI's own messages; TensorFlow's start-up notices on stderr are not the CLI's."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def images(mnist, tmp_path_factory):
    """PNG files as a user would have them: single digits on white paper, a row of digits, and a broken file."""
    folder = tmp_path_factory.mktemp("images")
    singles = []
    for index in SINGLE_DIGITS:
        page = np.full((200, 300), 255, np.uint8)
        page[50:134, 90:174] = 255 - cv2.resize(mnist.x_test[index], (84, 84), interpolation=cv2.INTER_CUBIC)
        path = folder / f"digit_{index}.png"
        cv2.imwrite(str(path), page)
        singles.append(path)
    row = np.full((160, 60 + 110 * len(ROW_DIGITS)), 255, np.uint8)
    for slot, index in enumerate(ROW_DIGITS):
        row[40:120, 30 + 110 * slot : 110 + 110 * slot] = 255 - cv2.resize(mnist.x_test[index], (80, 80), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(folder / "row.png"), row)
    broken = folder / "broken.png"
    broken.write_text("this is a text file with an image's name")
    return {"singles": singles, "row": folder / "row.png", "broken": broken}


@pytest.fixture(scope="module")
def evaluate_run(mnist):
    return run_cli("evaluate", "--json", "--limit", "500", mnist_path=mnist.source)


@pytest.fixture(scope="module")
def single_run(mnist, images):
    first, second, third = images["singles"]
    return run_cli("predict", "--single", "--json", str(first), str(images["broken"]), str(second), str(third), mnist_path=mnist.source)


@pytest.fixture(scope="module")
def row_run(images):
    """`predict --json` on the row image, through the same main() in this process (one TensorFlow start fewer)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["predict", "--json", str(images["row"])])
    return subprocess.CompletedProcess(["python", "-m", "core", "predict"], code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def train_run(mnist, tmp_path_factory):
    output = tmp_path_factory.mktemp("trained") / "cli.keras"
    switches_off = [
        "--no-" + spec.name.replace("_", "-") for spec in parameters() if spec.name.startswith("augment_") and spec.type in (bool, "bool")
    ]
    arguments = [
        *["train", "--epochs", "1", "--train-size", "500", "--batch-size", "64", "--seed", "3", "--name", "cli"],
        *switches_off,
        "--output",
        str(output),
    ]
    return run_cli(*arguments, mnist_path=mnist.source), output


class TestHelp:
    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_explains_itself(self, command, capsys):
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])

        assert exited.value.code == 0
        assert f"usage: python -m core {command}" in capsys.readouterr().out

    def test_train_has_a_flag_for_every_config_field(self, capsys):
        with pytest.raises(SystemExit):
            main(["train", "--help"])
        text = capsys.readouterr().out

        assert all("--" + spec.name.replace("_", "-") in text for spec in parameters())

    def test_no_command_is_a_usage_error(self, capsys):
        with pytest.raises(SystemExit) as exited:
            main([])

        assert exited.value.code == 2
        assert "COMMAND" in capsys.readouterr().err


class TestEvaluate:
    def test_prints_one_json_object_with_the_scores(self, evaluate_run):
        assert evaluate_run.returncode == 0, evaluate_run.stderr
        lines = evaluate_run.stdout.strip().splitlines()
        report = json.loads(lines[0])

        assert len(lines) == 1
        assert {"accuracy", "loss", "n", "per_class"} <= set(report)
        assert report["n"] == 500
        assert [row["digit"] for row in report["per_class"]] == list(range(10))

    def test_accuracy_is_the_models_accuracy_on_the_first_test_images(self, evaluate_run, recognizer, mnist):
        report = json.loads(evaluate_run.stdout)
        predictions = recognizer.raw_probabilities(mnist.x_test[:500] / np.float32(255)).argmax(axis=1)

        assert report["accuracy"] == pytest.approx(float((predictions == mnist.y_test[:500]).mean()), abs=1e-6)
        assert sum(row["support"] for row in report["per_class"]) == 500


class TestPredictSingle:
    def test_answers_every_good_file_with_one_json_line(self, single_run, images):
        records = [json.loads(line) for line in single_run.stdout.strip().splitlines()]

        assert [record["file"] for record in records] == [str(path) for path in images["singles"]]
        for record in records:
            assert {"file", "digit", "confidence", "probabilities"} <= set(record)
            assert len(record["probabilities"]) == 10
            assert sum(record["probabilities"]) == pytest.approx(1.0, abs=1e-3)

    def test_reads_the_digits_in_the_files(self, single_run, mnist):
        digits = [json.loads(line)["digit"] for line in single_run.stdout.strip().splitlines()]

        assert digits == [int(mnist.y_test[index]) for index in SINGLE_DIGITS]

    def test_a_bad_file_gets_one_error_line_and_no_traceback(self, single_run):
        errors = error_lines(single_run.stderr)

        assert len(errors) == 1 and "broken.png" in errors[0]
        assert "Traceback" not in single_run.stderr

    def test_a_bad_file_makes_the_exit_code_non_zero(self, single_run):
        assert single_run.returncode != 0


class TestPredictNumber:
    def test_reads_the_row_as_a_number_with_boxes(self, row_run, mnist, images):
        assert row_run.returncode == 0, row_run.stderr
        lines = row_run.stdout.strip().splitlines()
        record = json.loads(lines[0])

        assert len(lines) == 1 and record["file"] == str(images["row"])
        assert record["number"] == "".join(str(mnist.y_test[index]) for index in ROW_DIGITS)
        assert [digit["digit"] for digit in record["digits"]] == [int(mnist.y_test[index]) for index in ROW_DIGITS]

    def test_boxes_are_x_y_width_height_left_to_right(self, row_run):
        digits = json.loads(row_run.stdout)["digits"]

        for slot, digit in enumerate(digits):
            x, y, width, height = digit["box"]
            assert x <= 30 + 110 * slot + 40 <= x + width  # the centre of the slot the digit was written in
            assert y <= 80 <= y + height
        assert [digit["box"][0] for digit in digits] == sorted(digit["box"][0] for digit in digits)


class TestBadModel:
    def test_missing_model_file_is_one_error_line_and_a_non_zero_exit(self, images, tmp_path, capsys):
        code = main(["predict", "--model", str(tmp_path / "missing.keras"), str(images["singles"][0])])
        errors = error_lines(capsys.readouterr().err)

        assert code != 0
        assert len(errors) == 1 and "missing.keras" in errors[0]

    def test_file_that_is_not_a_model_is_one_error_line_and_a_non_zero_exit(self, images, capsys):
        code = main(["evaluate", "--model", str(images["broken"]), "--json"])
        captured = capsys.readouterr()

        assert code != 0
        assert len(error_lines(captured.err)) == 1 and "broken.png" in captured.err
        assert captured.out == ""


class TestInfo:
    def test_prints_the_shipped_models_card_as_json(self, capsys):
        assert main(["info", "--json"]) == 0

        assert json.loads(capsys.readouterr().out) == json.loads(read_card(SHIPPED_MODEL).to_json())

    def test_human_summary_names_the_model_and_its_accuracy(self, capsys):
        assert main(["info"]) == 0
        text = capsys.readouterr().out

        assert text.startswith(f"{SHIPPED_MODEL.name}: ")
        assert "test_accuracy" in text


@pytest.mark.slow
class TestTrain:
    def test_writes_the_model_to_the_output_path(self, train_run):
        completed, output = train_run

        assert completed.returncode == 0, completed.stderr
        assert output.is_file()
        assert f"Saved {output}" in completed.stdout

    def test_flags_reach_the_saved_card(self, train_run):
        _, output = train_run
        card = read_card(output)

        assert card.name == "cli"
        config = card.train_config
        assert (config.epochs, config.train_size, config.batch_size, config.seed) == (1, 500, 64, 3)
        assert config.augmentations == ()
        assert card.metrics["test_n"] == 10_000

    def test_out_of_range_flag_is_one_error_line(self, capsys):
        code = main(["train", "--epochs", "0"])
        errors = error_lines(capsys.readouterr().err)

        assert code != 0
        assert len(errors) == 1 and "epochs" in errors[0]


def test_personalize_teaches_a_folder_of_samples_and_saves_the_model(mnist, tmp_path):
    from benchmarks.devsets import load_semeion

    images, labels = load_semeion()
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        for index in rng.choice(np.flatnonzero(labels == digit), 3, replace=False):
            cv2.imwrite(str(folder / str(digit) / f"{index}.png"), cv2.resize(images[index], (64, 64), interpolation=cv2.INTER_NEAREST))
    output = tmp_path / "personal.keras"

    run = run_cli("personalize", "--samples", str(folder), "--output", str(output), "--folds", "1", mnist_path=mnist.source)

    assert run.returncode == 0, run.stderr[-2000:]
    assert "30 samples" in run.stdout and f"Saved {output}" in run.stdout
    card = read_card(output)
    assert card.name.endswith("(personal)") and "personal samples (0: 3, 1: 3" in card.data_source
    assert card.metrics["test_accuracy"] >= 0.99  # MNIST is not forgotten


def test_personalize_answers_a_missing_folder_in_one_line(mnist, tmp_path):
    run = run_cli("personalize", "--samples", str(tmp_path / "nowhere"), "--output", str(tmp_path / "p.keras"), mnist_path=mnist.source)

    assert run.returncode == 2
    assert len(error_lines(run.stderr)) == 1 and "no such folder" in error_lines(run.stderr)[0]
    assert not (tmp_path / "p.keras").exists()


def test_touching_trains_a_detector_and_saves_it_with_its_light_copy_beside_it(mnist, tmp_path):
    output = tmp_path / "detector" / "touching.keras"
    run = run_cli(
        "touching", "--examples", "300", "--frames", "1", "--epochs", "1", "--output", str(output), "--json", mnist_path=mnist.source
    )

    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["path"] == str(output) and 0.0 <= summary["held_out_accuracy"] <= 1.0
    assert output.is_file() and len(list((output.parent / "serving").glob("*.tflite"))) == 1


def test_touching_answers_a_bad_count_in_one_line(mnist, tmp_path):
    run = run_cli("touching", "--examples", "0", "--output", str(tmp_path / "t.keras"), mnist_path=mnist.source)

    assert run.returncode == 2
    assert len(error_lines(run.stderr)) == 1 and "--examples" in error_lines(run.stderr)[0]
    assert not (tmp_path / "t.keras").exists()

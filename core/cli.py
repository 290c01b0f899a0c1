"""Command line: python -m core train | personalize | touching | evaluate | predict | info | measure | bench."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import TrainConfig, parameters
from core.data import DatasetError
from core.imageio import ImageFileError
from core.modelfile import SHIPPED_MODEL, ModelFileError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (DatasetError, ModelFileError, ImageFileError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a folder that cannot be written, a full disk: the file and the reason, no traceback
        where = f"{Path(error.filename).name}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Handwritten digit recognition: train, evaluate, read images.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="Train a CNN on MNIST and save it with its model card.")
    for spec in parameters():
        meta = spec.metadata
        flag = "--" + spec.name.replace("_", "-")
        text = meta["help"].replace("%", "%%")  # argparse formats help with %, and some help texts say "10%"
        if spec.type in ("bool", bool):
            train.add_argument(flag, action=argparse.BooleanOptionalAction, default=spec.default, help=text)
        else:
            kind = {"int": int, "float": float, "str": str}[spec.type if isinstance(spec.type, str) else spec.type.__name__]
            train.add_argument(flag, type=kind, default=spec.default, choices=meta["choices"], help=f"{text} (default {spec.default})")
    train.add_argument("--output", type=Path, help="Where to save the .keras file (default: a new file in the user models folder).")
    train.add_argument("--name", default="mnist_cnn", help="Name written in the model card.")
    train.set_defaults(run=_train)

    teach = commands.add_parser("personalize", help="Teach a personal copy of a model your handwriting, from folders 0/ to 9/ of images.")
    _model_option(teach)
    teach.add_argument("--samples", type=Path, required=True, help="A folder holding 0/ ... 9/, each with images of that digit.")
    teach.add_argument("--output", type=Path, required=True, help="Where to save the personal .keras model and its card.")
    teach.add_argument("--seed", type=int, default=0, help="The same seed and samples give the same model.")
    teach.add_argument("--folds", type=int, default=3, help="Cross-validation folds for the held-out figures (1 to skip).")
    teach.set_defaults(run=_personalize)

    touching = commands.add_parser("touching", help="Train the detector that tells one digit from two written touching.")
    touching.add_argument("--output", type=Path, help="Where to save it (default: the shipped models/touching.keras).")
    touching.add_argument("--seed", type=int, default=0, help="Seeds the examples made and the network's first weights.")
    touching.add_argument("--examples", type=int, default=80_000, help="Shapes made of MNIST training digits (default 80,000).")
    touching.add_argument("--frames", type=int, default=1_500, help="Webcam frames whose shapes are added (default 1,500).")
    touching.add_argument("--epochs", type=int, default=6, help="Passes over the examples (default 6).")
    touching.add_argument("--json", action="store_true", help="Print one JSON object.")
    touching.set_defaults(run=_touching)

    evaluate = commands.add_parser("evaluate", help="Evaluate a model on the 10,000 MNIST test images.")
    _model_option(evaluate)
    evaluate.add_argument("--limit", type=int, help="Evaluate on the first N test images only.")
    evaluate.add_argument("--json", action="store_true", help="Print one JSON object.")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="Read the digits in image files.")
    _model_option(predict)
    predict.add_argument("--single", action="store_true", help="Each image holds one digit (else: read all digits as a number).")
    predict.add_argument("--json", action="store_true", help="Print one JSON line per image.")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    predict.set_defaults(run=_predict)

    info = commands.add_parser("info", help="Show a model's card: how it was trained and how well it does.")
    _model_option(info)
    info.add_argument("--json", action="store_true", help="Print the card as JSON.")
    info.set_defaults(run=_info)

    measure = commands.add_parser("measure", help="Accuracy on real non-MNIST handwriting and on synthetic camera frames.")
    _model_option(measure)
    measure.add_argument("--frames", type=int, default=500, help="How many camera-like frames (MNIST digits on paper) to read.")
    measure.add_argument("--realistic", type=int, default=500, help="How many realistic webcam frames of pen handwriting to read.")
    measure.add_argument("--clips", type=int, default=100, help="How many half-second clips of such a sheet to read live.")
    measure.add_argument("--whole-sheet", type=int, default=200, help="How many frames of a small sheet seen whole to read.")
    measure.add_argument(
        "--baseline", default="63afb1a", help="Git commit whose reader is today's method on the realistic frames ('' to skip)."
    )
    measure.add_argument("--json", action="store_true", help="Print one JSON object.")
    measure.set_defaults(run=_measure)

    bench = commands.add_parser("bench", help="Latency, training speed, start-up and memory, against baselines.")
    _model_option(bench)
    bench.add_argument("--quick", action="store_true", help="Fewer repetitions and a smaller training run (for tests).")
    bench.add_argument("--json", action="store_true", help="Print one JSON object.")
    bench.set_defaults(run=_bench)
    return parser


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL, help=f"Model file (default: {SHIPPED_MODEL.name}).")


def _train(args: argparse.Namespace) -> int:
    from core.architecture import describe
    from core.data import load_mnist
    from core.modelfile import unique_model_path
    from core.training import train

    config = TrainConfig(**{spec.name: getattr(args, spec.name) for spec in parameters()})
    describe(config)  # a network that cannot be built is refused in one sentence now, not after loading MNIST
    if args.output is not None and args.output.suffix != ".keras":
        raise ValueError(f"{args.output.name}: models are saved in the .keras format; the output name should end in .keras.")
    output = args.output or unique_model_path(args.name)
    try:  # find out now, not after a long run, that the model could not be saved there
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{output.name}: cannot be saved in {output.parent} ({error.strerror or error}).") from error
    data = load_mnist()
    result = train(config, data, save_to=output, name=args.name, verbose=1 if sys.stdout.isatty() else 2)
    print(result.message)
    if result.model is None:
        return 1  # diverged: nothing saved
    if result.path is not None:
        print(f"Saved {result.path}")
    return 0


def _personalize(args: argparse.Namespace) -> int:
    from core.personalize import teach_folder

    if args.output.suffix != ".keras":
        raise ValueError(f"{args.output.name}: models are saved in the .keras format; the output name should end in .keras.")
    report = teach_folder(args.samples, args.output, args.model, seed=args.seed, folds=args.folds)
    print(report.summary())
    print(f"Saved {args.output}")
    return 0


def _touching(args: argparse.Namespace) -> int:
    import time

    from core.data import load_mnist
    from core.touching import TOUCHING_MODEL, save_detector, train_detector

    began = time.perf_counter()
    if min(args.examples, args.epochs) < 1 or args.frames < 0:
        raise ValueError("--examples and --epochs must be at least 1, and --frames at least 0.")
    model, accuracy = train_detector(load_mnist(), seed=args.seed, count=args.examples, frames=args.frames, epochs=args.epochs)
    output = args.output or TOUCHING_MODEL
    # The shipped detector's light runtime copy is committed beside the shipped models; another one goes beside it.
    path = save_detector(model, output, runtime_dir=None if output == TOUCHING_MODEL else output.parent / "serving", accuracy=accuracy)
    summary = {"path": str(path), "held_out_accuracy": round(accuracy, 4), "seconds": round(time.perf_counter() - began, 1)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"One digit or two, on shapes made of MNIST test digits: {accuracy:.2%} right ({summary['seconds']:.0f} s)")
        print(f"Saved {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from core.data import load_mnist
    from core.evaluate import evaluate_model
    from core.model import load_model

    model, _ = load_model(args.model)
    data = load_mnist()
    count = args.limit or len(data.x_test)
    evaluation = evaluate_model(model, data.x_test[:count], data.y_test[:count])
    report = evaluation.to_json()
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{args.model.name}: accuracy {evaluation.accuracy:.4f}, loss {evaluation.loss:.4f} on {evaluation.n} MNIST test images")
    print("digit  precision  recall  f1      support")
    for row in report["per_class"]:
        print(f"{row['digit']:>5}  {row['precision']:.4f}     {row['recall']:.4f}  {row['f1']:.4f}  {row['support']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import cv2

    from core.imageio import read_image_file
    from core.inference import Recognizer

    # NOTE: OpenCV prints its own warnings for damaged files ("PNG input buffer is incomplete"); the CLI reports
    # each bad file once, as one `error:` line, so OpenCV is told to keep quiet about what is reported anyway.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    recognizer = Recognizer.load(args.model)
    failures = 0
    for path in args.images:
        try:
            image = read_image_file(path)
            line = _single_line(recognizer, image) if args.single else _reading_line(recognizer, image)
        except (ImageFileError, ValueError) as error:
            failures += 1
            print(f"error: {error}" if str(error).startswith(path.name) else f"error: {path.name}: {error}", file=sys.stderr)
            continue
        record = {"file": str(path), **line}
        print(json.dumps(record) if args.json else _human(record))
    return 1 if failures else 0


def _single_line(recognizer: Any, image: Any) -> dict[str, Any]:
    prediction = recognizer.classify(image)
    return {
        "digit": prediction.digit,
        "confidence": round(prediction.confidence, 4),
        "probabilities": [round(float(value), 4) for value in prediction.probabilities],
    }


def _reading_line(recognizer: Any, image: Any) -> dict[str, Any]:
    reading = recognizer.read(image)
    digits = [{"digit": digit.digit, "confidence": round(digit.confidence, 4), "box": digit.box.as_list()} for digit in reading.digits]
    return {"number": reading.number, "digits": digits}


def _human(record: dict[str, Any]) -> str:
    if "number" in record:
        confidences = ", ".join(f"{digit['confidence']:.2f}" for digit in record["digits"])
        return f"{record['file']}: {record['number'] or 'no digits'}" + (f" (confidence {confidences})" if confidences else "")
    if record["digit"] is None:
        return f"{record['file']}: no digit (best guess confidence {record['confidence']:.2f})"
    return f"{record['file']}: {record['digit']} (confidence {record['confidence']:.2f})"


def _info(args: argparse.Namespace) -> int:
    from core.modelfile import check_model_file, read_card

    card = read_card(check_model_file(args.model))
    if args.json:
        print(card.to_json())
        return 0
    print(f"{args.model.name}: {card.summary()}")
    for key, value in sorted(card.metrics.items()):
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    if card.config:
        print("  trained with: " + ", ".join(f"{key}={value}" for key, value in card.config.items()))
    print(f"  calibration temperature: {card.temperature}")
    return 0


def _measure(args: argparse.Namespace) -> int:
    # NOTE: the measuring tools live beside the engine, in benchmarks/ (they may import Streamlit and Playwright),
    # and are imported only when a command asks for them.
    from benchmarks.measure import measure, report_table

    baseline = None
    if args.baseline:
        from benchmarks.camera_baseline import baseline_readings

        baseline = functools.partial(baseline_readings, ref=args.baseline)
    results = measure(
        args.model, frames=args.frames, realistic=args.realistic, baseline=baseline, clips=args.clips, whole_sheet=args.whole_sheet
    )
    print(json.dumps(results) if args.json else report_table(results))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.bench import bench
    from benchmarks.report import report_table

    results = bench(args.model, quick=args.quick)
    print(json.dumps(results) if args.json else report_table(results))
    return 0

"""Benchmark: the predict stage's inference against Ultralytics' own `predict`, on the same weights and image files.

The stage path (`pipeline.prediction.predict_folder` with the task's ONNX export run by onnxruntime: decoding by
content, reduced-scale JPEG decoding, batches, threads) and `YOLO(weights).predict` (the `.pt` the export came from)
classify the same files, alternating, best of `--rounds`, after a warm-up. It also prints how often the two agree.
Last line: `ratio=<stage images/s ÷ Ultralytics images/s>`.

    python bench/predict.py [--task minifigure] [--images DIR] [--limit 600] [--rounds 3] [--batch 32]

`--images` defaults to the real Kaggle photos in ../shared/data/lego-minifigures where they exist (the task's
test split otherwise); the model is the task's latest `train@<task>` output (models/<task>, run `dvc repro` first).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from pipeline import io, offline, paths  # noqa: E402
from pipeline.prediction import predict_folder  # noqa: E402
from pipeline.records import TrainRun  # noqa: E402
from pipeline.registry import LegoClassifier  # noqa: E402
from pipeline.torch_model import class_probabilities  # noqa: E402

REAL_PHOTOS = {"minifigure": paths.PROJECT_ROOT.parent / "shared" / "data" / "lego-minifigures"}


def best_rate(run, count: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return count / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minifigure")
    parser.add_argument("--images", type=Path)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    run = TrainRun.of(args.task)
    weights, onnx = run.weight_files()[0], run.onnx_files()[0]
    source = args.images or next(
        (p for p in [REAL_PHOTOS.get(args.task)] if p and p.is_dir()), paths.YOLO / args.task / "test"
    )
    files = io.list_images(source)[: args.limit]
    if not files:
        raise SystemExit(f"{source}: no images")
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        folder = Path(tmp)  # the stage walks a folder: the same files, linked into one
        for i, path in enumerate(files):
            (folder / f"{i:05d}{path.suffix}").symlink_to(path.resolve())
        ordered = io.list_files(folder)

        stage = LegoClassifier()
        stage.load(onnx=[onnx])
        yolo = offline.ultralytics().YOLO(str(weights), task="classify")
        predict_folder(stage, folder, args.batch, 5, desc=None)  # warm-up: sessions, threads, page cache
        class_probabilities(yolo, [str(p) for p in ordered[: args.batch]], args.batch)

        stage_rate = best_rate(lambda: predict_folder(stage, folder, args.batch, 5, desc=None), len(files), args.rounds)
        ultra_rate = best_rate(
            lambda: class_probabilities(yolo, [str(p) for p in ordered], args.batch), len(files), args.rounds
        )
        ours = np.array(stage.answer(ordered, 5, args.batch)[0]["probabilities"].tolist())
        theirs = class_probabilities(yolo, [str(p) for p in ordered], args.batch)
    agree = float((ours.argmax(axis=1) == theirs.argmax(axis=1)).mean())
    print(f"task={args.task} images={len(files)} from {source} imgsz={stage.model.imgsz} batch={args.batch}")
    print(f"Ultralytics predict ({weights.name}, torch): {ultra_rate:.1f} images/s")
    print(f"predict stage ({onnx.name}, onnxruntime):    {stage_rate:.1f} images/s")
    print(f"top-1 agreement {agree:.2%}, largest probability difference {np.abs(ours - theirs).max():.4f}")
    print(f"ratio={stage_rate / ultra_rate:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: the train stage's throughput against Ultralytics' trainer alone on the same split and settings.

The stage adds MLflow tracking (run, params, per-epoch metrics, artifacts) around Ultralytics' own
trainer; this measures what that costs. Both runs train in this process (imports are paid once),
alternating, best of `--rounds`, into temporary folders and a temporary MLflow store, so the
project's DVC outputs and `mlflow/` are untouched. Last line: `ratio=<stage images/s ÷ plain images/s>`.

    python bench/train_overhead.py [--task minifigure] [--epochs 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import params, paths  # noqa: E402
from pipeline.backbones import BackboneTrainer  # noqa: E402
from pipeline.records import SplitReport  # noqa: E402
from pipeline.training import train_args, train_tracked  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minifigure")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    dataset = paths.YOLO / args.task
    if not (dataset / "train").is_dir():
        subprocess.run(["dvc", "repro", f"split@{args.task}"], cwd=paths.PROJECT_ROOT, check=True)
    config = params.load()
    settings = config.train_for(args.task).model_copy(update={"epochs": args.epochs})
    config = config.model_copy(update={"train": config.train.model_copy(update={args.task: settings})})
    split = SplitReport.of(args.task)
    images = split.images["train"] * args.epochs

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        stage_times, plain_times = [], []
        for round_ in range(args.rounds):
            start = time.perf_counter()
            BackboneTrainer(overrides=train_args(settings, dataset, Path(tmp) / f"plain{round_}", config.seed)).train()
            plain_times.append(time.perf_counter() - start)

            start = time.perf_counter()
            train_tracked(args.task, config, dataset, Path(tmp) / f"stage{round_}", split)
            stage_times.append(time.perf_counter() - start)

    plain, stage = images / min(plain_times), images / min(stage_times)
    print(
        f"task={args.task} epochs={args.epochs} train_images={split.images['train']} model={settings.model} imgsz={settings.imgsz}"
    )
    print(f"plain trainer:    {plain:.1f} images/s (best of {args.rounds}: {min(plain_times):.1f} s)")
    print(f"train stage:      {stage:.1f} images/s (best of {args.rounds}: {min(stage_times):.1f} s)")
    print(f"ratio={stage / plain:.3f}")


if __name__ == "__main__":
    main()

"""Benchmark: the train stage's recipe on the machine's accelerator (`device: auto`) against the same recipe on its CPU.

Trains each task on its split (`data/yolo/<task>`, `dvc repro split@<task>` first) with the task's `train` params
as Ultralytics' trainer runs them in the stage (`pipeline.training.train`: BackboneTrainer, AMP and channels-last
where the device has them, the ONNX export), without MLflow, into a temporary folder; then the same for
`--cpu-epochs` epochs with `device: cpu`. Prints per task the device, seconds per epoch, images/s, validation top-1
and the ONNX export's test top-1, and as its last line the smallest `speedup=<CPU s/epoch ÷ device s/epoch>`.

    python bench/train_device.py [--task minifigure --task theme] [--epochs N] [--cpu-epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from pipeline import params, paths  # noqa: E402
from pipeline.evaluation import labelled_images, top_k_accuracy  # noqa: E402
from pipeline.io import list_images  # noqa: E402
from pipeline.onnx_model import OnnxClassifier  # noqa: E402
from pipeline.params import Train  # noqa: E402
from pipeline.training import resolve_device, resolved, train  # noqa: E402


def device_name(settings: Train) -> str:
    import torch

    device = resolve_device(settings.device)
    if device == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    first = device[0] if isinstance(device, list) else int(device)
    count = len(device) if isinstance(device, list) else 1
    return f"{count} x {torch.cuda.get_device_name(first)} (torch {torch.__version__})"


def timed(settings: Train, dataset: Path, save_dir: Path, seed: int) -> tuple[float, float, float, float]:
    """Seconds per epoch (Ultralytics' own clock, training and validation), wall seconds of the whole training
    (set-up, final validation and ONNX export included), validation top-1 and the export's test top-1."""
    start = time.perf_counter()
    result = train(settings, dataset, save_dir, seed)
    wall = time.perf_counter() - start
    clock = pd.read_csv(result.results_csv)["time"]
    per_epoch = float(clock.iloc[-1]) / len(clock)
    test = labelled_images(dataset / "test")
    model = OnnxClassifier([result.onnx])
    probs = model.probabilities(list(test["path"]), 64)
    y_true = test["label"].map(model.names.index).to_numpy()
    return per_epoch, wall, result.val_top1, top_k_accuracy(y_true, probs, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", help="a declared task (default: every one)")
    parser.add_argument("--epochs", type=int, help="on the device (default: the task's train.<task>.epochs)")
    parser.add_argument("--cpu-epochs", type=int, default=2)
    args = parser.parse_args()

    config = params.load()
    speedups = []
    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp:
        for task in args.task or list(config.tasks):
            dataset = paths.YOLO / config.known_task(task)
            if not (dataset / "train").is_dir():
                sys.exit(f"{dataset}: no split (run `dvc repro split@{task}` first)")
            settings = resolved(config.train_for(task), task)  # as the stage does it
            if args.epochs:
                settings = settings.model_copy(update={"epochs": args.epochs})
            images = len(list_images(dataset / "train"))
            device = device_name(settings)
            per_epoch, wall, val, test = timed(settings, dataset, Path(tmp) / task / "device", config.seed)
            cpu_settings = settings.model_copy(update={"device": "cpu", "epochs": args.cpu_epochs})
            cpu_per_epoch, _, _, _ = timed(cpu_settings, dataset, Path(tmp) / task / "cpu", config.seed)
            speedups.append(cpu_per_epoch / per_epoch)
            print(
                f"{task}: {device}, {settings.epochs} epochs of {images} images at {settings.imgsz} px: "
                f"{per_epoch:.2f} s/epoch ({images / per_epoch:.0f} images/s), {wall:.0f} s in all; "
                f"val top-1 {val:.4f}, test top-1 {test:.4f} (ONNX); "
                f"cpu: {cpu_per_epoch:.2f} s/epoch over {args.cpu_epochs} epochs"
            )
    print(f"speedup={min(speedups):.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: batch prediction by the in-process engine against Ray Data (`predict.engine: ray`) on one folder.

Both run the task's registered champion (`dvc repro` first; `MLFLOW_TRACKING_URI` picks the store) over the same
`--count` files: the task's test images (or `--images DIR`) hard-linked over and over into a temporary folder. Each
engine runs once after a warm-up on a slice (Ray's start-up, model loading); the rows must agree exactly. Last line:
`ratio=<ray images/s ÷ in-process images/s>`. On one 2-core machine Ray adds scheduling and serialisation and gains
no cores: the figure that matters is on a cluster (RAY_ADDRESS), where each node adds its cores.

    python bench/predict_ray.py [--task minifigure] [--images DIR] [--count 10000] [--batch 32] [--actors N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from pipeline import io, paths, registry, tracking  # noqa: E402
from pipeline.prediction import predict_folder  # noqa: E402


def linked_folder(images: list[Path], count: int, target: Path) -> Path:
    target.mkdir()
    for i, image in zip(range(count), itertools.cycle(images)):
        os.link(image, target / f"{i:06d}{image.suffix.lower()}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="minifigure")
    parser.add_argument("--images", type=Path, default=None)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--actors", type=int, default=None)
    args = parser.parse_args()
    tracking.configure()
    import ray

    import mlflow
    from pipeline.ray_engine import RayClassifier

    images = io.list_files(args.images or paths.YOLO / args.task / "test")
    version, source = registry.registered_source(args.task)
    local_model = mlflow.pyfunc.load_model(source).unwrap_python_model()
    distributed = RayClassifier(source, args.actors)
    with tempfile.TemporaryDirectory(dir=paths.DATA) as tmp:  # same file system as the images: hard links
        warm = linked_folder(images, 256, Path(tmp) / "warm")
        folder = linked_folder(images, args.count, Path(tmp) / "all")
        predict_folder(local_model, warm, args.batch, 5, desc=None)
        predict_folder(distributed, warm, args.batch, 5, desc=None)
        timings, results = {}, {}
        for name, model in (("in-process", local_model), ("ray", distributed)):
            start = time.perf_counter()
            results[name] = predict_folder(model, folder, args.batch, 5, desc=None).predictions
            timings[name] = args.count / (time.perf_counter() - start)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        ray.shutdown()
    same = results["ray"].equals(results["in-process"])
    print(f"{args.task} champion v{version}, {args.count} images ({len(images)} distinct), {cpus} CPUs in Ray")
    for name, rate in timings.items():
        print(f"{name:11} {rate:8.1f} images/s")
    print(f"rows identical: {same}")
    if not same:
        diff = pd.concat([results["in-process"], results["ray"]]).drop_duplicates(keep=False)
        print(f"{len(diff)} differing rows, e.g.\n{diff.head()}")
    print(f"ratio={timings['ray'] / timings['in-process']:.2f}")


if __name__ == "__main__":
    main()

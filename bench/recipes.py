"""Recipes compared on held-out pictures: each candidate trained with several seeds on the current split, scored on
the validation and calibration pictures together (neither is trained on when the split ran with `split.refit:
false`), never on test.

Each recipe runs its whole schedule and is scored by its last weights (no epoch picked on the pictures it is scored
on). Per recipe it prints top-1, macro-F1 and balanced accuracy for each seed and for the seeds' mean probabilities
(what `train.<task>.ensemble` would give), and the ranking by macro-F1 last.

    python bench/recipes.py --task theme --seeds 42 1 2 \\
        --recipe now --recipe long:epochs=40 --recipe lite2:model=efficientnet-lite2,imgsz=260

A recipe is `name` (the task's `train` params as they are) or `name:key=value,...`; a key that is no field of
`train.<task>` (epochs, imgsz, model, lr0, …) is an Ultralytics train argument laid over its `overrides`.

`--probe efficientnet-lite1` also scores that backbone's frozen-feature linear probe (`bench/probe.py`) alone, and
each model averaged with it (1:1): a second ensemble member that costs seconds rather than a second training.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.probe import probe_probabilities  # noqa: E402
from pipeline import params, paths  # noqa: E402
from pipeline.evaluation import labelled_images, summarise  # noqa: E402
from pipeline.onnx_model import OnnxClassifier  # noqa: E402
from pipeline.params import Train  # noqa: E402
from pipeline.training import train  # noqa: E402


def recipe(spec: str, base: Train) -> tuple[str, Train]:
    name, _, assignments = spec.partition(":")
    fields, overrides = {}, dict(base.overrides)
    for assignment in filter(None, assignments.split(",")):
        key, _, value = assignment.partition("=")
        target = fields if key in Train.model_fields else overrides
        target[key] = yaml.safe_load(value)
    return name, Train.model_validate(base.model_dump() | fields | {"overrides": overrides})


def scores(y_true: np.ndarray, probs: np.ndarray, names: list[str], train_counts: dict) -> dict[str, float]:
    metrics = summarise(y_true, probs, names, train_counts)[0]
    return {k: float(metrics[k]) for k in ("top1", "macro_f1", "balanced_accuracy")}


def held_out_split(task: str) -> tuple[Path, pd.DataFrame, dict[str, int]]:
    """The task's split folder, the pictures scored (validation and calibration: with `split.refit: false` neither is
    trained on) and the training pictures per class."""
    dataset = paths.YOLO / params.load().known_task(task)
    held_out = pd.concat([labelled_images(dataset / s) for s in ("val", "calibration") if (dataset / s).is_dir()])
    train_counts = labelled_images(dataset / "train")["label"].value_counts().to_dict()
    print(f"{task}: {sum(train_counts.values())} training pictures, {len(held_out)} held out (val + calibration)")
    return dataset, held_out, train_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="theme")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--recipe", action="append", required=True)
    parser.add_argument("--probe", help="a packaged backbone whose linear probe joins each model (bench/probe.py)")
    args = parser.parse_args()

    config = params.load()
    dataset, held_out, train_counts = held_out_split(args.task)
    names = sorted(train_counts)  # Ultralytics' class order: the sorted class folders
    y_true = held_out["label"].map(names.index).to_numpy()
    probe = None
    if args.probe:
        imgsz = config.train_for(args.task).imgsz
        probe, c = probe_probabilities(args.probe, imgsz, labelled_images(dataset / "train"), held_out, names)
        print(f"{args.probe} probe @ {imgsz} (C {c}): {scores(y_true, probe, names, train_counts)}", flush=True)
    ranking = {}
    with tempfile.TemporaryDirectory(prefix="bench-recipes-") as tmp:
        for spec in args.recipe:
            name, settings = recipe(spec, config.train_for(args.task))
            member_probs = []
            for seed in args.seeds:
                result = train(settings, dataset, Path(tmp) / name / str(seed), seed, refit=True)
                model = OnnxClassifier([result.onnx])
                assert model.names == names, (model.names, names)
                probs = model.probabilities(list(held_out["path"]), 64)
                member_probs.append(probs)
                print(f"{name} seed {seed}: {scores(y_true, probs, names, train_counts)}", flush=True)
                if probe is not None:
                    with_probe = scores(y_true, (probs + probe) / 2, names, train_counts)
                    print(f"{name} seed {seed} + {args.probe} probe: {with_probe}", flush=True)
            mean = scores(y_true, np.mean(member_probs, axis=0), names, train_counts)
            ranking[name] = mean["macro_f1"]
            print(f"{name} mean of {len(args.seeds)} seeds: {mean}  [{spec}]", flush=True)
    print("ranking by macro-F1 of the seeds' mean: " + ", ".join(f"{n} {f:.3f}" for n, f in sorted(
        ranking.items(), key=lambda item: -item[1])))  # fmt: skip


if __name__ == "__main__":
    main()

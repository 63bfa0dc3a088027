"""Synthetic pretraining: a model trained from scratch on the project's own rendered data, to fine-tune from.

This is the first step of the from-scratch recipe (docs/recipe.md), for users who want no pretrained weights at
all: rendered minifigures (or box art) share what matters with real photos, so a network that learned them starts
from LEGO-shaped features rather than noise. `pretrain@<task>` makes it a DVC output, recorded in `dvc.lock`, and
`train.<task>.model: synthetic-pretrain` fine-tunes from it. Without a `pretrain.<task>` section the stage only
records that nothing was pretrained, in a second.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd

from pipeline import io, paths
from pipeline.manifest import class_folder
from pipeline.params import Params, Pretrain
from pipeline.providers import synthetic
from pipeline.themes import label_sets
from pipeline.training import train


def _place(files: list[tuple[Path, str]], folder: Path) -> None:
    """Copy `(image, class name)` pairs into Ultralytics' `folder/<class>/` layout."""
    for source, label in files:
        target = folder / label / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _minifigures(settings: Pretrain, params: Params, raw: Path, out: Path) -> None:
    """Rendered characters: index.csv rows train, test.csv rows validate."""
    synthetic.render_minifigures(
        raw, classes=settings.classes, train_per_class=settings.per_class, test_per_class=settings.per_class // 5,
        image_size=settings.image_size, seed=params.seed,
    )  # fmt: skip
    for csv, split in (("index.csv", "train"), ("test.csv", "val")):
        rows = pd.read_csv(raw / csv)
        _place([(raw / p, f"class{c:02d}") for p, c in zip(rows["path"], rows["class_id"])], out / split)


def _sets(settings: Pretrain, params: Params, raw: Path, out: Path) -> None:
    """Rendered box art labelled with `theme_groups` through the synthetic catalogue; every fifth validates."""
    count = settings.per_class * len(params.theme_groups)
    records = synthetic.render_sets(raw, count=count, image_height=settings.image_size, seed=params.seed)
    labelled = label_sets(
        *synthetic.synthetic_catalogue(params.seed), params.theme_groups, params.themes_left_out
    ).set_index("set_num")
    groups = [(raw / r["image"], labelled.at[r["set_id"], "theme_group"]) for r in records]
    groups = [(path, class_folder(group)) for path, group in groups if isinstance(group, str)]
    _place([g for i, g in enumerate(groups) if i % 5], out / "train")
    _place([g for i, g in enumerate(groups) if not i % 5], out / "val")


RENDERERS = {"minifigures": _minifigures, "sets": _sets}  # tasks.<task>.pretraining names one


def render_dataset(task: str, settings: Pretrain, params: Params, out: Path) -> Path:
    """The task's synthetic data as `out/{train,val}/<class>/`, drawn by the renderer its declaration names."""
    renderer = params.task(task).pretraining
    assert renderer is not None  # a pretrain.<task> section without one is refused when params load
    RENDERERS[renderer](settings, params, out / "raw", out)
    return out


def pretrain(task: str, params: Params, out: Path, log_metrics=None) -> dict:
    """Train `pretrain.<task>` on the task's rendered data into `out/best.pt` (`models/synthetic-pretrain/<task>/`
    in the stage); returns the record written beside it, `pretrain.json`."""
    settings = params.pretrain_for(task)
    io.reset_dir(out)
    if settings is None:
        record = {"task": task, "pretrained": False}
    else:
        with tempfile.TemporaryDirectory(prefix=f"pretrain-{task}-") as tmp:
            dataset = render_dataset(task, settings, params, Path(tmp) / "data")
            result = train(settings.train, dataset, Path(tmp) / "run", params.seed, log_metrics)
            shutil.copyfile(result.best, paths.pretrained_weights(out))
        record = {
            "task": task, "pretrained": True, "train_images": result.train_images,
            "val_top1": result.val_top1, "epochs_run": result.epochs_run,
        }  # fmt: skip
    io.write_json(out / "pretrain.json", record)
    return record

"""Synthetic pretraining (the from-scratch recipe's first step): rendered data, a model, and fine-tuning from it."""

from __future__ import annotations

import json

import pytest
import yaml

from pipeline import params
from pipeline.params import Pretrain, Train
from pipeline.paths import PROJECT_ROOT
from pipeline.pretraining import pretrain, render_dataset

SMALL = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=8, workers=0)


def project_params(**changes) -> params.Params:
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    raw.update(changes)
    return params.Params.model_validate(raw)


def test_renders_minifigure_classes_and_theme_groups(tmp_path):
    config = project_params()
    figures = render_dataset("minifigure", Pretrain(classes=3, per_class=5, image_size=48), config, tmp_path / "f")
    assert sorted(p.name for p in (figures / "train").iterdir()) == ["class01", "class02", "class03"]
    assert len(list((figures / "train").rglob("*.jpg"))) == 15 and len(list((figures / "val").rglob("*.jpg"))) == 3
    sets = render_dataset("theme", Pretrain(per_class=5, image_size=48), config, tmp_path / "s")
    groups = {p.name for p in (sets / "train").iterdir()} | {p.name for p in (sets / "val").iterdir()}
    assert groups <= {"Bulk Bricks", "Young Children", "Minifig", "Technic-Bionicle"} and len(groups) >= 3


def test_no_section_records_that_nothing_was_pretrained(tmp_path):
    record = pretrain("theme", project_params(), tmp_path / "out")
    assert record == {"task": "theme", "pretrained": False}
    assert json.loads((tmp_path / "out" / "pretrain.json").read_text()) == record
    assert not (tmp_path / "out" / "best.pt").exists()


def test_pretrains_a_model_to_fine_tune_from(tmp_path):
    section = {"classes": 3, "per_class": 5, "image_size": 48, "train": SMALL.model_dump()}
    config = project_params(pretrain={"minifigure": section, "theme": None})
    logged = []
    record = pretrain("minifigure", config, tmp_path / "out", lambda metrics, step: logged.append(step))
    assert record["pretrained"] and record["train_images"] == 15 and 0 <= record["val_top1"] <= 1
    assert (tmp_path / "out" / "best.pt").is_file() and logged


def test_fine_tuning_from_it_needs_the_section():
    with pytest.raises(ValueError, match="train.theme.model: 'synthetic-pretrain' needs a pretrain.theme section"):
        project_params(train={"minifigure": {}, "theme": {"model": "synthetic-pretrain"}})

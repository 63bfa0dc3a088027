"""Your own classes: `sources.custom.path` merges into the minifigure task; provider `none` makes it the dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline import manifest, params
from pipeline.io import DataError
from pipeline.params import Params, Validate
from pipeline.providers import copy_custom, fetch_minifigures
from pipeline.validation import check_images, validate_manifest


def photos(folder: Path) -> Path:
    for label, colour in (("iron-man-keyring", (200, 20, 20)), ("my-robot", (20, 20, 200))):
        for i in range(4):
            path = folder / label / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 64), tuple(c + 10 * i for c in colour)).save(path)
    (folder / "notes.jpg").write_bytes(b"")  # directly in the root: not a class, ignored
    return folder


def custom_params(path: Path, provider: str = "synthetic") -> Params:
    raw = params.load().model_dump(by_alias=True)
    raw["sources"]["custom"]["path"] = str(path)
    raw["sources"]["minifigures"]["provider"] = provider
    return Params.model_validate(raw)


def test_custom_folder_becomes_validated_minifigure_rows(tmp_path):
    config = custom_params(photos(tmp_path / "mine"))
    assert copy_custom(config, tmp_path / "data" / "raw" / "custom") == 8
    rows = manifest.custom_rows(tmp_path / "data" / "raw" / "custom", tmp_path)
    assert sorted(set(rows["character"])) == ["iron-man-keyring", "my-robot"]
    assert rows["path"].str.startswith("data/raw/custom/").all()
    table = manifest.build([rows], config.declared_tasks())
    report = validate_manifest(check_images(table, tmp_path), Validate(), tmp_path / "docs", config.declared_tasks())
    assert report.success, report.summary()
    task = manifest.task_rows(table, config.task("minifigure"))
    assert len(task) == 8 and set(task["label"]) == {"iron-man-keyring", "my-robot"}


def test_provider_none_leaves_only_the_custom_classes(tmp_path):
    config = custom_params(photos(tmp_path / "mine"), provider="none")
    layout = fetch_minifigures(config, tmp_path / "minifigures")
    assert layout.empty and not any((tmp_path / "minifigures").iterdir())


def test_custom_folder_without_class_subfolders_is_an_error(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.jpg")
    with pytest.raises(DataError, match="class subfolders"):
        copy_custom(custom_params(tmp_path / "flat"), tmp_path / "out")


def test_custom_path_must_exist():
    with pytest.raises(ValueError, match="does not exist"):
        custom_params(Path("/nonexistent/photos"))

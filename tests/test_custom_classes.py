"""Your own images, `sources.custom.path/<task>/<class>/`: classes merged into a task (provider `none` makes them the
minifigure task's whole data), or the data of a task of your own."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pipeline import manifest, params
from pipeline.io import DataError
from pipeline.params import Params, Validate
from pipeline.providers import copy_custom, fetch_minifigures
from pipeline.validation import check_manifest


def photos(folder: Path, task: str = "minifigure") -> Path:
    for label, colour in (("iron-man-keyring", (200, 20, 20)), ("my-robot", (20, 20, 200))):
        for i in range(4):
            path = folder / task / label / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 64), tuple(c + 10 * i for c in colour)).save(path)
    (folder / task / "notes.jpg").write_bytes(b"")  # directly in the task's folder: not a class, ignored
    (folder / "README.md").write_text("what this folder is")
    return folder


def custom_params(path: Path, provider: str = "synthetic") -> Params:
    raw = params.load().model_dump(by_alias=True)
    raw["sources"]["custom"]["path"] = str(path)
    raw["sources"]["minifigures"]["provider"] = provider
    return Params.model_validate(raw)


def test_custom_folder_becomes_validated_minifigure_rows(tmp_path):
    config = custom_params(photos(tmp_path / "mine"))
    counts = copy_custom(config, tmp_path / "data" / "raw" / "custom")
    assert counts == {"minifigure": {"iron-man-keyring": 4, "my-robot": 4}, "theme": {}}
    rows = manifest.task_folder_rows(tmp_path / "data" / "raw" / "custom", tmp_path, config.declared_tasks(), "custom")
    assert sorted(set(rows["character"])) == ["iron-man-keyring", "my-robot"]
    assert rows["path"].str.startswith("data/raw/custom/").all()
    table = next(manifest.with_file_facts([rows], tmp_path, total=len(rows))).reindex(
        columns=manifest.columns(config.declared_tasks())
    )
    table.to_csv(tmp_path / "manifest.csv", index=False)
    report = check_manifest(tmp_path / "manifest.csv", tmp_path, Validate(), tmp_path / "docs", config.declared_tasks())
    assert report.success, report.summary()
    task = manifest.task_rows(table, config.task("minifigure"))
    assert len(task) == 8 and set(task["label"]) == {"iron-man-keyring", "my-robot"}


def test_provider_none_leaves_only_the_custom_classes(tmp_path):
    config = custom_params(photos(tmp_path / "mine"), provider="none")
    layout = fetch_minifigures(config, tmp_path / "minifigures")
    assert layout is None and not any((tmp_path / "minifigures").iterdir())


def test_a_folder_named_after_no_task_is_refused_with_the_layout(tmp_path):
    photos(tmp_path / "old-layout", task="Batman")  # <class>/<images>, as before tasks were declared
    with pytest.raises(DataError) as error:
        copy_custom(custom_params(tmp_path / "old-layout"), tmp_path / "out")
    assert str(error.value) == (
        f"{tmp_path / 'old-layout' / 'Batman'}: not a task in tasks (minifigure, theme); "
        "sources.custom.path holds <task>/<class>/<images>"
    )


def test_custom_path_must_be_a_folder():
    with pytest.raises(ValueError, match="not a folder of <task>/<class>/<images>"):
        custom_params(Path("/nonexistent/photos"))

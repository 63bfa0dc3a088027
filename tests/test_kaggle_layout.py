"""Kaggle-layout ingestion: both schemas, cp1252 metadata, zips (safely), only CSV-listed images."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pipeline.io import DataError
from pipeline.providers import kaggle_layout


def image(path: Path, colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 40), colour).save(path)


def old_schema(root: Path) -> Path:
    """The older 31-class Kaggle version: `,path,class_id,train-valid` and cp1252 metadata."""
    for i, folder in enumerate(["marvel/0001", "marvel/0001", "star-wars/0001", "star-wars/0001"]):
        image(root / folder / f"00{i}.jpg", (i * 60, 20, 20))
    (root / "index.csv").write_text(
        ",path,class_id,train-valid\n0,marvel/0001/000.jpg,1,train\n1,marvel/0001/001.jpg,1,valid\n"
        "2,star-wars/0001/002.jpg,2,train\n3,star-wars/0001/003.jpg,2,valid\n"
    )
    (root / "metadata.csv").write_bytes(
        "class_id,lego_ids,lego_names,minifigure_name\n1,[76115],['Spider Mech'],SPIDER\u2019S MAN\n2,\"[75257, 75258]\",['A'],YODA\n".encode(
            "cp1252"
        )
    )
    image(root / "marvel/0001/unlisted.jpg")
    return root


def test_reads_the_real_37_class_copy(shared_data):
    rows = kaggle_layout.read_layout(shared_data / "lego-minifigures")
    assert rows["class_id"].nunique() == 37
    assert (rows["split_hint"] == "test").sum() == 76
    assert rows["universe"].notna().all()
    assert set(rows["universe"]) == {"marvel", "star-wars", "harry-potter", "jurassic-world"}
    assert rows.loc[rows["path"] == "test/001.jpg", "character"].item() == "32-jannah"


def test_the_real_copy_read_a_few_rows_at_a_time_is_the_copy_read_at_once(shared_data):
    listed = kaggle_layout.KaggleIndex(shared_data / "lego-minifigures", chunk_rows=7)
    chunks = list(listed.chunks())
    assert max(len(c) for c in chunks) == 7 and len(listed) == sum(len(c) for c in chunks) and listed.classes == 37
    whole = kaggle_layout.read_layout(shared_data / "lego-minifigures")
    assert pd.concat(chunks, ignore_index=True).equals(whole)  # the universe and the width of ids found in every chunk


def test_missing_listed_images_are_counted_over_the_whole_index(tmp_path):
    root = old_schema(tmp_path)
    (root / "marvel/0001/001.jpg").unlink()
    (root / "star-wars/0001/003.jpg").unlink()
    with pytest.raises(DataError, match="2 listed image\\(s\\) missing, e.g. marvel/0001/001.jpg"):
        kaggle_layout.KaggleIndex(root, chunk_rows=1)


def test_reads_the_old_schema_with_cp1252_metadata(tmp_path):
    rows = kaggle_layout.read_layout(old_schema(tmp_path))
    assert list(rows["split_hint"]) == ["train", "val", "train", "val"]
    assert rows.loc[0, "character"] == "01-spider-s-man"
    assert rows.loc[2, "set_nums"] == ["75257-1", "75258-1"]


def test_ingest_copies_only_listed_images(tmp_path):
    source = old_schema(tmp_path / "src")
    kaggle_layout.ingest(source, tmp_path / "out")
    copied = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg"))
    assert copied == ["marvel/0001/000.jpg", "marvel/0001/001.jpg", "star-wars/0001/002.jpg", "star-wars/0001/003.jpg"]
    assert not list(tmp_path.glob(".out.*"))


def test_ingest_from_a_nested_zip(tmp_path):
    source = old_schema(tmp_path / "src")
    archive = tmp_path / "dataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in source.rglob("*"):
            zf.write(path, Path("lego") / path.relative_to(source))
    rows = kaggle_layout.ingest(archive, tmp_path / "out")
    assert len(rows) == 4 and (tmp_path / "out" / "index.csv").is_file()


def test_zip_entry_outside_the_target_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.csv", "path,class_id\n")
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(DataError, match="outside the target"):
        kaggle_layout.ingest(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_missing_listed_image_is_named(tmp_path):
    root = old_schema(tmp_path)
    (root / "marvel/0001/001.jpg").unlink()
    with pytest.raises(DataError, match="marvel/0001/001.jpg"):
        kaggle_layout.read_layout(root)


def test_folder_without_index_is_named(tmp_path):
    with pytest.raises(DataError, match="no index.csv"):
        kaggle_layout.ingest(tmp_path, tmp_path / "out")

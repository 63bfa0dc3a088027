"""The synthetic provider must look exactly like the real sources to downstream code, and be reproducible."""

from __future__ import annotations

import ast
import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.providers.synthetic import (
    ROOT_STYLE,
    STYLES,
    UNIVERSES,
    render_minifigures,
    render_sets,
    synthetic_catalogue,
    theme_roots,
)

SEED = 7
MINIFIG_ARGS = {"classes": 6, "train_per_class": 4, "test_per_class": 2, "image_size": 48, "seed": SEED}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _header(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return next(csv.reader(handle))


@pytest.fixture(scope="module")
def minifigs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("minifigs")
    render_minifigures(out, **MINIFIG_ARGS)
    return out


@pytest.fixture(scope="module")
def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_catalogue(SEED)


def test_minifigure_layout_matches_kaggle(minifigs: Path) -> None:
    assert _header(minifigs / "index.csv") == ["path", "class_id"]
    assert _header(minifigs / "test.csv") == ["path", "class_id"]
    assert _header(minifigs / "metadata.csv") == ["class_id", "lego_ids", "lego_names", "minifigure_name"]
    index = pd.read_csv(minifigs / "index.csv")
    test = pd.read_csv(minifigs / "test.csv")
    assert index["class_id"].value_counts().sort_index().to_dict() == {c: 4 for c in range(1, 7)}
    assert test["class_id"].value_counts().sort_index().to_dict() == {c: 2 for c in range(1, 7)}
    assert index.loc[index["class_id"] == 1, "path"].tolist() == [f"marvel/0001/{i:03d}.jpg" for i in range(1, 5)]
    assert index.loc[index["class_id"] == 2, "path"].iloc[0] == "star-wars/0001/001.jpg"
    assert index.loc[index["class_id"] == 5, "path"].iloc[0] == "marvel/0002/001.jpg"
    assert test["path"].tolist() == [f"test/{i:03d}.jpg" for i in range(1, 13)]
    assert {p.name for p in minifigs.iterdir() if p.is_dir()} == {*UNIVERSES, "test"}
    for rel in [*index["path"], *test["path"]]:
        with Image.open(minifigs / rel) as img:
            img.load()
            assert img.format == "JPEG" and img.mode == "RGB" and img.size == (48, 48)
    assert not list(minifigs.rglob("*.tmp"))


def test_metadata_joins_the_catalogue(minifigs: Path, catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sets, _ = catalogue
    names = dict(zip(sets["set_num"], sets["name"], strict=True))
    metadata = pd.read_csv(minifigs / "metadata.csv")
    assert metadata["class_id"].tolist() == list(range(1, 7))
    assert metadata["minifigure_name"].is_unique
    assert all(n == n.upper() for n in metadata["minifigure_name"])
    for ids_text, names_text in zip(metadata["lego_ids"], metadata["lego_names"], strict=True):
        ids, set_names = ast.literal_eval(ids_text), ast.literal_eval(names_text)
        assert ids and all(type(n) is int for n in ids)
        assert [names[f"{n}-1"] for n in ids] == set_names
    for line, ids_text, names_text in zip(
        (minifigs / "metadata.csv").read_text().splitlines()[1:],
        metadata["lego_ids"],
        metadata["lego_names"],
        strict=True,
    ):
        if "," not in ids_text:  # written unquoted, as in the real file: 1,[76115],['Spider Mech vs. Venom'],SPIDER-MAN
            assert line.split(",", 1)[1].startswith(f"{ids_text},{names_text},")


def test_minifigures_are_deterministic(tmp_path: Path, minifigs: Path) -> None:
    again = tmp_path / "again"
    render_minifigures(again, **MINIFIG_ARGS)
    assert _files(again) == _files(minifigs)
    other = tmp_path / "other"
    render_minifigures(other, **{**MINIFIG_ARGS, "seed": SEED + 1})
    a, b = _files(minifigs), _files(other)
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a if k.endswith(".jpg"))


def test_images_within_a_class_vary(minifigs: Path) -> None:
    index = pd.read_csv(minifigs / "index.csv")
    for _, group in index.groupby("class_id"):
        digests = {hashlib.sha256((minifigs / p).read_bytes()).hexdigest() for p in group["path"]}
        assert len(digests) == len(group)


def test_classes_are_not_trivially_separable(tmp_path: Path) -> None:
    """A nearest-centroid classifier on 8x8 thumbnails must not be perfect: nuisance dominates colour."""
    render_minifigures(tmp_path, classes=4, train_per_class=12, test_per_class=6, image_size=32, seed=SEED)

    def features(csv_name: str) -> tuple[np.ndarray, np.ndarray]:
        table = pd.read_csv(tmp_path / csv_name)
        x = np.stack(
            [np.asarray(Image.open(tmp_path / p).resize((8, 8)), dtype=np.float32).ravel() for p in table["path"]]
        )
        return x, table["class_id"].to_numpy()

    x_train, y_train = features("index.csv")
    x_test, y_test = features("test.csv")
    centroids = np.stack([x_train[y_train == c].mean(axis=0) for c in range(1, 5)])
    predicted = np.argmin(((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1) + 1
    assert (predicted == y_test).mean() < 0.9


def test_catalogue_is_rebrickable_shaped(catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sets, themes = catalogue
    assert list(sets.columns) == ["set_num", "name", "year", "theme_id", "num_parts"]
    assert list(themes.columns) == ["id", "name", "parent_id"]
    assert sets["set_num"].is_unique and sets["set_num"].str.fullmatch(r"\d+-\d+").all()
    assert 1200 <= len(sets) <= 1800
    assert sets["year"].between(1980, 2021).all() and (sets["num_parts"] >= 0).all()
    assert set(sets["theme_id"]) <= set(themes["id"])
    roots = set(themes.loc[themes["parent_id"].isna(), "name"])
    assert {
        "Technic",
        "Bionicle",
        "Duplo",
        "Juniors",
        "Star Wars",
        "Town",
        "Castle",
        "Harry Potter",
        "Bulk Bricks",
        "Classic",
        "Books",
        "Gear",
    } <= roots
    assert roots == set(ROOT_STYLE) and set(ROOT_STYLE.values()) == set(STYLES)

    parent = {int(i): (None if pd.isna(p) else int(p)) for i, p in zip(themes["id"], themes["parent_id"], strict=True)}
    depths = []
    for theme_id in parent:
        node, depth = theme_id, 1
        while parent[node] is not None:
            node, depth = parent[node], depth + 1
            assert depth <= len(parent), "cycle in theme tree"
        depths.append(depth)
    assert max(depths) == 3
    assert set(theme_roots(themes).values()) == roots
    for n in range(90001, 90021):
        assert f"{n}-1" in set(sets["set_num"])

    again_sets, again_themes = synthetic_catalogue(SEED)
    pd.testing.assert_frame_equal(sets, again_sets)
    pd.testing.assert_frame_equal(themes, again_themes)


def test_render_sets_records_match_files(tmp_path: Path, catalogue: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sets, themes = catalogue
    records = render_sets(tmp_path, count=18, image_height=40, seed=SEED)
    assert len(records) == 18 and len({r["set_id"] for r in records}) == 18
    by_num = sets.set_index("set_num")
    root_of = theme_roots(themes)
    styles = set()
    for r in records:
        assert set(r) == {"set_id", "name", "year", "image_url", "image", "sha256", "status"}
        assert r["status"] == "ok" and r["image"] == f"images/{r['set_id']}.jpg"
        assert r["image_url"] == f"/crop/genericnx400/sets/{r['set_id']}.jpg"
        assert r["name"] == by_num.at[r["set_id"], "name"] and r["year"] == by_num.at[r["set_id"], "year"]
        data = (tmp_path / r["image"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
        with Image.open(tmp_path / r["image"]) as img:
            img.load()
            assert img.mode == "RGB" and img.height == 40 and 40 <= img.width <= 64
        styles.add(ROOT_STYLE[root_of[int(by_num.at[r["set_id"], "theme_id"])]])
    assert styles == set(STYLES)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(f"{r['set_id']}.jpg" for r in records)

    again = render_sets(tmp_path / "again", count=18, image_height=40, seed=SEED)
    assert again == records
    other = render_sets(tmp_path / "other", count=18, image_height=40, seed=SEED + 1)
    assert [r["sha256"] for r in other] != [r["sha256"] for r in records]

"""Split: stratified, seeded, de-duplicated by content, a source's test split kept as test."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from pipeline import split
from pipeline.io import DataError, link_or_copy, list_images
from pipeline.manifest import iter_task_rows, read_task_rows, task_rows
from pipeline.params import DEFAULT_TASKS, Split, declared
from pipeline.split import SplitTable, materialise

SETTINGS = Split(
    val_fraction=0.2, test_fraction=0.2, min_per_class=3, min_val_per_class=1, calibration_fraction=0, refit=False
)

TASKS = {task.name: task for task in declared(DEFAULT_TASKS)}


def assign(rows: pd.DataFrame, settings: Split, seed: int) -> tuple[pd.DataFrame, dict]:
    """`pipeline.split.assign` over `rows` in an in-memory table: the layout as one frame, and the report."""
    table = SplitTable.of(rows)
    report = split.assign(table, settings, seed)
    return table.frame(), report


def rows(per_class: dict[str, int], hint=None) -> pd.DataFrame:
    records = []
    for label, n in per_class.items():
        for i in range(n):
            records.append({"path": f"{label}/{i}.jpg", "sha256": hashlib.sha256(f"{label}{i}".encode()).hexdigest(),
                            "label": label, "split_hint": hint})  # fmt: skip
    return pd.DataFrame(records)


def test_every_class_in_every_split_and_fractions_hold():
    assigned, report = assign(rows({"a": 20, "b": 10, "c": 5}), SETTINGS, seed=1)
    counts = assigned.groupby(["label", "split"]).size().unstack(fill_value=0)
    assert (counts > 0).all().all()
    assert counts.loc["a"].to_dict() == {"test": 4, "train": 12, "val": 4}
    assert report["images"] == {"train": 21, "val": 7, "calibration": 0, "test": 7}


def test_the_calibration_split_is_held_out_of_training_even_in_a_refit():
    settings = SETTINGS.model_copy(update={"calibration_fraction": 0.1, "refit": True})
    assigned, report = assign(rows({"a": 20, "b": 10, "c": 5}), settings, seed=1)
    counts = assigned.groupby(["label", "split"]).size().unstack(fill_value=0)
    assert counts["calibration"].to_dict() == {"a": 2, "b": 1, "c": 1}  # 10%, at least one per class
    calibration = set(assigned.loc[assigned["split"] == "calibration", "sha256"])
    others = set(assigned.loc[assigned["split"] != "calibration", "sha256"])
    assert calibration and not calibration & others  # val is copied into train, calibration never
    assert report["images"]["calibration"] == 4 and report["val_images_in_train"] == report["images"]["val"]


def test_seeded_and_deterministic():
    a, _ = assign(rows({"a": 20, "b": 20}), SETTINGS, seed=1)
    b, _ = assign(rows({"a": 20, "b": 20}), SETTINGS, seed=1)
    c, _ = assign(rows({"a": 20, "b": 20}), SETTINGS, seed=2)
    assert a.equals(b)
    assert not a.set_index("path")["split"].equals(c.set_index("path")["split"])


def test_cross_validation_folds_test_every_image_exactly_once_and_train_on_the_rest():
    data = rows({"a": 23, "b": 11, "c": 7})
    settings = SETTINGS.model_copy(update={"calibration_fraction": 0.1, "refit": True, "folds": 5})
    tested = []
    for k in range(5):
        assigned, report = assign(data, settings.model_copy(update={"test_fold": k}), seed=3)
        test = assigned[assigned["split"] == "test"]
        assert report["test_fold"] == f"{k} of 5"
        assert not set(test["sha256"]) & set(assigned.loc[assigned["split"] != "test", "sha256"])
        assert set(assigned["split"]) == {"train", "val", "calibration", "test"}
        sizes = test["label"].value_counts().to_dict()
        assert sizes["a"] in (4, 5) and sizes["b"] in (2, 3) and sizes.get("c", 0) in (1, 2)  # stratified
        tested += list(test["path"])
    assert sorted(tested) == sorted(data["path"])  # every image once


def test_a_source_test_split_is_kept_when_a_fold_is_asked_for_and_the_report_says_so():
    train = rows({"a": 10, "b": 10}, hint="train")
    test = rows({"a": 2, "b": 2}, hint="test").assign(
        path=lambda f: "test/" + f["path"], sha256=lambda f: "t" + f["sha256"]
    )
    data = pd.concat([train, test], ignore_index=True)
    assigned, report = assign(data, SETTINGS.model_copy(update={"test_fold": 1}), seed=0)
    assert set(assigned.loc[assigned["split"] == "test", "path"]) == set(test["path"])
    assert report["test_fold"].startswith("source test split")
    plain, plain_report = assign(data, SETTINGS, seed=0)
    assert assigned.equals(plain) and "test_fold" not in plain_report


def test_identical_bytes_never_in_two_splits_and_source_test_copy_wins():
    train = rows({"a": 10, "b": 10}, hint="train")
    test = rows({"a": 2, "b": 2}, hint="test").assign(path=lambda f: "test/" + f["path"])
    assigned, report = assign(pd.concat([train, test], ignore_index=True), SETTINGS, seed=0)
    assert assigned["sha256"].is_unique
    assert set(assigned.loc[assigned["split"] == "test", "path"]) == set(test["path"])
    assert report["duplicates_dropped"] == 4


def test_conflicting_labels_for_identical_bytes_are_dropped():
    data = rows({"a": 6, "b": 6})
    data.loc[0, "sha256"] = data.loc[6, "sha256"]
    assigned, report = assign(data, SETTINGS, seed=0)
    assert report["conflicting_label_images_dropped"] == 2
    assert data.loc[0, "sha256"] not in set(assigned["sha256"])


def test_small_classes_are_dropped_and_reported():
    assigned, report = assign(rows({"a": 10, "tiny": 2}), SETTINGS, seed=0)
    assert report["classes_dropped_too_small"] == ["tiny"]
    assert set(assigned["label"]) == {"a"}
    with pytest.raises(DataError, match="min_per_class"):
        assign(rows({"tiny": 2}), SETTINGS, seed=0)


def test_real_minifigures_keep_kaggle_test_split(shared_data, tmp_path):
    from pipeline.io import sha256_file
    from pipeline.providers.kaggle_layout import read_layout

    root = shared_data / "lego-minifigures"
    layout = read_layout(root)
    table = layout.rename(columns={"character": "label"}).assign(sha256=[sha256_file(root / p) for p in layout["path"]])
    assigned, _ = assign(table, SETTINGS, seed=42)
    test_paths = set(assigned.loc[assigned["split"] == "test", "path"])
    assert test_paths == set(layout.loc[layout["split_hint"] == "test", "path"])
    assert assigned["sha256"].is_unique


def two_colour_sources(root: Path) -> SplitTable:
    """Five pictures each of two classes under `root/src`, assigned to splits."""
    for label in ("red", "blue"):
        for i in range(5):
            path = root / "src" / f"{label}{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (i * 40, 0, 0) if label == "red" else (0, 0, i * 40)).save(path)
    manifest = pd.DataFrame({"path": [f"src/{p.name}" for p in sorted((root / "src").iterdir())]})
    from pipeline.io import sha256_file

    manifest["sha256"] = [sha256_file(root / p) for p in manifest["path"]]
    manifest["character"] = manifest["path"].str.extract(r"src/([a-z]+)")[0]
    manifest["source"] = "minifigures"
    manifest["split_hint"] = None
    table = SplitTable.of(task_rows(manifest, TASKS["minifigure"]))
    split.assign(table, SETTINGS, seed=0)
    return table


def test_materialise_links_the_ultralytics_layout_to_the_sources(tmp_path, capsys):
    table = pd.read_csv(materialise(two_colour_sources(tmp_path), tmp_path, tmp_path / "yolo"))
    assert sorted(p.relative_to(tmp_path / "yolo").parts[:2] for p in list_images(tmp_path / "yolo")) == sorted(
        (s, lab) for s, lab in zip(table["split"], table["label"])
    )
    assert {p.name for p in (tmp_path / "yolo").iterdir()} == {"train", "val", "test", "split.csv"}
    for row in table.itertuples():  # the same inode: no picture's bytes are stored twice
        assert (tmp_path / "yolo" / row.file).stat().st_ino == (tmp_path / row.path).stat().st_ino
    assert "copied" not in capsys.readouterr().out


def test_materialise_copies_across_file_systems_and_says_so_in_one_line(tmp_path, capsys):
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system to link across")
    with tempfile.TemporaryDirectory(dir=other) as sources:
        table = pd.read_csv(materialise(two_colour_sources(Path(sources)), Path(sources), tmp_path / "yolo"))
    assert all((tmp_path / "yolo" / f).stat().st_nlink == 1 for f in table["file"])
    assert capsys.readouterr().out.strip().splitlines()[-1] == (
        f"split: {tmp_path / 'yolo'}: hard links are not possible there, so {len(table)} of {len(table)} images were copied"
    )


def test_class_names_become_single_safe_folders():
    manifest = pd.DataFrame(
        {"source": "sets", "theme_group": ["Technic/Bionicle", "Bulk Bricks", None], "path": ["a", "b", "c"]}
    )
    assert task_rows(manifest, TASKS["theme"])["label"].tolist() == ["Technic-Bionicle", "Bulk Bricks"]
    clash = pd.DataFrame({"source": "sets", "theme_group": ["A/B", "A-B"], "path": ["a", "b"]})
    with pytest.raises(DataError, match="same folder name"):
        task_rows(clash, TASKS["theme"])


def test_a_task_reads_only_its_columns_of_the_manifest_and_a_missing_one_is_named(tmp_path):
    manifest = tmp_path / "manifest.csv"
    table = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "sha256": ["1", "2"], "source": "sets", "split_hint": None,
                          "theme": "Technic", "theme_group": ["Technic/Bionicle", None], "width": 64})  # fmt: skip
    table.to_csv(manifest, index=False)
    rows = read_task_rows(manifest, TASKS["theme"])
    assert rows["path"].tolist() == ["a.jpg"] and rows["label"].tolist() == ["Technic-Bionicle"]
    assert "width" not in rows and "theme" not in rows
    with pytest.raises(DataError, match=f"^{manifest}: no column 'character' for task minifigure"):
        read_task_rows(manifest, TASKS["minifigure"])


def test_the_manifest_read_in_chunks_gives_the_rows_and_class_names_it_gives_read_at_once(tmp_path):
    manifest = tmp_path / "manifest.csv"
    table = pd.DataFrame({"path": [f"{i}.jpg" for i in range(7)], "sha256": [str(i) for i in range(7)],
                          "source": ["sets"] * 5 + ["feedback"] * 2, "split_hint": None,
                          "theme_group": ["Technic/Bionicle", None, "Bulk Bricks", "Technic/Bionicle", "7",
                                          "Technic-Bionicle", "New"]})  # fmt: skip
    table.to_csv(manifest, index=False)
    chunks = list(iter_task_rows(manifest, TASKS["theme"], chunk_rows=2))
    assert len(chunks) == 4  # a feedback row's class is named by a source row read in an earlier chunk
    whole = task_rows(table.astype({"theme_group": object}), TASKS["theme"])
    assert pd.concat(chunks)["label"].tolist() == whole["label"].tolist()
    assert whole["label"].tolist() == ["Technic-Bionicle", "Bulk Bricks", "Technic-Bionicle", "7",
                                       "Technic-Bionicle", "New"]  # fmt: skip
    assert pd.concat(chunks)["theme_group"].tolist()[-2] == "Technic/Bionicle"


def test_per_class_validation_minimum():
    settings = SETTINGS.model_copy(update={"min_val_per_class": 3})
    assigned, _ = assign(rows({"big": 40, "small": 6}), settings, seed=0)
    val = assigned[assigned["split"] == "val"]["label"].value_counts()
    assert val["small"] == 3 and val["big"] == 8


def test_oversampling_balances_train_without_crossing_splits():
    settings = SETTINGS.model_copy(update={"oversample": True})
    assigned, report = assign(rows({"big": 30, "small": 7}), settings, seed=0)
    train = assigned[assigned["split"] == "train"]["label"].value_counts()
    assert train["small"] == train["big"] == 18
    assert report["train_copies_added"] == 18 - 5
    assert assigned.groupby("sha256")["split"].nunique().max() == 1
    _, plain = assign(rows({"big": 30, "small": 7}), SETTINGS, seed=0)
    assert report["data_version"] != plain["data_version"]


def test_refit_trains_on_validation_images_too_but_never_on_test():
    settings = SETTINGS.model_copy(update={"refit": True})
    plain, plain_report = assign(rows({"a": 20, "b": 10}), SETTINGS, seed=0)
    refit, report = assign(rows({"a": 20, "b": 10}), settings, seed=0)
    val = set(plain.loc[plain["split"] == "val", "sha256"])
    assert set(refit.loc[refit["split"] == "val", "sha256"]) == val
    assert set(refit.loc[refit["split"] == "train", "sha256"]) == val | set(
        plain.loc[plain["split"] == "train", "sha256"]
    )
    assert refit[refit["split"] == "test"].equals(plain[plain["split"] == "test"])
    assert report["images"]["train"] == plain_report["images"]["train"] + len(val) and report[
        "val_images_in_train"
    ] == len(val)
    assert (
        report["test_version"] == plain_report["test_version"]
        and report["data_version"] != plain_report["data_version"]
    )


def feedback(per_class: dict[str, int]) -> pd.DataFrame:
    """People's corrections: rows with bytes of their own (hashes the sources do not have)."""
    records = [
        {"path": f"fb/{label}/{i}.jpg", "sha256": hashlib.sha256(f"feedback {label}{i}".encode()).hexdigest(),
         "label": label, "split_hint": None, "source": "feedback"}
        for label, n in per_class.items() for i in range(n)
    ]  # fmt: skip
    return pd.DataFrame(records)


def test_feedback_goes_to_train_and_never_moves_a_source_image():
    sources = rows({"a": 20, "b": 10, "c": 5}).assign(source="minifigures")
    before, _ = assign(sources, SETTINGS, seed=1)
    assigned, report = assign(pd.concat([sources, feedback({"a": 3, "b": 2})], ignore_index=True), SETTINGS, seed=1)
    added = assigned[assigned["source"] == "feedback"]
    assert len(added) == 5 and set(added["split"]) == {"train"}
    kept = assigned[assigned["source"] != "feedback"]
    assert kept.set_index("path")["split"].sort_index().equals(before.set_index("path")["split"].sort_index())
    assert report["test_version"] == assign(sources, SETTINGS, seed=1)[1]["test_version"]
    assert report["data_version"] != assign(sources, SETTINGS, seed=1)[1]["data_version"]
    assert report["feedback"]["added"] == {"train": 5, "val": 0, "calibration": 0}


def test_feedback_of_an_image_the_sources_hold_is_dropped_so_a_test_photo_stays_test_only():
    sources = rows({"a": 20, "b": 10}).assign(source="minifigures")
    before, _ = assign(sources, SETTINGS, seed=1)
    test_photo = before[before["split"] == "test"].iloc[0]
    relabelled = pd.DataFrame(
        [{"path": "fb/b/x.jpg", "sha256": test_photo["sha256"], "label": "b", "source": "feedback"}]
    )
    assigned, report = assign(pd.concat([sources, relabelled], ignore_index=True), SETTINGS, seed=1)
    assert (assigned["sha256"] == test_photo["sha256"]).sum() == 1  # still the one test image, still labelled a
    assert assigned.loc[assigned["sha256"] == test_photo["sha256"], "split"].item() == "test"
    assert report["feedback"]["already_in_sources"] == 1 and report["feedback"]["added"]["train"] == 0


def test_a_new_class_from_feedback_waits_for_enough_images_then_gets_val_but_no_test():
    sources = rows({"a": 20, "b": 10}).assign(source="minifigures")
    _, report = assign(pd.concat([sources, feedback({"zed": 2})], ignore_index=True), SETTINGS, seed=1)
    assert report["feedback"]["new_classes_waiting"] == {"zed": 2} and report["classes"] == 2
    assigned, report = assign(pd.concat([sources, feedback({"zed": 6})], ignore_index=True), SETTINGS, seed=1)
    zed = assigned[assigned["label"] == "zed"]["split"].value_counts().to_dict()
    assert report["classes"] == 3 and report["feedback"]["new_classes"] == ["zed"]
    assert "test" not in zed and zed["val"] >= 1 and zed["train"] >= 1


def test_feedback_images_are_deduplicated_by_content():
    sources = rows({"a": 20, "b": 10}).assign(source="minifigures")
    twice = feedback({"a": 1})
    twice = pd.concat([twice, twice.assign(path="fb/a/copy.jpg")], ignore_index=True)
    assigned, report = assign(pd.concat([sources, twice], ignore_index=True), SETTINGS, seed=1)
    assert (assigned["source"] == "feedback").sum() == 1 and report["feedback"]["images"] == 2


def test_feedback_filed_under_a_folder_name_keeps_the_source_class_name():
    manifest = pd.DataFrame(
        {
            "source": ["sets", "sets", "feedback"],
            "theme_group": ["Technic/Bionicle", "Bulk Bricks", "Technic-Bionicle"],
            "path": ["a", "b", "c"],
        }
    )
    labelled = task_rows(manifest, TASKS["theme"])
    assert labelled["label"].tolist() == ["Technic-Bionicle", "Bulk Bricks", "Technic-Bionicle"]


def test_a_picture_is_hard_linked_where_possible_and_copied_across_file_systems(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second file system to link across")
    with tempfile.TemporaryDirectory(dir=other) as elsewhere:
        source = Path(elsewhere) / "picture.png"
        source.write_bytes(b"picture")
        assert link_or_copy(source, tmp_path / "copied.png") is False
        assert (tmp_path / "copied.png").read_bytes() == b"picture"
    (tmp_path / "a.png").write_bytes(b"picture")
    assert link_or_copy(tmp_path / "a.png", tmp_path / "b.png") is True
    assert (tmp_path / "b.png").stat().st_ino == (tmp_path / "a.png").stat().st_ino

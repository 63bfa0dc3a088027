"""The label stage's set rows: every logged set is either in the manifest or listed with the reason it is not."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PIL import Image

from pipeline import io, manifest
from pipeline.labelling import RawFolders, write_manifest
from pipeline.params import DEFAULT_TASKS, declared
from pipeline.providers.kaggle_layout import KaggleIndex
from pipeline.themes import label_sets


def scraped_sets(raw: Path) -> pd.DataFrame:
    """A scrape log of four sets under `raw` (two labelled, one unknown to the catalogue, one not fetched) and the
    catalogue's labelled sets."""
    records = []
    for set_id, name, status in [
        ("8684-2", None, "ok"),  # a collectible figure: Minifig
        ("3850-1", None, "ok"),  # Gear > Game: in no group
        ("99999-1", "Newer Set", "ok"),  # fetched, but unknown to the catalogue
        ("12345-1", "Gone", "not_found"),  # the scrape found nothing
    ]:
        image = f"images/{set_id}.jpg"
        if status == "ok":
            (raw / "images").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (48, 40), (200, 30, 30)).save(raw / image)
        records.append({"set_id": set_id, "name": name, "year": None, "image_url": None, "image": image,
                        "sha256": None, "status": status})  # fmt: skip
    (raw / manifest.SETS_LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    themes = pd.DataFrame(
        {"id": [501, 502, 535, 537], "name": ["Gear", "Game", "Collectible Minifigures", "Series 2 Minifigures"],
         "parent_id": [None, 501, None, 535]}
    )  # fmt: skip
    sets = pd.DataFrame(
        {"set_num": ["8684-2", "3850-1"], "name": ["Spartan Warrior", "Heroica Draida Bay"], "year": [2010, 2011],
         "theme_id": [537, 502], "num_parts": [8, 83]}
    )  # fmt: skip
    return label_sets(sets, themes, {"Minifig": ["Collectible Minifigures"]})


def test_excluded_sets_are_listed_with_their_reasons(tmp_path):
    raw = tmp_path / "data" / "raw" / "sets"
    labelled = scraped_sets(raw)

    rows, report, excluded = manifest.set_rows(next(manifest.iter_sets_log(raw)), raw, tmp_path, labelled)

    assert rows["set_num"].tolist() == ["8684-2"] and rows["theme_group"].tolist() == ["Minifig"]
    out = tmp_path / "reports" / "label" / "excluded_sets.csv"
    io.write_csv(out, excluded)
    listed = pd.read_csv(out)
    assert list(listed.columns) == ["set_num", "name", "theme_path", "reason"]
    assert listed.fillna("").values.tolist() == [
        ["12345-1", "Gone", "", "not fetched: not_found"],
        ["99999-1", "Newer Set", "", "not in catalogue"],
        ["3850-1", "Heroica Draida Bay", "Gear > Game", "theme in no group"],
    ]
    counts = listed["reason"].value_counts()
    assert report["excluded_not_in_catalogue"] == counts["not in catalogue"] == 1
    assert report["excluded_unmapped_theme"] == counts["theme in no group"] == 1
    assert report["excluded_not_fetched"] == 1
    assert report["sets_logged"] == report["sets_labelled"] + len(listed)
    assert report["ungrouped_themes"] == {"Gear > Game": 1} and report["per_group"] == {"Minifig": 1}


def test_the_manifest_written_a_few_rows_at_a_time_is_the_one_written_at_once(tmp_path):
    raw = RawFolders(*(tmp_path / "data" / "raw" / name for name in ("minifigures", "sets", "custom", "feedback")))
    labelled = scraped_sets(raw.sets)
    index = []
    for class_id, folder in ((1, "marvel/0001"), (2, "star-wars/0002")):
        for i in range(3):
            (raw.minifigures / folder).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (30 + i, 20), (class_id * 60, i * 50, 0)).save(raw.minifigures / folder / f"{i}.jpg")
            index.append({"path": f"{folder}/{i}.jpg", "class_id": class_id})
    (raw.minifigures / "broken").mkdir()
    (raw.minifigures / "broken" / "0.jpg").write_bytes(b"not a picture")  # no width: the column stays integers
    index.append({"path": "broken/0.jpg", "class_id": 2})
    pd.DataFrame(index).to_csv(raw.minifigures / "index.csv", index=False)
    for i in range(3):
        (raw.feedback / "minifigure" / "0001").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), (0, 0, i * 70)).save(raw.feedback / "minifigure" / "0001" / f"{i}.png")
    tasks = declared(DEFAULT_TASKS)
    written = {}
    for chunk_rows in (2, 10_000):
        out = tmp_path / str(chunk_rows)
        report = write_manifest(KaggleIndex(raw.minifigures, chunk_rows).chunks(), labelled, raw, tmp_path, tasks, out / "manifest.csv",
                                out / "excluded.csv", chunk_rows)  # fmt: skip
        written[chunk_rows] = (report, (out / "manifest.csv").read_bytes(), (out / "excluded.csv").read_bytes())
    assert written[2] == written[10_000]
    report, _, _ = written[2]
    assert report["images"] == 7 + 3 + 1 and report["minifigure_images"] == 7 and report["feedback_images"] == 3
    assert report["sets_logged"] == 4 and report["per_group"] == {"Minifig": 1}
    table = pd.read_csv(tmp_path / "2" / "manifest.csv")
    assert table["path"].is_monotonic_increasing and table["sha256"].str.len().eq(64).all()
    assert table["width"].isna().sum() == 1
    assert b",30.0," not in (tmp_path / "2" / "manifest.csv").read_bytes()  # integers, not floats beside a gap
    assert pd.read_csv(tmp_path / "2" / "excluded.csv")["reason"].is_monotonic_increasing


def test_an_unreadable_picture_gets_empty_facts_even_once_ultralytics_has_patched_pillow(tmp_path):
    from pipeline import offline

    offline.ultralytics()  # its Image.open retries an unidentified file through pi_heif, which is not installed
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    facts = manifest.file_facts(tmp_path / "broken.jpg")
    assert facts["bytes"] == 13 and facts["width"] is None and facts["format"] is None

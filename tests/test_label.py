"""The label stage's set rows: every logged set is either in the manifest or listed with the reason it is not."""

from __future__ import annotations

import json

import pandas as pd
from PIL import Image

from pipeline import io, manifest
from pipeline.themes import label_sets


def test_excluded_sets_are_listed_with_their_reasons(tmp_path):
    raw = tmp_path / "data" / "raw" / "sets"
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
    labelled = label_sets(sets, themes, {"Minifig": ["Collectible Minifigures"]})

    rows, report, excluded = manifest.set_rows(manifest.read_sets_log(raw), raw, tmp_path, labelled)

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

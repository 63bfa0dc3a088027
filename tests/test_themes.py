"""Theme labelling: every level up to the root, roots mapped to params' groups, bad hierarchies named."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import params
from pipeline.io import DataError
from pipeline.themes import label_sets, read_catalogue, theme_paths

# Root themes of the twelve real set images in ../shared/data/set-images, traced by hand in themes.csv.
REAL_ROOTS = {
    "1069-1": "Town", "1098-1": "Town", "2544-1": "Technic", "268-1": "Homemaker", "2-7": "Universal Building Set",
    "341-2": "Fabuland", "3460-1": "Bulk Bricks", "362-1": "Legoland", "845-1": "Universal Building Set",
    "8503-1": "Technic", "8684-2": "Collectible Minifigures", "890-1": "Universal Building Set",
}  # fmt: skip


def test_real_catalogue_walks_every_level(shared_data):
    sets, themes = read_catalogue(shared_data / "rebrickable-2021")
    labelled = label_sets(sets, themes, params.load().theme_groups).set_index("set_num")
    assert labelled.at["2544-1", "theme_path"] == "Technic > Model > Riding Cycle"
    assert labelled.at["2544-1", "theme_group"] == "Technic/Bionicle"
    images = sorted(p.stem for p in (shared_data / "set-images").glob("*.jpg"))
    assert images == sorted(REAL_ROOTS)
    assert {s: labelled.at[s, "theme"] for s in images} == REAL_ROOTS


def test_unmapped_roots_have_no_group():
    themes = pd.DataFrame({"id": [1, 2, 3], "name": ["Technic", "Model", "Books"], "parent_id": [None, 1, None]})
    sets = pd.DataFrame(
        {"set_num": ["1-1", "2-1"], "name": ["a", "b"], "year": [2000, 2001], "theme_id": [2, 3], "num_parts": [1, 1]}
    )
    labelled = label_sets(sets, themes, {"Technic/Bionicle": ["Technic"]})
    assert labelled["theme_group"].tolist()[0] == "Technic/Bionicle"
    assert pd.isna(labelled["theme_group"].tolist()[1])


def test_cycles_and_dangling_parents_are_errors():
    with pytest.raises(DataError, match="cycle"):
        theme_paths(pd.DataFrame({"id": [1, 2], "name": ["a", "b"], "parent_id": [2, 1]}))
    with pytest.raises(DataError, match="unknown parent_id 9"):
        theme_paths(pd.DataFrame({"id": [1], "name": ["a"], "parent_id": [9]}))


def test_a_root_in_two_groups_is_an_error():
    themes = pd.DataFrame({"id": [1], "name": ["Technic"], "parent_id": [None]})
    sets = pd.DataFrame({"set_num": ["1-1"], "name": ["a"], "year": [2000], "theme_id": [1], "num_parts": [1]})
    with pytest.raises(DataError, match="Technic"):
        label_sets(sets, themes, {"A": ["Technic"], "B": ["Technic"]})


def test_catalogue_with_img_url_column_and_missing_file(tmp_path):
    (tmp_path / "sets.csv").write_text("set_num,name,year,theme_id,num_parts,img_url\n1-1,a,2000,1,5,http://x/1.jpg\n")
    (tmp_path / "themes.csv").write_text("id,name,parent_id\n1,Technic,\n")
    sets, _ = read_catalogue(tmp_path)
    assert list(sets.columns) == ["set_num", "name", "year", "theme_id", "num_parts"]
    (tmp_path / "themes.csv").unlink()
    with pytest.raises(DataError, match="themes.csv"):
        read_catalogue(tmp_path)

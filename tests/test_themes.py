"""Theme labelling: every level up to the root, the deepest level named in params' groups decides, bad hierarchies named."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline import params
from pipeline.io import DataError
from pipeline.themes import group_lookup, label_sets, read_catalogue, read_labelled, theme_paths, write_labelled

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


# A slice of the real 2021 dump (ids and names as in ../shared/data/rebrickable-2021/themes.csv and sets.csv).
THEMES_CSV = """id,name,parent_id
1,Technic,
18,Star Wars,1
158,Star Wars,
254,Bulk Bricks,
255,Castle,254
186,Castle,
501,Gear,
503,Key Chain,501
502,Game,501
504,Duplo,
632,Town,504
650,Legoville,632
50,Town,
52,City,50
61,Police,52
535,Collectible Minifigures,
537,Series 2 Minifigures,535
696,Super Heroes Marvel,
703,Constraction,696
702,Avengers,696
"""
SETS_CSV = """set_num,name,year,theme_id,num_parts
8684-2,Spartan Warrior,2010,537,8
850353-1,Darth Vader Key Chain,2011,503,0
3850-1,Heroica Draida Bay,2011,502,83
8002-1,Destroyer Droid,2009,18,567
7965-1,Millennium Falcon,2011,158,1254
6184-1,Castle Bricks,2009,255,0
10835-1,Family House,2017,650,69
60043-1,Prisoner Transporter,2014,61,197
4529-1,Iron Man,2012,703,38
76032-1,The Avengers Quinjet City Chase,2015,702,735
"""


@pytest.fixture
def catalogue(tmp_path):
    """Real rows written as a Rebrickable dump and read back like one."""
    (tmp_path / "themes.csv").write_text(THEMES_CSV)
    (tmp_path / "sets.csv").write_text(SETS_CSV)
    return read_catalogue(tmp_path)


def test_the_deepest_level_named_decides(catalogue):
    groups = {
        "Minifig": ["Star Wars", "Castle", "Town", "Super Heroes Marvel", "Gear > Key Chain"],
        "Technic/Bionicle": ["Technic", "Super Heroes Marvel > Constraction"],
        "Bulk Bricks": ["Bulk Bricks"],
        "Young Children": ["Duplo"],
        "Police": ["Town > City > Police"],
    }
    labelled = label_sets(*catalogue, groups).set_index("set_num")["theme_group"]
    assert labelled["4529-1"] == "Technic/Bionicle"  # Super Heroes Marvel > Constraction: the sub-theme wins
    assert labelled["76032-1"] == "Minifig"  # Super Heroes Marvel > Avengers: the root decides
    assert labelled["60043-1"] == "Police"  # three levels deep
    assert labelled["850353-1"] == "Minifig"
    assert pd.isna(labelled["3850-1"])  # Gear > Game: neither it nor its root is named
    # a sub-theme that shares its name with another group's root keeps its own root's group
    assert labelled["8002-1"] == "Technic/Bionicle"  # Technic > Star Wars
    assert labelled["6184-1"] == "Bulk Bricks"  # Bulk Bricks > Castle
    assert labelled["10835-1"] == "Young Children"  # Duplo > Town > Legoville
    assert labelled["7965-1"] == "Minifig"


def test_project_groups_put_figures_in_minifig(catalogue):
    """The study's MiniFig group is figures rather than sets: a collectible figure like its own example image
    (8684-2) and a minifigure key chain; Constraction action figures go with Technic/Bionicle."""
    labelled = label_sets(*catalogue, params.load().theme_groups).set_index("set_num")
    assert labelled.at["8684-2", "theme_path"] == "Collectible Minifigures > Series 2 Minifigures"
    assert labelled.at["8684-2", "theme_group"] == "Minifig"
    assert labelled.at["850353-1", "theme_group"] == "Minifig"  # Gear > Key Chain
    assert pd.isna(labelled.at["3850-1", "theme_group"])  # Gear > Game stays out
    assert labelled.at["4529-1", "theme_group"] == "Technic/Bionicle"
    assert labelled.at["10835-1", "theme_group"] == "Young Children"


def test_real_collectible_figure_and_key_chain_are_minifig(shared_data):
    sets, themes = read_catalogue(shared_data / "rebrickable-2021")
    labelled = label_sets(sets, themes, params.load().theme_groups).set_index("set_num")
    assert labelled.at["8684-2", "theme_group"] == "Minifig"  # the Lego Themer study's own MiniFig example
    key_chains = labelled[labelled["theme_path"] == "Gear > Key Chain"]
    assert len(key_chains) > 100 and (key_chains["theme_group"] == "Minifig").all()
    assert (
        labelled.loc[labelled["theme_path"].str.startswith("Duplo", na=False), "theme_group"] == "Young Children"
    ).all()


def test_a_theme_in_two_groups_is_a_one_line_error():
    with pytest.raises(DataError, match=r"theme 'Gear > Key Chain' is in both 'Minifig' and 'Other'") as error:
        group_lookup({"Minifig": ["Town", "Gear > Key Chain"], "Other": ["Gear>Key Chain"]})
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="listed twice"):
        group_lookup({"Minifig": ["Town", "Town"]})
    with pytest.raises(DataError, match="not a theme path"):
        group_lookup({"Minifig": ["Gear > "]})


def test_catalogue_with_img_url_column_and_missing_file(tmp_path):
    (tmp_path / "sets.csv").write_text("set_num,name,year,theme_id,num_parts,img_url\n1-1,a,2000,1,5,http://x/1.jpg\n")
    (tmp_path / "themes.csv").write_text("id,name,parent_id\n1,Technic,\n")
    sets, _ = read_catalogue(tmp_path)
    assert list(sets.columns) == ["set_num", "name", "year", "theme_id", "num_parts"]
    (tmp_path / "themes.csv").unlink()
    with pytest.raises(DataError, match="themes.csv"):
        read_catalogue(tmp_path)


def test_the_labelled_sets_read_back_as_the_catalogue_stage_wrote_them(tmp_path):
    """The scrape and label stages read the catalogue stage's table: the same rows, names kept as text."""
    themes = pd.DataFrame({"id": [1, 2, 3], "name": ["Technic", "Model", "Gear"], "parent_id": [None, 1, None]})
    sets = pd.DataFrame(
        {"set_num": ["2544-1", "8-1", "0-1"], "name": ["Motorcycle", "NA", "None"], "year": [1998, 1977, 2001],
         "theme_id": [2, 1, 3], "num_parts": [27, 10, 1]}
    )  # fmt: skip
    labelled = label_sets(sets, themes, {"Technic/Bionicle": ["Technic"]})
    write_labelled(tmp_path / "labelled_sets.csv", labelled)
    back = read_labelled(tmp_path / "labelled_sets.csv")
    assert back["name"].tolist() == ["Motorcycle", "NA", "None"] and back["set_num"].tolist() == [
        "2544-1",
        "8-1",
        "0-1",
    ]
    assert back["theme_path"].tolist() == ["Technic > Model", "Technic", "Gear"]
    assert back["theme_group"].tolist()[:2] == ["Technic/Bionicle"] * 2 and pd.isna(back.at[2, "theme_group"])
    assert back["year"].tolist() == [1998, 1977, 2001] and list(back.columns) == list(labelled.columns)
    with pytest.raises(DataError, match="run the catalogue stage first"):
        read_labelled(tmp_path / "absent.csv")


def test_a_left_out_sub_theme_leaves_its_roots_group(shared_data):
    """`themes_left_out` takes a sub-theme out of the group its root gives (Creator Expert, the display models, out
    of Bulk Bricks); Creator's other sub-themes stay Bulk Bricks."""
    sets, themes = read_catalogue(shared_data / "rebrickable-2021")
    config = params.load()
    labelled = label_sets(sets, themes, config.theme_groups, ["Creator > Creator Expert"]).set_index("set_num")
    assert labelled.at["10214-1", "theme_path"] == "Creator > Creator Expert"  # Tower Bridge
    assert pd.isna(labelled.at["10214-1", "theme_group"])
    three_in_one = labelled[labelled["theme_path"] == "Creator > Creator 3-in-1"]
    assert len(three_in_one) > 50 and (three_in_one["theme_group"] == "Bulk Bricks").all()
    kept = label_sets(sets, themes, config.theme_groups, config.themes_left_out).set_index("set_num")
    assert kept.at["10214-1", "theme_group"] == "Bulk Bricks"  # the project's default: the study's grouping


def test_a_left_out_theme_in_a_group_too_is_a_one_line_error():
    with pytest.raises(DataError, match=r"themes_left_out: theme 'Creator' is also in theme_groups 'Bulk Bricks'"):
        group_lookup({"Bulk Bricks": ["Creator"]}, ["Creator"])
    with pytest.raises(DataError, match="themes_left_out: 'Creator > ' is not a theme path"):
        group_lookup({"Bulk Bricks": ["Creator"]}, ["Creator > "])

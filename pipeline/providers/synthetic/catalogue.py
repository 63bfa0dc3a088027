"""The synthetic Rebrickable catalogue: a theme tree under real root names, the drawing style of each root, and
about 1500 invented sets, among them the sets every minifigure class appears in.

Set names are seeded by set number alone (`set_name`), so the catalogue and the minifigures' metadata agree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.providers.synthetic.canvas import SALT_CATALOGUE, SALT_CHOICE, SALT_NAME, keyed_rng, pick

UNIVERSES = ("marvel", "star-wars", "harry-potter", "jurassic-world")
MINIFIG_SET_BASE = 90000  # minifigure class c owns set numbers 90000 + 2c - 1 and 90000 + 2c
MAX_MINIFIG_CLASSES = 100  # the catalogue holds the sets of this many classes, whatever `classes` is

# Rebrickable-style theme tree: root -> subtheme -> sub-subthemes. Root names are real LEGO themes.
THEME_TREE: dict[str, dict[str, list[str]]] = {
    "Technic": {"Model": ["Construction", "Off-Road"], "Supplementals": [], "Power Functions": []},
    "Bionicle": {"Toa": [], "Bohrok": []},
    "Duplo": {"Duplo Town": ["Farm"], "Animals": []},
    "Juniors": {},
    "Star Wars": {"Episode IV-VI": ["Mini Building Set"], "The Clone Wars": [], "Ultimate Collector Series": []},
    "Town": {"City": ["Police", "Fire"], "Space Port": []},
    "Castle": {"Lion Knights": [], "Kingdoms": [], "Fright Knights": []},
    "Harry Potter": {"Chamber of Secrets": [], "Hogwarts": ["Great Hall"]},
    "Bulk Bricks": {"Supplemental": [], "Basic": []},
    "Classic": {},
    "Books": {"Activity Books": []},
    "Gear": {"Key Chains": ["Minifig Key Chains"]},
}

# Drawing style of each root theme. Books and Gear are unmapped downstream; they borrow a style
# and are drawn inside a book cover / as a keychain (see `VARIANT`).
ROOT_STYLE: dict[str, str] = {
    "Technic": "technic",
    "Bionicle": "technic",
    "Duplo": "young",
    "Juniors": "young",
    "Star Wars": "minifig",
    "Town": "minifig",
    "Castle": "minifig",
    "Harry Potter": "minifig",
    "Bulk Bricks": "bulk",
    "Classic": "bulk",
    "Books": "young",
    "Gear": "minifig",
}
STYLES = ("technic", "young", "minifig", "bulk")
VARIANT = {"Books": "book", "Gear": "keychain"}
_UNIVERSE_ROOT = {
    "marvel": "Town",
    "star-wars": "Star Wars",
    "harry-potter": "Harry Potter",
    "jurassic-world": "Castle",
}

# Share of the ~1300 non-minifigure catalogue sets per root, and their years and part counts.
_ROOT_WEIGHT = {
    "Technic": 12,
    "Bionicle": 7,
    "Duplo": 12,
    "Juniors": 6,
    "Star Wars": 8,
    "Town": 8,
    "Castle": 6,
    "Harry Potter": 4,
    "Bulk Bricks": 10,
    "Classic": 8,
    "Books": 5,
    "Gear": 5,
}
_ROOT_YEARS = {
    "Technic": (1980, 2021),
    "Bionicle": (2001, 2016),
    "Duplo": (1980, 2021),
    "Juniors": (2014, 2018),
    "Star Wars": (1999, 2021),
    "Town": (1980, 2021),
    "Castle": (1980, 2021),
    "Harry Potter": (2001, 2021),
    "Bulk Bricks": (1980, 2021),
    "Classic": (2000, 2021),
    "Books": (1990, 2021),
    "Gear": (1995, 2021),
}
_STYLE_PARTS = {"technic": (5.6, 0.8), "young": (3.4, 0.6), "minifig": (5.3, 0.8), "bulk": (5.8, 0.7)}
_OTHER_SETS = 1300

_NAME_WORDS = {
    "technic": (
        ("Heavy", "Rally", "Mobile", "Tracked", "Power", "Race", "Rescue", "Mining", "Crawler"),
        ("Crane", "Excavator", "Truck", "Loader", "Helicopter", "Bulldozer", "Tractor", "Racer", "Titan"),
    ),
    "young": (
        ("My First", "Happy", "Little", "Busy", "Fun", "Creative", "Sunny", "Cuddly"),
        ("Farm", "Zoo", "Train", "Garden", "House", "Animals", "Playground", "Bus"),
    ),
    "minifig": (
        ("Rebel", "Imperial", "Secret", "Royal", "Mountain", "Harbour", "Forbidden", "Galactic", "Hidden"),
        (
            "Outpost",
            "Fortress",
            "Hideout",
            "Starfighter",
            "Police Station",
            "Tower",
            "Castle",
            "Shuttle",
            "Chase",
            "Showdown",
            "Ambush",
            "Escape",
        ),
    ),
    "bulk": (
        ("Basic", "Large", "Creative", "Deluxe", "Classic", "Bright", "Brick"),
        ("Bricks", "Brick Box", "Bucket", "Supplementary Set", "Starter Tub", "Plates", "Creative Box"),
    ),
}
_BOOK_WORDS = (
    ("Ultimate", "Awesome", "Build It", "Ideas", "Visual"),
    ("Guide", "Dictionary", "Activity Book", "Handbook"),
)
_GEAR_WORDS = (("Minifigure", "Brick", "Logo", "Classic"), ("Key Chain", "Magnet", "Storage Head", "Pencil Pot"))
_VERSUS_NAMES = ("Spider Mech", "Sky Glider", "Dino Tracker", "Hover Bike", "Mine Cart", "Rocket Sled", "Swamp Boat")
_RIVALS = ("Venom", "the Raptor", "the Dark Knight", "the Troll", "the Pirates", "the Drone")


# --------------------------------------------------------------------------------------------------
# Names, the theme tree, the sets


def set_name(seed: int, number: int, style: str, root: str = "") -> str:
    """Invented set names; seeded by set number so the catalogue and minifigure metadata agree."""
    rng = keyed_rng(seed, number, SALT_NAME)
    first: tuple[str, ...]
    second: tuple[str, ...]
    if root == "Books":
        first, second = _BOOK_WORDS
    elif root == "Gear":
        first, second = _GEAR_WORDS
    else:
        first, second = _NAME_WORDS[style]
    if style == "minifig" and rng.random() < 0.2:
        return f"{pick(rng, _VERSUS_NAMES)} vs. {pick(rng, _RIVALS)}"
    return f"{pick(rng, first)} {pick(rng, second)}"


def _themes() -> pd.DataFrame:
    rows: list[tuple[int, str, int | None]] = []
    for root, subs in THEME_TREE.items():
        root_id = len(rows) + 1
        rows.append((root_id, root, None))
        for sub, subsubs in subs.items():
            sub_id = len(rows) + 1
            rows.append((sub_id, sub, root_id))
            for subsub in subsubs:
                rows.append((len(rows) + 1, subsub, sub_id))
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "parent_id": pd.array([r[2] for r in rows], dtype="Int64"),
        }
    )


def theme_roots(themes: pd.DataFrame) -> dict[int, str]:
    """Theme id -> name of its root theme, following parent_id up the tree."""
    parent = {int(i): (None if pd.isna(p) else int(p)) for i, p in zip(themes["id"], themes["parent_id"], strict=True)}
    names = dict(zip(themes["id"].astype(int), themes["name"], strict=True))
    roots: dict[int, str] = {}
    for theme_id in parent:
        node, seen = theme_id, set()
        while (up := parent[node]) is not None:
            if node in seen:
                raise ValueError(f"theme cycle through {node}")
            seen.add(node)
            node = up
        roots[theme_id] = names[node]
    return roots


def synthetic_catalogue(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebrickable-dump-shaped `(sets, themes)`; includes every set `render_minifigures` metadata names."""
    themes = _themes()
    roots = theme_roots(themes)
    subtree = {root: [t for t, r in roots.items() if r == root] for root in THEME_TREE}
    rng = keyed_rng(seed, SALT_CATALOGUE)

    def row(number: int, root: str) -> tuple[str, str, int, int, int]:
        style = ROOT_STYLE[root]
        low, high = _ROOT_YEARS[root]
        if root in ("Books", "Gear"):
            parts = int(rng.integers(0, 12))
        else:
            mu, sigma = _STYLE_PARTS[style]
            parts = int(np.clip(rng.lognormal(mu, sigma), 4, 6000))
        return (
            f"{number}-1",
            set_name(seed, number, style, root),
            int(rng.integers(low, high + 1)),
            pick(rng, subtree[root]),
            parts,
        )

    rows = []
    for k in range(1, 2 * MAX_MINIFIG_CLASSES + 1):
        class_id = (k + 1) // 2
        rows.append(row(MINIFIG_SET_BASE + k, _UNIVERSE_ROOT[UNIVERSES[(class_id - 1) % len(UNIVERSES)]]))
    numbers = rng.choice(np.arange(1000, 80000), size=_OTHER_SETS, replace=False)
    weights = np.array(list(_ROOT_WEIGHT.values()), dtype=float)
    root_names = list(_ROOT_WEIGHT)
    for number, root_index in zip(
        numbers, rng.choice(len(root_names), size=_OTHER_SETS, p=weights / weights.sum()), strict=True
    ):
        rows.append(row(int(number), root_names[int(root_index)]))
    sets = pd.DataFrame(rows, columns=["set_num", "name", "year", "theme_id", "num_parts"])
    sets = sets.sort_values("set_num", kind="stable").reset_index(drop=True)
    return sets, themes


def choose_sets(sets: pd.DataFrame, roots_of_set: list[str], count: int, seed: int) -> list[int]:
    """Stratified pick: cycle styles (Books/Gear a smaller share), within a style cycle its roots."""
    rng = keyed_rng(seed, SALT_CHOICE)
    queues: dict[str, list[int]] = {root: [] for root in THEME_TREE}
    for i, root in enumerate(roots_of_set):
        queues[root].append(i)
    for root in queues:
        queues[root] = [queues[root][int(k)] for k in rng.permutation(len(queues[root]))]
    groups = {style: [r for r in THEME_TREE if ROOT_STYLE[r] == style and r not in VARIANT] for style in STYLES}
    groups["other"] = list(VARIANT)
    pattern = [*STYLES, *STYLES, "other"]
    turn = dict.fromkeys(groups, 0)
    if count > len(sets):
        raise ValueError(f"count {count} exceeds the catalogue's {len(sets)} sets")
    chosen: list[int] = []
    step = 0
    while len(chosen) < count:
        group = pattern[step % len(pattern)]
        step += 1
        members = groups[group]
        for _ in range(len(members)):
            root = members[turn[group] % len(members)]
            turn[group] += 1
            if queues[root]:
                chosen.append(queues[root].pop())
                break
    return chosen

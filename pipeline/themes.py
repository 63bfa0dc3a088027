"""Rebrickable theme hierarchy: walk each set's theme up to its root and map themes to `theme_groups`.

A `theme_groups` entry names a theme by its path from the root: a root theme (`Technic`) or a sub-theme at any
depth (`Gear > Key Chain`, `Super Heroes Marvel > Constraction`). A set belongs to the group of the deepest level
of its theme path that an entry names. Entries are paths, not bare names, because Rebrickable reuses sub-theme
names under other roots (`Duplo > Town`, `Bulk Bricks > Castle`, `Technic > Star Wars`): a bare name matched at
any level would move those sets into the group of the root theme of the same name. A sub-theme in
`themes_left_out` takes its sets out of their root's group (`Creator > Creator Expert`: display models).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pipeline.io import DataError, write_csv

SETS_COLUMNS = ["set_num", "name", "year", "theme_id", "num_parts"]
THEMES_COLUMNS = ["id", "name", "parent_id"]
PATH_SEPARATOR = " > "


def read_catalogue(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`sets.csv` and `themes.csv` of a Rebrickable dump (with or without the newer `img_url` column)."""
    frames = []
    for name, columns in (("sets.csv", SETS_COLUMNS), ("themes.csv", THEMES_COLUMNS)):
        path = Path(folder) / name
        if not path.is_file():
            raise DataError(f"{path}: file not found (expected a Rebrickable {name})")
        frame = pd.read_csv(path, dtype={"set_num": str})
        missing = set(columns) - set(frame.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {sorted(missing)}")
        frames.append(frame[columns])
    return frames[0], frames[1]


def theme_paths(themes: pd.DataFrame) -> dict[int, list[str]]:
    """`theme id → [root name, …, own name]`, every level; a cycle or dangling parent is an error."""
    name = dict(zip(themes["id"].astype(int), themes["name"]))
    parent = {int(i): (None if pd.isna(p) else int(p)) for i, p in zip(themes["id"], themes["parent_id"])}
    paths: dict[int, list[str]] = {}
    for start in name:
        chain, seen, node = [], set(), start
        while node is not None:
            if node in seen:
                raise DataError(f"themes.csv: theme {start} has a parent cycle through theme {node}")
            if node not in name:
                raise DataError(f"themes.csv: theme {start} refers to unknown parent_id {node}")
            seen.add(node)
            chain.append(name[node])
            node = parent[node]
        paths[start] = chain[::-1]
    return paths


def theme_key(entry: str) -> tuple[str, ...]:
    """`'Gear > Key Chain'` → `('Gear', 'Key Chain')` (spaces around `>` do not matter)."""
    return tuple(part.strip() for part in str(entry).split(PATH_SEPARATOR.strip()))


def group_lookup(theme_groups: dict[str, list[str]], left_out: Sequence[str] = ()) -> dict[tuple[str, ...], str | None]:
    """`theme path (root first) → group`, None for a theme `left_out` (a sub-theme taken out of its root's group); a
    theme listed under two groups (or twice, or also left out) is an error."""
    lookup: dict[tuple[str, ...], str | None] = {}
    for group, entries in theme_groups.items():
        for entry in entries:
            key = theme_key(entry)
            if not all(key):
                raise DataError(
                    f"params.yaml: theme_groups: {group}: {entry!r} is not a theme path (e.g. 'Gear > Key Chain')"
                )
            if key in lookup:
                where = (
                    f"listed twice in {group!r}" if lookup[key] == group else f"in both {lookup[key]!r} and {group!r}"
                )
                raise DataError(f"params.yaml: theme_groups: theme {PATH_SEPARATOR.join(key)!r} is {where}")
            lookup[key] = group
    for entry in left_out:
        key = theme_key(entry)
        if not all(key):
            raise DataError(f"params.yaml: themes_left_out: {entry!r} is not a theme path (e.g. 'Gear > Key Chain')")
        if key in lookup:
            where = "listed twice" if lookup[key] is None else f"also in theme_groups {lookup[key]!r}"
            raise DataError(f"params.yaml: themes_left_out: theme {PATH_SEPARATOR.join(key)!r} is {where}")
        lookup[key] = None
    return lookup


def deepest_group(chain: list[str] | None, lookup: dict[tuple[str, ...], str | None]) -> str | None:
    """The group of the deepest level of `chain` (root first) that `lookup` names: None if none is, or if that
    level is left out."""
    if chain is None:
        return None
    for depth in range(len(chain), 0, -1):
        if (key := tuple(chain[:depth])) in lookup:
            return lookup[key]
    return None


def label_sets(
    sets: pd.DataFrame, themes: pd.DataFrame, theme_groups: dict[str, list[str]], left_out: Sequence[str] = ()
) -> pd.DataFrame:
    """Every catalogue set with `theme_path` (all levels, ' > '-joined), root `theme` and `theme_group`
    (the deepest level named in `theme_groups` or `left_out`; NaN if none is, or if that level is left out)."""
    paths = theme_paths(themes)
    groups = group_lookup(theme_groups, left_out)
    labelled = sets[["set_num", "name", "year", "theme_id"]].copy()
    chains = labelled["theme_id"].map(lambda t: paths.get(int(t)) if pd.notna(t) else None)
    labelled["theme_path"] = chains.map(lambda c: PATH_SEPARATOR.join(c) if c else None)
    labelled["theme"] = chains.map(lambda c: c[0] if c else None)
    labelled["theme_group"] = chains.map(lambda c: deepest_group(c, groups))
    return labelled


LABELLED_TEXT = ["set_num", "name", "theme_path", "theme", "theme_group"]


def write_labelled(path: Path, labelled: pd.DataFrame) -> None:
    """`label_sets`' table as CSV, for the stages that read it (scrape, label) rather than label again."""
    write_csv(path, labelled)


def read_labelled(path: Path) -> pd.DataFrame:
    """`write_labelled`'s table as `label_sets` returned it: text columns stay text and only empty cells are
    missing (pandas would also read a name such as `NA` or `None` as missing)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (run the catalogue stage first)")
    return pd.read_csv(path, dtype={c: str for c in LABELLED_TEXT}, keep_default_na=False, na_values=[""])

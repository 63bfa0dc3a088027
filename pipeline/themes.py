"""Rebrickable theme hierarchy: walk each set's theme up to its root and map roots to `theme_groups`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.io import DataError

SETS_COLUMNS = ["set_num", "name", "year", "theme_id", "num_parts"]
THEMES_COLUMNS = ["id", "name", "parent_id"]


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


def group_lookup(theme_groups: dict[str, list[str]]) -> dict[str, str]:
    """`root theme name → group`; a root listed under two groups is an error."""
    lookup: dict[str, str] = {}
    for group, roots in theme_groups.items():
        for root in roots:
            if root in lookup:
                raise DataError(
                    f"params.yaml: theme_groups: root theme {root!r} is in both {lookup[root]!r} and {group!r}"
                )
            lookup[root] = group
    return lookup


def label_sets(sets: pd.DataFrame, themes: pd.DataFrame, theme_groups: dict[str, list[str]]) -> pd.DataFrame:
    """Every catalogue set with `theme_path` (all levels, ' > '-joined), root `theme` and `theme_group` (NaN if unmapped)."""
    paths = theme_paths(themes)
    groups = group_lookup(theme_groups)
    labelled = sets[["set_num", "name", "year", "theme_id"]].copy()
    chains = labelled["theme_id"].map(lambda t: paths.get(int(t)) if pd.notna(t) else None)
    labelled["theme_path"] = chains.map(lambda c: " > ".join(c) if c else None)
    labelled["theme"] = chains.map(lambda c: c[0] if c else None)
    labelled["theme_group"] = labelled["theme"].map(groups)
    return labelled

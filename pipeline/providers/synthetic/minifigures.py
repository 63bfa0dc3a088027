"""The Kaggle `ihelon/lego-minifigures-classification` layout, rendered: class folders of photos, `index.csv`,
`test/` with `test.csv`, and `metadata.csv` naming each class and the catalogue sets it appears in.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from pipeline.io import atomic_path, write_bytes
from pipeline.providers.synthetic.canvas import (
    SALT_LEGO_IDS,
    SALT_NAME,
    SUPERSAMPLE,
    background,
    csv_bytes,
    draw_clutter,
    finish,
    keyed_rng,
    paste_layer,
    pick,
    uniform,
)
from pipeline.providers.synthetic.catalogue import MAX_MINIFIG_CLASSES, MINIFIG_SET_BASE, UNIVERSES, set_name
from pipeline.providers.synthetic.figures import FigSpec, class_spec, draw_minifig, random_fig_spec

_SPLIT_CODE = {"train": 0, "test": 1}


MINIFIG_NAMES = (
    "SPACE PILOT",
    "KNIGHT",
    "WIZARD",
    "DEEP SEA DIVER",
    "FIREFIGHTER",
    "POLICE OFFICER",
    "PIRATE CAPTAIN",
    "EXPLORER",
    "FOREST RANGER",
    "STORM SCOUT",
    "DARK KNIGHT",
    "APPRENTICE",
    "PROFESSOR",
    "DINO HUNTER",
    "PARK KEEPER",
    "VOLCANO RESEARCHER",
    "MECH PILOT",
    "SKY RACER",
    "ARCHER",
    "ALCHEMIST",
    "GROUNDSKEEPER",
    "STAR TROOPER",
    "REBEL MEDIC",
    "HOVER DRIVER",
    "CAVE EXPLORER",
    "NIGHT GUARD",
    "BRICK SMITH",
    "SHIELD BEARER",
    "TIME TRAVELLER",
    "ROBOT MECHANIC",
    "SNOW PATROL",
    "DESERT NOMAD",
    "ARENA CHAMPION",
    "HARBOUR MASTER",
    "JUNGLE GUIDE",
    "ICE SORCERER",
)


def minifigure_name(seed: int, class_id: int) -> str:
    """Unique per class: a seeded order over the name pool, numbered once the pool runs out."""
    order = keyed_rng(seed, SALT_NAME).permutation(len(MINIFIG_NAMES))
    lap, pos = divmod(class_id - 1, len(MINIFIG_NAMES))
    name = MINIFIG_NAMES[int(order[pos])]
    return name if lap == 0 else f"{name} {lap + 1}"


def minifig_lego_ids(seed: int, class_id: int) -> list[int]:
    """Set numbers of the synthetic sets a class appears in (one or two), all present in the catalogue."""
    first = MINIFIG_SET_BASE + 2 * class_id - 1
    return [first, first + 1] if keyed_rng(seed, class_id, SALT_LEGO_IDS).random() < 0.4 else [first]


def _render_minifig_image(spec: FigSpec, rng: np.random.Generator, size: int) -> bytes:
    n = size * SUPERSAMPLE
    canvas = background(rng, n, n)
    if rng.random() < 0.12:  # a stranger at the edge of the frame
        other = draw_minifig(random_fig_spec(rng), rng, uniform(rng, 0.3, 0.5) * n)
        paste_layer(canvas, other, pick(rng, (0.05, 0.95)) * n, uniform(rng, 0.2, 0.8) * n)
    fig = draw_minifig(spec, rng, uniform(rng, 0.5, 0.95) * n)
    if rng.random() < 0.5:
        fig = fig.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    fig = fig.rotate(uniform(rng, -30, 30), resample=Image.Resampling.BILINEAR, expand=True)
    paste_layer(canvas, fig, uniform(rng, 0.3, 0.7) * n, uniform(rng, 0.35, 0.65) * n)
    if rng.random() < 0.2:  # something in front of the figure
        draw_clutter(ImageDraw.Draw(canvas), rng, n, n, int(rng.integers(1, 3)))
    return finish(canvas, rng, (size, size))


def render_minifigures(
    out_dir: Path, *, classes: int, train_per_class: int, test_per_class: int, image_size: int, seed: int
) -> None:
    """Write the Kaggle minifigures layout: class folders, index.csv, test/ + test.csv, metadata.csv.

    Existing files with the same names are replaced; nothing else under `out_dir` is removed.
    """
    if not 1 <= classes <= MAX_MINIFIG_CLASSES:
        raise ValueError(f"classes must be in 1..{MAX_MINIFIG_CLASSES}, got {classes}")
    if train_per_class < 0 or test_per_class < 0 or image_size < 8:
        raise ValueError("per-class counts must be >= 0 and image_size >= 8")
    out_dir = Path(out_dir)
    specs = {c: class_spec(seed, c) for c in range(1, classes + 1)}
    folders = {c: f"{UNIVERSES[(c - 1) % len(UNIVERSES)]}/{(c - 1) // len(UNIVERSES) + 1:04d}" for c in specs}

    total = classes * (train_per_class + test_per_class)
    with tqdm(total=total, desc="render minifigures", unit="img") as bar:

        def render_split(split: str, per_class: int, path: Callable[[int, int, int], str], table: str) -> None:
            """The split's images and its `table` of `(path, class_id)` rows, class by class, written as they are
            drawn; `path(class_id, i, n)` names the i-th image of a class, the n-th of the split."""
            with atomic_path(out_dir / table) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
                rows = csv.writer(handle, lineterminator="\n")
                rows.writerow(("path", "class_id"))
                n = 0
                for c, spec in specs.items():
                    for i in range(1, per_class + 1):
                        n += 1
                        rel = path(c, i, n)
                        image = _render_minifig_image(spec, keyed_rng(seed, c, _SPLIT_CODE[split], i), image_size)
                        write_bytes(out_dir / rel, image)
                        rows.writerow((rel, c))
                        bar.update()

        render_split("train", train_per_class, lambda c, i, _n: f"{folders[c]}/{i:03d}.jpg", "index.csv")
        render_split("test", test_per_class, lambda _c, _i, n: f"test/{n:03d}.jpg", "test.csv")

    metadata_rows = []
    for c in specs:
        ids = minifig_lego_ids(seed, c)
        names = [set_name(seed, n, "minifig") for n in ids]
        metadata_rows.append((c, str(ids), str(names), minifigure_name(seed, c)))
    write_bytes(
        out_dir / "metadata.csv", csv_bytes(("class_id", "lego_ids", "lego_names", "minifigure_name"), metadata_rows)
    )

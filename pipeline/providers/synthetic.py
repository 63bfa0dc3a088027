"""Embedded default data: procedurally rendered LEGO images, so the pipeline runs offline with no credentials.

Two providers copy the shape of real sources so downstream code cannot tell them apart:

- `render_minifigures` writes the layout of Kaggle's `ihelon/lego-minifigures-classification`;
- `synthetic_catalogue` returns a Rebrickable CSV-dump catalogue (sets, themes) and `render_sets` draws
  box-art-like set images with BrickInsights-shaped records.

Everything is seeded: the same arguments give byte-identical files. Every image draws from its own RNG,
keyed by (seed, class or set, split, index), so one image never depends on how many others were drawn.
Images are drawn at twice the size and box-reduced, which anti-aliases the shapes cheaply.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

Colour = tuple[int, int, int]
T = TypeVar("T")

UNIVERSES = ("marvel", "star-wars", "harry-potter", "jurassic-world")
MINIFIG_SET_BASE = 90000  # minifigure class c owns set numbers 90000 + 2c - 1 and 90000 + 2c
MAX_MINIFIG_CLASSES = 100  # the catalogue holds the sets of this many classes, whatever `classes` is
SUPERSAMPLE = 2
_SPLIT_CODE = {"train": 0, "test": 1}
# Salts keep the RNG streams of different purposes apart for the same seed.
_SALT_CLASS, _SALT_CATALOGUE, _SALT_NAME, _SALT_SET_IMAGE, _SALT_LEGO_IDS, _SALT_CHOICE = 101, 202, 303, 404, 505, 606

LEGO: dict[str, Colour] = {
    "red": (201, 26, 9),
    "dark_red": (114, 14, 15),
    "blue": (0, 85, 191),
    "dark_blue": (10, 52, 99),
    "medium_azure": (54, 174, 191),
    "green": (35, 120, 65),
    "dark_green": (24, 70, 50),
    "bright_green": (75, 159, 74),
    "lime": (187, 233, 11),
    "yellow": (242, 205, 55),
    "orange": (254, 138, 24),
    "white": (242, 243, 242),
    "black": (27, 42, 52),
    "light_grey": (160, 165, 169),
    "dark_grey": (108, 110, 104),
    "reddish_brown": (88, 42, 18),
    "tan": (228, 205, 158),
    "dark_tan": (149, 138, 115),
    "magenta": (146, 57, 120),
    "dark_purple": (63, 54, 145),
    "pearl_gold": (170, 127, 46),
    "sand_green": (160, 188, 172),
    "bright_pink": (228, 173, 200),
    "nougat": (208, 145, 104),
}
PALETTE: tuple[Colour, ...] = tuple(LEGO.values())
HEADS: tuple[Colour, ...] = (
    LEGO["yellow"],
    LEGO["yellow"],
    (246, 215, 179),
    (208, 145, 104),
    (170, 125, 85),
    (115, 74, 48),
)

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
# and are drawn inside a book cover / as a keychain (see `_VARIANT`).
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
_VARIANT = {"Books": "book", "Gear": "keychain"}
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


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def _pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def _u(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _shade(c: Colour, factor: float) -> Colour:
    """Darken (<1) or lighten towards white (>1)."""
    if factor <= 1:
        return (int(c[0] * factor), int(c[1] * factor), int(c[2] * factor))
    t = min(factor - 1, 1.0)
    return (int(c[0] + (255 - c[0]) * t), int(c[1] + (255 - c[1]) * t), int(c[2] + (255 - c[2]) * t))


def _random_colour(rng: np.random.Generator) -> Colour:
    if rng.random() < 0.5:
        return _pick(rng, PALETTE)
    r, g, b = rng.integers(0, 256, 3)
    return (int(r), int(g), int(b))


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers never see a half-written file: write beside the target, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Minifigures


@dataclass(frozen=True)
class FigSpec:
    """What makes one minifigure class recognisable: palette, headgear, torso print and marks."""

    head: Colour
    headgear: str
    headgear_colour: Colour
    face: str
    torso: Colour
    print_kind: str
    print_colour: Colour
    print_colour2: Colour
    arms: Colour
    hands: Colour
    hips: Colour
    legs: Colour
    leg_stripe: Colour | None
    accessory: str
    accessory_colour: Colour
    badge: Colour | None


_HEADGEAR = ("hair", "hair", "helmet", "hat", "hood", "cap", "bald", "bun")
_FACES = ("plain", "brows", "beard", "glasses", "visor", "freckles", "mask")
_PRINTS = (
    "stripes_h",
    "stripes_v",
    "emblem_circle",
    "emblem_star",
    "emblem_diamond",
    "logo_triangle",
    "logo_bolt",
    "buttons",
    "zip",
    "belt",
    "tie",
    "cross",
    "pockets",
)
_ACCESSORIES = ("none", "none", "none", "cape", "sword", "shield", "wand", "backpack")


def _random_fig_spec(rng: np.random.Generator) -> FigSpec:
    torso = _pick(rng, PALETTE)
    legs = _pick(rng, PALETTE)
    return FigSpec(
        head=_pick(rng, HEADS),
        headgear=_pick(rng, _HEADGEAR),
        headgear_colour=_pick(rng, PALETTE),
        face=_pick(rng, _FACES),
        torso=torso,
        print_kind=_pick(rng, _PRINTS),
        print_colour=_pick(rng, PALETTE),
        print_colour2=_pick(rng, PALETTE),
        arms=torso if rng.random() < 0.7 else _pick(rng, PALETTE),
        hands=LEGO["yellow"] if rng.random() < 0.6 else _pick(rng, (LEGO["black"], LEGO["white"], LEGO["nougat"])),
        hips=legs if rng.random() < 0.7 else _pick(rng, PALETTE),
        legs=legs,
        leg_stripe=_pick(rng, PALETTE) if rng.random() < 0.25 else None,
        accessory=_pick(rng, _ACCESSORIES),
        accessory_colour=_pick(rng, PALETTE),
        badge=None,
    )


def _twin_of(base: FigSpec, rng: np.random.Generator) -> FigSpec:
    """A class that differs from `base` by one small mark or a slightly different shade: the hard pairs."""
    change = _pick(rng, ("badge", "print_shade", "torso_shade", "face", "legs_shade"))
    if change == "badge":
        colour = _pick(rng, [c for c in PALETTE if c != base.torso])
        return replace(base, badge=colour)
    if change == "print_shade":
        return replace(base, print_colour=_shade(base.print_colour, 0.6 if sum(base.print_colour) > 250 else 1.45))
    if change == "torso_shade":
        factor = 0.7 if sum(base.torso) > 250 else 1.4
        arms = _shade(base.arms, factor) if base.arms == base.torso else base.arms
        return replace(base, torso=_shade(base.torso, factor), arms=arms)
    if change == "face":
        return replace(base, face=_pick(rng, [f for f in _FACES if f != base.face]))
    factor = 0.65 if sum(base.legs) > 250 else 1.45
    return replace(base, legs=_shade(base.legs, factor), hips=_shade(base.hips, factor))


def class_spec(seed: int, class_id: int) -> FigSpec:
    """Classes 2, 5, 8, ... are near-twins of the class before them, so the task is not trivially separable."""
    rng = _rng(seed, class_id, _SALT_CLASS)
    if class_id % 3 == 2:
        return _twin_of(class_spec(seed, class_id - 1), rng)
    return _random_fig_spec(rng)


def minifigure_name(seed: int, class_id: int) -> str:
    """Unique per class: a seeded order over the name pool, numbered once the pool runs out."""
    order = _rng(seed, _SALT_NAME).permutation(len(MINIFIG_NAMES))
    lap, pos = divmod(class_id - 1, len(MINIFIG_NAMES))
    name = MINIFIG_NAMES[int(order[pos])]
    return name if lap == 0 else f"{name} {lap + 1}"


def minifig_lego_ids(seed: int, class_id: int) -> list[int]:
    """Set numbers of the synthetic sets a class appears in (one or two), all present in the catalogue."""
    first = MINIFIG_SET_BASE + 2 * class_id - 1
    return [first, first + 1] if _rng(seed, class_id, _SALT_LEGO_IDS).random() < 0.4 else [first]


def _draw_minifig(spec: FigSpec, rng: np.random.Generator, height: float) -> Image.Image:
    """One figure on a transparent layer, in a 120 x 172 unit frame scaled to `height` px, random pose."""
    s = height / 172.0
    layer = Image.new("RGBA", (max(1, math.ceil(120 * s)), max(1, math.ceil(172 * s))), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    lw = max(1, round(1.2 * s))

    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    def pts(*p: tuple[float, float]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in p]

    def edge(c: Colour) -> Colour:
        return _shade(c, 0.6)

    left_raise, right_raise = _u(rng, -12, 80), _u(rng, -12, 80)
    leg_shift = _u(rng, 0, 8)

    if spec.accessory == "cape":
        d.polygon(
            pts((42, 58), (78, 58), (94, 150), (26, 150)),
            fill=spec.accessory_colour,
            outline=edge(spec.accessory_colour),
        )
    if spec.accessory == "backpack":
        d.rectangle(box(32, 62, 88, 100), fill=spec.accessory_colour, outline=edge(spec.accessory_colour))

    # legs and hips
    d.rectangle(box(36, 113, 59, 160 - leg_shift), fill=spec.legs, outline=edge(spec.legs), width=lw)
    d.rectangle(box(61, 113, 84, 160), fill=spec.legs, outline=edge(spec.legs), width=lw)
    d.rectangle(box(36, 156 - leg_shift, 59, 160 - leg_shift), fill=_shade(spec.legs, 0.8))
    d.rectangle(box(61, 156, 84, 160), fill=_shade(spec.legs, 0.8))
    if spec.leg_stripe is not None:
        d.rectangle(box(46, 114, 49, 155 - leg_shift), fill=spec.leg_stripe)
        d.rectangle(box(71, 114, 74, 155), fill=spec.leg_stripe)
    d.rectangle(box(36, 105, 84, 114), fill=spec.hips, outline=edge(spec.hips), width=lw)

    # torso and print
    d.polygon(pts((42, 57), (78, 57), (86, 106), (34, 106)), fill=spec.torso, outline=edge(spec.torso))
    _draw_print(d, spec, s)
    if spec.badge is not None:
        d.ellipse(box(65, 65, 73, 73), fill=spec.badge)

    # arms and hands: thick lines pivoting at the shoulders
    for side, raise_deg in ((-1, left_raise), (1, right_raise)):
        sx, sy = 60 + side * 19, 62
        a = math.radians(8 + raise_deg)
        ex, ey = sx + side * 30 * math.sin(a), sy + 30 * math.cos(a)
        d.line(pts((sx, sy), (ex, ey)), fill=spec.arms, width=max(1, round(11 * s)))
        d.ellipse(box(sx - 5.5, sy - 5.5, sx + 5.5, sy + 5.5), fill=spec.arms)
        hx, hy = sx + side * 37 * math.sin(a), sy + 37 * math.cos(a)
        d.ellipse(box(hx - 5.5, hy - 5.5, hx + 5.5, hy + 5.5), fill=spec.hands, outline=edge(spec.hands))
        d.ellipse(box(hx - 2.3, hy - 2.3, hx + 2.3, hy + 2.3), fill=_shade(spec.hands, 0.55))
        if side == 1 and spec.accessory in ("sword", "wand"):
            length, colour, width = (
                (34, LEGO["light_grey"], 3.5) if spec.accessory == "sword" else (24, LEGO["reddish_brown"], 2)
            )
            d.line(pts((hx, hy), (hx + length * 0.35, hy - length)), fill=colour, width=max(1, round(width * s)))
        if side == -1 and spec.accessory == "shield":
            d.ellipse(
                box(hx - 13, hy - 15, hx + 13, hy + 15),
                fill=spec.accessory_colour,
                outline=edge(spec.accessory_colour),
                width=lw,
            )
            d.rectangle(box(hx - 2, hy - 13, hx + 2, hy + 13), fill=_shade(spec.accessory_colour, 1.5))

    # head, headgear, face
    d.rectangle(box(52, 51, 68, 58), fill=spec.head)
    d.rounded_rectangle(box(45, 22, 75, 52), radius=6 * s, fill=spec.head, outline=edge(spec.head), width=lw)
    _draw_headgear(d, spec, s)
    _draw_face(d, spec, s)
    return layer


def _draw_print(d: ImageDraw.ImageDraw, spec: FigSpec, s: float) -> None:
    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    def pts(*p: tuple[float, float]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in p]

    def half_width(y: float) -> float:
        return 18 + (y - 57) / 49 * 8

    c1, c2, kind = spec.print_colour, spec.print_colour2, spec.print_kind
    if kind == "stripes_h":
        for y in (68, 80, 92):
            hw = half_width(y + 2) - 1
            d.rectangle(box(60 - hw, y, 60 + hw, y + 4), fill=c1)
    elif kind == "stripes_v":
        d.rectangle(box(50, 58, 54, 105), fill=c1)
        d.rectangle(box(66, 58, 70, 105), fill=c1)
    elif kind == "emblem_circle":
        d.ellipse(box(51, 71, 69, 89), fill=c1)
        d.ellipse(box(56, 76, 64, 84), fill=c2)
    elif kind == "emblem_star":
        star = [
            (
                60 + (10 if k % 2 == 0 else 4) * math.sin(math.pi * k / 5),
                80 - (10 if k % 2 == 0 else 4) * math.cos(math.pi * k / 5),
            )
            for k in range(10)
        ]
        d.polygon(pts(*star), fill=c1)
    elif kind == "emblem_diamond":
        d.polygon(pts((60, 68), (71, 80), (60, 92), (49, 80)), fill=c1)
        d.polygon(pts((60, 74), (65, 80), (60, 86), (55, 80)), fill=c2)
    elif kind == "logo_triangle":
        d.polygon(pts((49, 90), (60, 68), (71, 90)), fill=c1)
    elif kind == "logo_bolt":
        d.polygon(pts((63, 66), (52, 82), (59, 82), (55, 96), (68, 77), (61, 77), (66, 66)), fill=c1)
    elif kind == "buttons":
        for y in (70, 80, 90, 100):
            d.ellipse(box(58, y - 2, 62, y + 2), fill=c1)
    elif kind == "zip":
        d.line(pts((60, 58), (60, 105)), fill=c1, width=max(1, round(2 * s)))
        d.rectangle(box(57, 62, 63, 67), fill=c2)
    elif kind == "belt":
        d.rectangle(box(35, 96, 85, 102), fill=c1)
        d.rectangle(box(56, 95, 64, 103), fill=c2)
    elif kind == "tie":
        d.polygon(pts((57, 58), (63, 58), (62, 64), (65, 88), (60, 94), (55, 88), (58, 64)), fill=c1)
    elif kind == "cross":
        d.rectangle(box(57, 66, 63, 94), fill=c1)
        d.rectangle(box(48, 74, 72, 80), fill=c1)
    else:  # pockets
        d.rectangle(box(44, 68, 54, 76), fill=c1)
        d.rectangle(box(66, 68, 76, 76), fill=c1)
    if kind in ("tie", "buttons", "zip", "pockets"):
        d.polygon(pts((50, 57), (60, 66), (70, 57)), fill=c2)


def _draw_headgear(d: ImageDraw.ImageDraw, spec: FigSpec, s: float) -> None:
    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    def pts(*p: tuple[float, float]) -> list[tuple[float, float]]:
        return [(x * s, y * s) for x, y in p]

    c, kind = spec.headgear_colour, spec.headgear
    outline = _shade(c, 0.6)
    if kind == "hair":
        d.polygon(
            pts(
                (42, 40),
                (42, 18),
                (50, 11),
                (70, 11),
                (78, 18),
                (78, 44),
                (72, 44),
                (72, 27),
                (52, 27),
                (46, 33),
                (46, 40),
            ),
            fill=c,
            outline=outline,
        )
    elif kind == "bun":
        d.ellipse(box(52, 2, 68, 16), fill=c, outline=outline)
        d.polygon(
            pts((43, 34), (43, 18), (50, 11), (70, 11), (77, 18), (77, 34), (73, 34), (73, 26), (47, 26), (47, 34)),
            fill=c,
            outline=outline,
        )
    elif kind == "helmet":
        d.rounded_rectangle(box(39, 11, 81, 55), radius=12 * s, fill=c, outline=outline)
        d.rounded_rectangle(box(47, 28, 73, 52), radius=4 * s, fill=spec.head)
    elif kind == "hood":
        d.polygon(pts((38, 56), (38, 22), (60, 4), (82, 22), (82, 56)), fill=c, outline=outline)
        d.rounded_rectangle(box(47, 27, 73, 52), radius=4 * s, fill=spec.head)
    elif kind == "hat":
        d.rectangle(box(45, 4, 75, 23), fill=c, outline=outline)
        d.rectangle(box(35, 20, 85, 26), fill=c, outline=outline)
        d.rectangle(box(45, 17, 75, 20), fill=spec.print_colour2)
    elif kind == "cap":
        d.chord(box(44, 8, 76, 36), 180, 360, fill=c, outline=outline)
        d.rectangle(box(60, 20, 86, 25), fill=c, outline=outline)
    else:  # bald: the stud shows
        d.rectangle(box(52, 16, 68, 23), fill=spec.head, outline=_shade(spec.head, 0.6))


def _draw_face(d: ImageDraw.ImageDraw, spec: FigSpec, s: float) -> None:
    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [x0 * s, y0 * s, x1 * s, y1 * s]

    ink = LEGO["black"]
    w = max(1, round(1.5 * s))
    if spec.face == "visor":
        d.rectangle(box(47, 31, 73, 39), fill=(20, 20, 30))
    elif spec.face == "mask":
        d.rectangle(box(47, 31, 73, 40), fill=spec.accessory_colour)
    for x in (54, 66):
        eye = (235, 235, 235) if spec.face in ("visor", "mask") else ink
        d.ellipse(box(x - 2.2, 33.8, x + 2.2, 38.2), fill=eye)
    d.arc(box(53, 39, 67, 47), 20, 160, fill=ink, width=w)
    if spec.face == "brows":
        d.line([(50 * s, 30 * s), (57 * s, 31.5 * s)], fill=ink, width=w)
        d.line([(63 * s, 31.5 * s), (70 * s, 30 * s)], fill=ink, width=w)
    elif spec.face == "beard":
        d.chord(box(48, 38, 72, 56), 0, 180, fill=LEGO["reddish_brown"])
    elif spec.face == "glasses":
        for x in (54, 66):
            d.ellipse(box(x - 4.5, 31.5, x + 4.5, 40.5), outline=ink, width=w)
        d.line([(58.5 * s, 36 * s), (61.5 * s, 36 * s)], fill=ink, width=w)
    elif spec.face == "freckles":
        for x, y in ((50, 41), (52, 43), (68, 41), (70, 43)):
            d.ellipse(box(x - 0.9, y - 0.9, x + 0.9, y + 0.9), fill=(150, 80, 40))


def _background(rng: np.random.Generator, w: int, h: int, *, clutter: bool = True) -> Image.Image:
    """Plain colour or a gradient, sometimes with brick-like clutter: nuisance the model must ignore."""
    c0 = np.array(_random_colour(rng), dtype=np.float32)
    if rng.random() < 0.5:
        img = Image.new("RGB", (w, h), tuple(int(v) for v in c0))
    else:
        c1 = np.array(_random_colour(rng), dtype=np.float32)
        angle = _u(rng, 0, 2 * math.pi)
        xs = np.linspace(0, 1, w, dtype=np.float32)[None, :] * math.cos(angle)
        ys = np.linspace(0, 1, h, dtype=np.float32)[:, None] * math.sin(angle)
        t = xs + ys
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
    if clutter and rng.random() < 0.6:
        _clutter(ImageDraw.Draw(img), rng, w, h, int(rng.integers(1, 7)))
    return img


def _clutter(d: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, n: int) -> None:
    u = min(w, h)
    for _ in range(n):
        c = _random_colour(rng)
        x, y = _u(rng, 0, w), _u(rng, 0, h)
        size = _u(rng, 0.05, 0.3) * u
        kind = int(rng.integers(4))
        if kind == 0:
            _small_brick(d, x, y, size, size * _u(rng, 0.3, 0.8), c)
        elif kind == 1:
            d.ellipse([x, y, x + size, y + size * _u(rng, 0.5, 1.5)], fill=c)
        elif kind == 2:
            d.line(
                [(x, y), (x + _u(rng, -1, 1) * size * 2, y + _u(rng, -1, 1) * size * 2)],
                fill=c,
                width=max(1, int(size * 0.1)),
            )
        else:
            d.rectangle([x, y, x + size * _u(rng, 0.5, 2), y + size * _u(rng, 0.3, 1)], fill=c)


def _finish(img: Image.Image, rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """Downsample, then lighting, colour cast, noise, sometimes blur, and a random JPEG quality."""
    img = (
        img.reduce(SUPERSAMPLE)
        if img.size == (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
        else img.resize(size, Image.Resampling.BOX)
    )
    arr = np.asarray(img, dtype=np.float32)
    mean = arr.mean(axis=(0, 1), keepdims=True)
    arr = (arr - mean) * _u(rng, 0.65, 1.3) + mean
    gain = _u(rng, 0.65, 1.3) * rng.uniform(0.82, 1.18, 3).astype(np.float32)
    arr = arr * gain[None, None, :]
    if rng.random() < 0.5:  # uneven light across the frame
        h, w = arr.shape[:2]
        angle = _u(rng, 0, 2 * math.pi)
        ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * math.cos(angle) + np.linspace(
            -1, 1, h, dtype=np.float32
        )[:, None] * math.sin(angle)
        arr = arr * (1 + _u(rng, 0.05, 0.3) * ramp)[..., None]
    sigma = _u(rng, 0, 12)
    if sigma > 1:
        arr = arr + rng.normal(0, sigma, arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(_u(rng, 0.4, 1.3)))
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()


def _paste_layer(canvas: Image.Image, layer: Image.Image, cx: float, cy: float) -> None:
    canvas.paste(layer, (int(cx - layer.width / 2), int(cy - layer.height / 2)), layer)


def _render_minifig_image(spec: FigSpec, rng: np.random.Generator, size: int) -> bytes:
    n = size * SUPERSAMPLE
    canvas = _background(rng, n, n)
    if rng.random() < 0.12:  # a stranger at the edge of the frame
        other = _draw_minifig(_random_fig_spec(rng), rng, _u(rng, 0.3, 0.5) * n)
        _paste_layer(canvas, other, _pick(rng, (0.05, 0.95)) * n, _u(rng, 0.2, 0.8) * n)
    fig = _draw_minifig(spec, rng, _u(rng, 0.5, 0.95) * n)
    if rng.random() < 0.5:
        fig = fig.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    fig = fig.rotate(_u(rng, -30, 30), resample=Image.Resampling.BILINEAR, expand=True)
    _paste_layer(canvas, fig, _u(rng, 0.3, 0.7) * n, _u(rng, 0.35, 0.65) * n)
    if rng.random() < 0.2:  # something in front of the figure
        _clutter(ImageDraw.Draw(canvas), rng, n, n, int(rng.integers(1, 3)))
    return _finish(canvas, rng, (size, size))


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

    index_rows: list[tuple[str, int]] = []
    test_rows: list[tuple[str, int]] = []
    total = classes * (train_per_class + test_per_class)
    with tqdm(total=total, desc="render minifigures", unit="img") as bar:
        for c, spec in specs.items():
            for i in range(1, train_per_class + 1):
                rel = f"{folders[c]}/{i:03d}.jpg"
                _write_atomic(
                    out_dir / rel, _render_minifig_image(spec, _rng(seed, c, _SPLIT_CODE["train"], i), image_size)
                )
                index_rows.append((rel, c))
                bar.update()
        for c, spec in specs.items():
            for i in range(1, test_per_class + 1):
                rel = f"test/{len(test_rows) + 1:03d}.jpg"
                _write_atomic(
                    out_dir / rel, _render_minifig_image(spec, _rng(seed, c, _SPLIT_CODE["test"], i), image_size)
                )
                test_rows.append((rel, c))
                bar.update()

    metadata_rows = []
    for c in specs:
        ids = minifig_lego_ids(seed, c)
        names = [_set_name(seed, n, "minifig") for n in ids]
        metadata_rows.append((c, str(ids), str(names), minifigure_name(seed, c)))
    _write_atomic(out_dir / "index.csv", _csv_bytes(("path", "class_id"), index_rows))
    _write_atomic(out_dir / "test.csv", _csv_bytes(("path", "class_id"), test_rows))
    _write_atomic(
        out_dir / "metadata.csv", _csv_bytes(("class_id", "lego_ids", "lego_names", "minifigure_name"), metadata_rows)
    )


# --------------------------------------------------------------------------------------------------
# Catalogue


def _set_name(seed: int, number: int, style: str, root: str = "") -> str:
    """Invented set names; seeded by set number so the catalogue and minifigure metadata agree."""
    rng = _rng(seed, number, _SALT_NAME)
    first: tuple[str, ...]
    second: tuple[str, ...]
    if root == "Books":
        first, second = _BOOK_WORDS
    elif root == "Gear":
        first, second = _GEAR_WORDS
    else:
        first, second = _NAME_WORDS[style]
    if style == "minifig" and rng.random() < 0.2:
        return f"{_pick(rng, _VERSUS_NAMES)} vs. {_pick(rng, _RIVALS)}"
    return f"{_pick(rng, first)} {_pick(rng, second)}"


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
    rng = _rng(seed, _SALT_CATALOGUE)

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
            _set_name(seed, number, style, root),
            int(rng.integers(low, high + 1)),
            _pick(rng, subtree[root]),
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


# --------------------------------------------------------------------------------------------------
# Set images


def _small_brick(d: ImageDraw.ImageDraw, x: float, y: float, bw: float, bh: float, colour: Colour) -> None:
    """A brick seen from the front: body plus a row of studs on top."""
    studs = int(np.clip(round(bw / max(bh * 0.7, 1)), 1, 6))
    stud_w, stud_h = bw / studs * 0.6, max(bh * 0.22, 1)
    for k in range(studs):
        sx = x + bw / studs * (k + 0.2)
        d.rectangle([sx, y - stud_h, sx + stud_w, y], fill=_shade(colour, 0.85))
    d.rectangle([x, y, x + bw, y + bh], fill=colour, outline=_shade(colour, 0.6))


def _beam(
    d: ImageDraw.ImageDraw, p0: tuple[float, float], p1: tuple[float, float], width: float, colour: Colour
) -> None:
    """Technic beam: rounded bar with a row of pin holes."""
    r = width / 2
    d.line([p0, p1], fill=colour, width=max(1, int(width)))
    for x, y in (p0, p1):
        d.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    length = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    holes = max(1, int(length / width)) + 1
    hole = _shade(colour, 0.35) if sum(colour) > 150 else (90, 90, 90)
    for k in range(holes):
        t = k / max(holes - 1, 1)
        x, y = p0[0] + (p1[0] - p0[0]) * t, p0[1] + (p1[1] - p0[1]) * t
        d.ellipse([x - r * 0.55, y - r * 0.55, x + r * 0.55, y + r * 0.55], fill=hole)


def _gear(d: ImageDraw.ImageDraw, cx: float, cy: float, r: float, teeth: int, colour: Colour) -> None:
    outline = [
        (
            cx + (r if k % 2 == 0 else r * 0.8) * math.cos(math.pi * k / teeth),
            cy + (r if k % 2 == 0 else r * 0.8) * math.sin(math.pi * k / teeth),
        )
        for k in range(2 * teeth)
    ]
    d.polygon(outline, fill=colour, outline=_shade(colour, 0.6))
    d.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=_shade(colour, 0.8))
    a = max(r * 0.08, 1)
    d.rectangle([cx - a * 3, cy - a, cx + a * 3, cy + a], fill=(40, 40, 40))
    d.rectangle([cx - a, cy - a * 3, cx + a, cy + a * 3], fill=(40, 40, 40))


def _draw_technic(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    greys = (LEGO["light_grey"], LEGO["dark_grey"], LEGO["black"])
    accent = _pick(
        rng,
        (LEGO["orange"], LEGO["yellow"], LEGO["lime"], LEGO["red"], LEGO["blue"], LEGO["light_grey"], LEGO["white"]),
    )
    if rng.random() < 0.5:  # vehicle silhouette
        ground = h * 0.92
        wheel = u * _u(rng, 0.12, 0.2)
        x0, x1 = w * _u(rng, 0.02, 0.12), w * _u(rng, 0.88, 0.98)
        top = ground - wheel * _u(rng, 2.2, 3.2)
        d.polygon(
            [
                (x0, ground - wheel * 0.6),
                (x0, top + wheel * 0.6),
                (x0 + (x1 - x0) * 0.3, top),
                (x1, top),
                (x1, ground - wheel * 0.6),
            ],
            fill=accent,
            outline=_shade(accent, 0.5),
        )
        cab_x = x0 + (x1 - x0) * _u(rng, 0.1, 0.6)
        d.rectangle([cab_x, top - wheel * 1.3, cab_x + wheel * 2, top], fill=_pick(rng, greys))
        _beam(
            d,
            (x0 + wheel * 0.4, ground - wheel * 1.1),
            (x1 - wheel * 0.4, ground - wheel * 1.1),
            wheel * 0.45,
            _pick(rng, greys),
        )
        if rng.random() < 0.6:  # crane / bucket arm
            _beam(
                d,
                (cab_x + wheel, top),
                (cab_x + _u(rng, -1, 1) * w * 0.4, top - h * _u(rng, 0.2, 0.5)),
                wheel * 0.4,
                _pick(rng, (accent, *greys)),
            )
        n_wheels = int(rng.integers(2, 4))
        for k in range(n_wheels):
            cx = x0 + wheel + (x1 - x0 - 2 * wheel) * k / (n_wheels - 1)
            d.ellipse([cx - wheel, ground - 2 * wheel, cx + wheel, ground], fill=LEGO["black"])
            d.ellipse(
                [cx - wheel * 0.5, ground - wheel * 1.5, cx + wheel * 0.5, ground - wheel * 0.5],
                fill=_pick(rng, (LEGO["light_grey"], accent)),
            )
    else:  # a loose assembly of beams, gears and axles
        for _ in range(int(rng.integers(1, 4))):
            _gear(
                d,
                _u(rng, 0.2, 0.8) * w,
                _u(rng, 0.2, 0.8) * h,
                u * _u(rng, 0.08, 0.22),
                int(rng.integers(8, 25)),
                _pick(rng, (LEGO["light_grey"], LEGO["dark_grey"], LEGO["tan"], LEGO["red"], LEGO["black"])),
            )
        for _ in range(int(rng.integers(3, 7))):
            _beam(
                d,
                (_u(rng, 0.1, 0.9) * w, _u(rng, 0.1, 0.9) * h),
                (_u(rng, 0.1, 0.9) * w, _u(rng, 0.1, 0.9) * h),
                u * _u(rng, 0.05, 0.09),
                _pick(rng, (*greys, accent)),
            )
        for _ in range(int(rng.integers(1, 4))):
            d.line(
                [(_u(rng, 0, 1) * w, _u(rng, 0, 1) * h), (_u(rng, 0, 1) * w, _u(rng, 0, 1) * h)],
                fill=_pick(rng, (LEGO["dark_grey"], LEGO["black"], LEGO["red"], LEGO["tan"])),
                width=max(1, int(u * 0.02)),
            )
    return layer


def _draw_young(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    bright = (
        LEGO["red"],
        LEGO["blue"],
        LEGO["yellow"],
        LEGO["bright_green"],
        LEGO["orange"],
        LEGO["medium_azure"],
        LEGO["bright_pink"],
    )
    ground = h * 0.95
    x = w * _u(rng, 0.0, 0.15)
    stacked = rng.random() < 0.5
    for _ in range(int(rng.integers(1, 4))):  # big bricks, stacked or side by side
        bw = u * _u(rng, 0.22, 0.4)
        bh = bw * _u(rng, 0.45, 0.7)
        c = _pick(rng, bright)
        y = ground - bh
        for k in range(int(rng.integers(1, 3))):
            sx = x + bw * (0.12 + 0.5 * k)
            d.rounded_rectangle([sx, y - bh * 0.25, sx + bw * 0.32, y + 2], radius=bh * 0.1, fill=_shade(c, 0.9))
        d.rounded_rectangle([x, y, x + bw, ground], radius=bh * 0.2, fill=c, outline=_shade(c, 0.6))
        if stacked:
            ground, x = y - bh * 0.2, x + bw * _u(rng, -0.2, 0.3)
        else:
            x += bw * _u(rng, 0.9, 1.2)
    kind = _pick(rng, ("animal", "house", "figure"))
    cx = w * _u(rng, 0.5, 0.8)
    if kind == "animal":
        c = _pick(
            rng,
            (
                LEGO["orange"],
                LEGO["bright_green"],
                LEGO["yellow"],
                LEGO["bright_pink"],
                LEGO["reddish_brown"],
                LEGO["light_grey"],
                LEGO["white"],
            ),
        )
        bw, bh = u * _u(rng, 0.3, 0.45), u * _u(rng, 0.18, 0.28)
        by = h * 0.95 - bh * 1.5
        for lx in (cx - bw * 0.4, cx + bw * 0.25):
            d.rounded_rectangle([lx, by + bh * 0.6, lx + bw * 0.15, h * 0.95], radius=bw * 0.05, fill=_shade(c, 0.85))
        d.ellipse([cx - bw / 2, by, cx + bw / 2, by + bh], fill=c)
        hr = bh * 0.55
        hx, hy = cx + bw * 0.45, by - hr * 0.3
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=c)
        d.ellipse([hx - hr * 0.7, hy - hr * 1.3, hx - hr * 0.1, hy - hr * 0.5], fill=_shade(c, 0.8))
        d.ellipse([hx + hr * 0.2, hy - hr * 0.3, hx + hr * 0.45, hy - hr * 0.05], fill=LEGO["black"])
    elif kind == "house":
        s = u * _u(rng, 0.35, 0.5)
        x0, y0 = cx - s / 2, h * 0.95 - s
        wall, roof = _pick(rng, bright), _pick(rng, bright)
        d.rounded_rectangle([x0, y0, x0 + s, y0 + s], radius=s * 0.06, fill=wall)
        d.polygon([(x0 - s * 0.1, y0), (cx, y0 - s * 0.55), (x0 + s * 1.1, y0)], fill=roof, outline=_shade(roof, 0.6))
        d.rounded_rectangle(
            [cx - s * 0.12, y0 + s * 0.5, cx + s * 0.12, y0 + s], radius=s * 0.05, fill=_shade(wall, 0.5)
        )
        d.rectangle([x0 + s * 0.1, y0 + s * 0.15, x0 + s * 0.35, y0 + s * 0.4], fill=LEGO["medium_azure"])
    else:  # a chunky toddler figure
        s = u * _u(rng, 0.3, 0.45)
        body = _pick(rng, bright)
        d.rounded_rectangle([cx - s * 0.3, h * 0.95 - s * 0.9, cx + s * 0.3, h * 0.95], radius=s * 0.1, fill=body)
        d.ellipse([cx - s * 0.25, h * 0.95 - s * 1.4, cx + s * 0.25, h * 0.95 - s * 0.88], fill=_pick(rng, HEADS))
        d.chord(
            [cx - s * 0.27, h * 0.95 - s * 1.45, cx + s * 0.27, h * 0.95 - s * 1.05], 180, 360, fill=_pick(rng, PALETTE)
        )
    return layer


def _draw_minifig_scene(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    kind = _pick(rng, ("building", "vehicle", "ship"))
    if kind == "building":
        wall = _pick(
            rng,
            (
                LEGO["light_grey"],
                LEGO["dark_grey"],
                LEGO["tan"],
                LEGO["white"],
                LEGO["dark_tan"],
                LEGO["reddish_brown"],
                LEGO["sand_green"],
            ),
        )
        x0, x1 = w * _u(rng, 0.02, 0.3), w * _u(rng, 0.6, 0.98)
        y0, y1 = h * _u(rng, 0.15, 0.4), h * 0.95
        d.rectangle([x0, y0, x1, y1], fill=wall, outline=_shade(wall, 0.6))
        if rng.random() < 0.5:  # battlements
            step = (x1 - x0) / 7
            for k in range(0, 7, 2):
                d.rectangle([x0 + k * step, y0 - step * 0.7, x0 + (k + 1) * step, y0], fill=wall)
        else:
            d.polygon(
                [(x0 - u * 0.03, y0), ((x0 + x1) / 2, y0 - h * _u(rng, 0.1, 0.25)), (x1 + u * 0.03, y0)],
                fill=_pick(rng, PALETTE),
            )
        glass = _pick(rng, (LEGO["black"], LEGO["medium_azure"], LEGO["dark_blue"], LEGO["yellow"]))
        cols, rows = int(rng.integers(2, 5)), int(rng.integers(1, 3))
        for i in range(cols):
            for j in range(rows):
                wx = x0 + (x1 - x0) * (i + 0.3) / cols
                wy = y0 + (y1 - y0) * (j + 0.15) / (rows + 1)
                d.rectangle([wx, wy, wx + (x1 - x0) * 0.4 / cols, wy + (y1 - y0) * 0.25 / (rows + 1)], fill=glass)
        d.rectangle([(x0 + x1) / 2 - u * 0.06, y1 - u * 0.22, (x0 + x1) / 2 + u * 0.06, y1], fill=_shade(wall, 0.45))
    elif kind == "vehicle":
        body = _pick(
            rng,
            (LEGO["red"], LEGO["blue"], LEGO["white"], LEGO["yellow"], LEGO["dark_grey"], LEGO["black"], LEGO["green"]),
        )
        ground, wheel = h * 0.95, u * _u(rng, 0.06, 0.1)
        x0, x1 = w * _u(rng, 0.02, 0.15), w * _u(rng, 0.75, 0.98)
        top = ground - wheel * _u(rng, 2.5, 4)
        d.rectangle([x0, top, x1, ground - wheel], fill=body, outline=_shade(body, 0.6))
        d.rectangle([x0 + (x1 - x0) * 0.55, top - wheel * 2, x1 - (x1 - x0) * 0.1, top], fill=_shade(body, 0.9))
        d.rectangle(
            [x0 + (x1 - x0) * 0.6, top - wheel * 1.7, x1 - (x1 - x0) * 0.15, top - wheel * 0.4],
            fill=LEGO["medium_azure"],
        )
        d.rectangle([x0, top + wheel * 0.4, x1, top + wheel * 0.8], fill=_pick(rng, PALETTE))
        for cx in (x0 + wheel * 1.5, x1 - wheel * 1.5):
            d.ellipse([cx - wheel, ground - 2 * wheel, cx + wheel, ground], fill=LEGO["black"])
            d.ellipse(
                [cx - wheel * 0.45, ground - wheel * 1.45, cx + wheel * 0.45, ground - wheel * 0.55],
                fill=LEGO["light_grey"],
            )
    else:  # starship
        hull = _pick(rng, (LEGO["light_grey"], LEGO["white"], LEGO["dark_grey"], LEGO["tan"]))
        cy = h * _u(rng, 0.3, 0.55)
        x0, x1 = w * 0.05, w * 0.95
        d.polygon([(x0, cy), (x1, cy - h * 0.06), (x1, cy + h * 0.06)], fill=hull, outline=_shade(hull, 0.6))
        for sign in (-1, 1):
            d.polygon(
                [(w * 0.55, cy), (w * 0.85, cy + sign * h * _u(rng, 0.2, 0.35)), (w * 0.9, cy + sign * h * 0.05)],
                fill=_shade(hull, 0.85),
                outline=_shade(hull, 0.6),
            )
        d.rectangle(
            [w * 0.6, cy - h * 0.02, w * 0.8, cy + h * 0.02],
            fill=_pick(rng, (LEGO["red"], LEGO["blue"], LEGO["orange"])),
        )
        d.ellipse([w * 0.9, cy - h * 0.04, w * 0.98, cy + h * 0.04], fill=LEGO["medium_azure"])
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(2, 6))):
            bw = u * _u(rng, 0.05, 0.12)
            _small_brick(d, _u(rng, 0, 0.9) * w, _u(rng, 0.8, 0.95) * h, bw, bw * 0.6, _pick(rng, PALETTE))
    for _ in range(int(rng.integers(1, 4))):
        fig = _draw_minifig(_random_fig_spec(rng), rng, h * _u(rng, 0.3, 0.5))
        layer.alpha_composite(fig, (int(_u(rng, 0, 1) * max(w - fig.width, 1)), max(h - fig.height, 0)))
    return layer


def _draw_bulk(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    tub = rng.random() < 0.45
    n = int(rng.integers(25, 70))
    bricks = []
    for _ in range(n):
        x = _u(rng, 0.05, 0.95)
        mound = 1 - abs(x - 0.5) * 2
        top = 0.95 - (0.55 if tub else 0.75) * mound - 0.1
        bricks.append((_u(rng, top, 0.92) * h, x * w, u * _u(rng, 0.06, 0.15), _pick(rng, PALETTE)))
    for y, x, bw, c in sorted(bricks):
        _small_brick(d, x - bw / 2, y, bw, bw * _u(rng, 0.35, 0.8), c)
    if tub:
        tint = _pick(rng, (LEGO["blue"], LEGO["red"], LEGO["light_grey"], LEGO["white"], LEGO["yellow"]))
        overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        o = ImageDraw.Draw(overlay)
        top = h * _u(rng, 0.3, 0.45)
        o.polygon([(w * 0.05, top), (w * 0.95, top), (w * 0.88, h * 0.98), (w * 0.12, h * 0.98)], fill=(*tint, 170))
        o.rectangle([w * 0.03, top - h * 0.05, w * 0.97, top], fill=(*_shade(tint, 0.8), 255))
        layer.alpha_composite(overlay)
    if rng.random() < 0.2:
        fig = _draw_minifig(_random_fig_spec(rng), rng, h * _u(rng, 0.25, 0.4))
        layer.alpha_composite(fig, (int(_u(rng, 0, 1) * max(w - fig.width, 1)), max(h - fig.height, 0)))
    return layer


_STYLE_DRAW: dict[str, Callable[[np.random.Generator, int, int], Image.Image]] = {
    "technic": _draw_technic,
    "young": _draw_young,
    "minifig": _draw_minifig_scene,
    "bulk": _draw_bulk,
}


def _as_book(rng: np.random.Generator, content: Image.Image) -> Image.Image:
    """Books: the theme's picture on a cover with a spine and a title block."""
    w, h = content.size
    cover = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(cover)
    c = _random_colour(rng)
    d.rectangle([w * 0.1, 0, w * 0.9, h - 1], fill=(*c, 255))
    d.rectangle([w * 0.1, 0, w * 0.16, h - 1], fill=(*_shade(c, 0.6), 255))
    d.rectangle([w * 0.88, h * 0.02, w * 0.9, h * 0.98], fill=(240, 240, 230, 255))
    d.rectangle([w * 0.22, h * 0.05, w * 0.82, h * 0.22], fill=(*_random_colour(rng), 255))
    small = content.resize((max(1, int(w * 0.6)), max(1, int(h * 0.65))), Image.Resampling.BILINEAR)
    cover.alpha_composite(small, (int(w * 0.22), int(h * 0.3)))
    return cover


def _as_keychain(rng: np.random.Generator, content: Image.Image) -> Image.Image:
    """Gear: a single minifigure hanging from a key ring."""
    w, h = content.size
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    r = h * 0.1
    cx = w / 2
    metal = (190, 190, 195, 255)
    d.ellipse([cx - r, h * 0.02, cx + r, h * 0.02 + 2 * r], outline=metal, width=max(1, int(r * 0.2)))
    d.line([(cx, h * 0.02 + 2 * r), (cx, h * 0.3)], fill=metal, width=max(1, int(r * 0.12)))
    fig = _draw_minifig(_random_fig_spec(rng), rng, h * 0.68)
    layer.alpha_composite(fig, (int(cx - fig.width / 2), int(h * 0.3)))
    return layer


def _render_set_image(root: str, rng: np.random.Generator, height: int) -> bytes:
    """Box art: background, optional frame, a title band with a logo, then the model, lit and noised."""
    out_w = round(height * _u(rng, 1.0, 1.6))
    H, W = height * SUPERSAMPLE, out_w * SUPERSAMPLE
    canvas = _background(rng, W, H, clutter=rng.random() < 0.3)
    d = ImageDraw.Draw(canvas)
    if rng.random() < 0.6:
        border = int(H * _u(rng, 0.01, 0.05))
        d.rectangle([0, 0, W - 1, H - 1], outline=_random_colour(rng), width=max(1, border))
    band_h = H * _u(rng, 0.1, 0.22)
    band_top = rng.random() < 0.7
    by0 = 0 if band_top else H - band_h
    d.rectangle([0, by0, W, by0 + band_h], fill=_random_colour(rng))
    if rng.random() < 0.8:  # the red logo square
        lx = W * _u(rng, 0.02, 0.1)
        d.rectangle(
            [lx, by0 + band_h * 0.15, lx + band_h * 0.7, by0 + band_h * 0.85],
            fill=LEGO["red"],
            outline=LEGO["yellow"],
            width=max(1, int(band_h * 0.06)),
        )
        d.rectangle(
            [lx + band_h * 0.15, by0 + band_h * 0.4, lx + band_h * 0.55, by0 + band_h * 0.6], fill=LEGO["white"]
        )
    text = _pick(rng, (LEGO["white"], LEGO["black"], LEGO["yellow"]))
    for k in range(int(rng.integers(1, 4))):
        tx = W * _u(rng, 0.25, 0.6)
        d.rectangle(
            [tx, by0 + band_h * (0.2 + 0.25 * k), tx + W * _u(rng, 0.1, 0.35), by0 + band_h * (0.32 + 0.25 * k)],
            fill=text,
        )

    area_top = band_h if band_top else 0
    area_h = H - band_h
    style = ROOT_STYLE[root]
    content = _STYLE_DRAW[style](rng, int(W * 0.9), int(area_h * 0.9))
    variant = _VARIANT.get(root)
    if variant == "book":
        content = _as_book(rng, content)
    elif variant == "keychain":
        content = _as_keychain(rng, content)
    scale = _u(rng, 0.55, 1.0)
    content = content.resize(
        (max(1, int(content.width * scale)), max(1, int(content.height * scale))), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        content = content.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    content = content.rotate(_u(rng, -15, 15), resample=Image.Resampling.BILINEAR, expand=True)
    _paste_layer(canvas, content, W * _u(rng, 0.35, 0.65), area_top + area_h * _u(rng, 0.4, 0.6))
    if rng.random() < 0.15:  # an inset of another style: the styles overlap somewhat
        other = _pick(rng, [s for s in STYLES if s != style])
        inset = _STYLE_DRAW[other](rng, int(H * 0.35), int(H * 0.3))
        _paste_layer(canvas, inset, W * _pick(rng, (0.2, 0.8)), area_top + area_h * _u(rng, 0.2, 0.8))
    return _finish(canvas, rng, (out_w, height))


def _choose_sets(sets: pd.DataFrame, roots_of_set: list[str], count: int, seed: int) -> list[int]:
    """Stratified pick: cycle styles (Books/Gear a smaller share), within a style cycle its roots."""
    rng = _rng(seed, _SALT_CHOICE)
    queues: dict[str, list[int]] = {root: [] for root in THEME_TREE}
    for i, root in enumerate(roots_of_set):
        queues[root].append(i)
    for root in queues:
        queues[root] = [queues[root][int(k)] for k in rng.permutation(len(queues[root]))]
    groups = {style: [r for r in THEME_TREE if ROOT_STYLE[r] == style and r not in _VARIANT] for style in STYLES}
    groups["other"] = list(_VARIANT)
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


def render_sets(out_dir: Path, *, count: int, image_height: int, seed: int) -> list[dict]:
    """Render `count` catalogue sets as box-art JPEGs under `out_dir/images/`; one record per set."""
    if count < 0 or image_height < 8:
        raise ValueError("count must be >= 0 and image_height >= 8")
    out_dir = Path(out_dir)
    sets, themes = synthetic_catalogue(seed)
    root_of_theme = theme_roots(themes)
    roots_of_set = [root_of_theme[int(t)] for t in sets["theme_id"]]
    chosen = sorted(_choose_sets(sets, roots_of_set, count, seed), key=lambda i: sets.at[i, "set_num"])
    records: list[dict] = []
    for i in tqdm(chosen, desc="render sets", unit="img"):
        set_num = str(sets.at[i, "set_num"])
        number, version = (int(p) for p in set_num.split("-"))
        data = _render_set_image(roots_of_set[i], _rng(seed, number, version, _SALT_SET_IMAGE), image_height)
        rel = f"images/{set_num}.jpg"
        _write_atomic(out_dir / rel, data)
        records.append(
            {
                "set_id": set_num,
                "name": str(sets.at[i, "name"]),
                "year": int(sets.at[i, "year"]),
                "image_url": f"/crop/genericnx400/sets/{set_num}.jpg",
                "image": rel,
                "sha256": hashlib.sha256(data).hexdigest(),
                "status": "ok",
            }
        )
    return records

"""Minifigures: what makes a class recognisable (`FigSpec`, `class_spec`), and a figure drawn from its spec in a
random pose on a transparent layer (`draw_minifig`), for the photos, the box art and the keychains alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from pipeline.providers.synthetic.canvas import LEGO, PALETTE, SALT_CLASS, Colour, keyed_rng, pick, shade, uniform

HEADS: tuple[Colour, ...] = (
    LEGO["yellow"],
    LEGO["yellow"],
    (246, 215, 179),
    (208, 145, 104),
    (170, 125, 85),
    (115, 74, 48),
)


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


def random_fig_spec(rng: np.random.Generator) -> FigSpec:
    torso = pick(rng, PALETTE)
    legs = pick(rng, PALETTE)
    return FigSpec(
        head=pick(rng, HEADS),
        headgear=pick(rng, _HEADGEAR),
        headgear_colour=pick(rng, PALETTE),
        face=pick(rng, _FACES),
        torso=torso,
        print_kind=pick(rng, _PRINTS),
        print_colour=pick(rng, PALETTE),
        print_colour2=pick(rng, PALETTE),
        arms=torso if rng.random() < 0.7 else pick(rng, PALETTE),
        hands=LEGO["yellow"] if rng.random() < 0.6 else pick(rng, (LEGO["black"], LEGO["white"], LEGO["nougat"])),
        hips=legs if rng.random() < 0.7 else pick(rng, PALETTE),
        legs=legs,
        leg_stripe=pick(rng, PALETTE) if rng.random() < 0.25 else None,
        accessory=pick(rng, _ACCESSORIES),
        accessory_colour=pick(rng, PALETTE),
        badge=None,
    )


def _twin_of(base: FigSpec, rng: np.random.Generator) -> FigSpec:
    """A class that differs from `base` by one small mark or a slightly different shade: the hard pairs."""
    change = pick(rng, ("badge", "print_shade", "torso_shade", "face", "legs_shade"))
    if change == "badge":
        colour = pick(rng, [c for c in PALETTE if c != base.torso])
        return replace(base, badge=colour)
    if change == "print_shade":
        return replace(base, print_colour=shade(base.print_colour, 0.6 if sum(base.print_colour) > 250 else 1.45))
    if change == "torso_shade":
        factor = 0.7 if sum(base.torso) > 250 else 1.4
        arms = shade(base.arms, factor) if base.arms == base.torso else base.arms
        return replace(base, torso=shade(base.torso, factor), arms=arms)
    if change == "face":
        return replace(base, face=pick(rng, [f for f in _FACES if f != base.face]))
    factor = 0.65 if sum(base.legs) > 250 else 1.45
    return replace(base, legs=shade(base.legs, factor), hips=shade(base.hips, factor))


def class_spec(seed: int, class_id: int) -> FigSpec:
    """Classes 2, 5, 8, ... are near-twins of the class before them, so the task is not trivially separable."""
    rng = keyed_rng(seed, class_id, SALT_CLASS)
    if class_id % 3 == 2:
        return _twin_of(class_spec(seed, class_id - 1), rng)
    return random_fig_spec(rng)


# --------------------------------------------------------------------------------------------------
# Drawing


def draw_minifig(spec: FigSpec, rng: np.random.Generator, height: float) -> Image.Image:
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
        return shade(c, 0.6)

    left_raise, right_raise = uniform(rng, -12, 80), uniform(rng, -12, 80)
    leg_shift = uniform(rng, 0, 8)

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
    d.rectangle(box(36, 156 - leg_shift, 59, 160 - leg_shift), fill=shade(spec.legs, 0.8))
    d.rectangle(box(61, 156, 84, 160), fill=shade(spec.legs, 0.8))
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
        d.ellipse(box(hx - 2.3, hy - 2.3, hx + 2.3, hy + 2.3), fill=shade(spec.hands, 0.55))
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
            d.rectangle(box(hx - 2, hy - 13, hx + 2, hy + 13), fill=shade(spec.accessory_colour, 1.5))

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
    outline = shade(c, 0.6)
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
        d.rectangle(box(52, 16, 68, 23), fill=spec.head, outline=shade(spec.head, 0.6))


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

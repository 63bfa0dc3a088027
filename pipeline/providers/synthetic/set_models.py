"""What is in the box: a set's model drawn in its theme's style (`STYLE_DRAW`: technic, young, minifig, bulk), on a
transparent layer for the box art to frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from pipeline.providers.synthetic.canvas import LEGO, PALETTE, Colour, pick, shade, small_brick, uniform
from pipeline.providers.synthetic.figures import HEADS, draw_minifig, random_fig_spec


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
    hole = shade(colour, 0.35) if sum(colour) > 150 else (90, 90, 90)
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
    d.polygon(outline, fill=colour, outline=shade(colour, 0.6))
    d.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=shade(colour, 0.8))
    a = max(r * 0.08, 1)
    d.rectangle([cx - a * 3, cy - a, cx + a * 3, cy + a], fill=(40, 40, 40))
    d.rectangle([cx - a, cy - a * 3, cx + a, cy + a * 3], fill=(40, 40, 40))


def _draw_technic(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    greys = (LEGO["light_grey"], LEGO["dark_grey"], LEGO["black"])
    accent = pick(
        rng,
        (LEGO["orange"], LEGO["yellow"], LEGO["lime"], LEGO["red"], LEGO["blue"], LEGO["light_grey"], LEGO["white"]),
    )
    if rng.random() < 0.5:  # vehicle silhouette
        ground = h * 0.92
        wheel = u * uniform(rng, 0.12, 0.2)
        x0, x1 = w * uniform(rng, 0.02, 0.12), w * uniform(rng, 0.88, 0.98)
        top = ground - wheel * uniform(rng, 2.2, 3.2)
        d.polygon(
            [
                (x0, ground - wheel * 0.6),
                (x0, top + wheel * 0.6),
                (x0 + (x1 - x0) * 0.3, top),
                (x1, top),
                (x1, ground - wheel * 0.6),
            ],
            fill=accent,
            outline=shade(accent, 0.5),
        )
        cab_x = x0 + (x1 - x0) * uniform(rng, 0.1, 0.6)
        d.rectangle([cab_x, top - wheel * 1.3, cab_x + wheel * 2, top], fill=pick(rng, greys))
        _beam(
            d,
            (x0 + wheel * 0.4, ground - wheel * 1.1),
            (x1 - wheel * 0.4, ground - wheel * 1.1),
            wheel * 0.45,
            pick(rng, greys),
        )
        if rng.random() < 0.6:  # crane / bucket arm
            _beam(
                d,
                (cab_x + wheel, top),
                (cab_x + uniform(rng, -1, 1) * w * 0.4, top - h * uniform(rng, 0.2, 0.5)),
                wheel * 0.4,
                pick(rng, (accent, *greys)),
            )
        n_wheels = int(rng.integers(2, 4))
        for k in range(n_wheels):
            cx = x0 + wheel + (x1 - x0 - 2 * wheel) * k / (n_wheels - 1)
            d.ellipse([cx - wheel, ground - 2 * wheel, cx + wheel, ground], fill=LEGO["black"])
            d.ellipse(
                [cx - wheel * 0.5, ground - wheel * 1.5, cx + wheel * 0.5, ground - wheel * 0.5],
                fill=pick(rng, (LEGO["light_grey"], accent)),
            )
    else:  # a loose assembly of beams, gears and axles
        for _ in range(int(rng.integers(1, 4))):
            _gear(
                d,
                uniform(rng, 0.2, 0.8) * w,
                uniform(rng, 0.2, 0.8) * h,
                u * uniform(rng, 0.08, 0.22),
                int(rng.integers(8, 25)),
                pick(rng, (LEGO["light_grey"], LEGO["dark_grey"], LEGO["tan"], LEGO["red"], LEGO["black"])),
            )
        for _ in range(int(rng.integers(3, 7))):
            _beam(
                d,
                (uniform(rng, 0.1, 0.9) * w, uniform(rng, 0.1, 0.9) * h),
                (uniform(rng, 0.1, 0.9) * w, uniform(rng, 0.1, 0.9) * h),
                u * uniform(rng, 0.05, 0.09),
                pick(rng, (*greys, accent)),
            )
        for _ in range(int(rng.integers(1, 4))):
            d.line(
                [(uniform(rng, 0, 1) * w, uniform(rng, 0, 1) * h), (uniform(rng, 0, 1) * w, uniform(rng, 0, 1) * h)],
                fill=pick(rng, (LEGO["dark_grey"], LEGO["black"], LEGO["red"], LEGO["tan"])),
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
    x = w * uniform(rng, 0.0, 0.15)
    stacked = rng.random() < 0.5
    for _ in range(int(rng.integers(1, 4))):  # big bricks, stacked or side by side
        bw = u * uniform(rng, 0.22, 0.4)
        bh = bw * uniform(rng, 0.45, 0.7)
        c = pick(rng, bright)
        y = ground - bh
        for k in range(int(rng.integers(1, 3))):
            sx = x + bw * (0.12 + 0.5 * k)
            d.rounded_rectangle([sx, y - bh * 0.25, sx + bw * 0.32, y + 2], radius=bh * 0.1, fill=shade(c, 0.9))
        d.rounded_rectangle([x, y, x + bw, ground], radius=bh * 0.2, fill=c, outline=shade(c, 0.6))
        if stacked:
            ground, x = y - bh * 0.2, x + bw * uniform(rng, -0.2, 0.3)
        else:
            x += bw * uniform(rng, 0.9, 1.2)
    kind = pick(rng, ("animal", "house", "figure"))
    cx = w * uniform(rng, 0.5, 0.8)
    if kind == "animal":
        c = pick(
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
        bw, bh = u * uniform(rng, 0.3, 0.45), u * uniform(rng, 0.18, 0.28)
        by = h * 0.95 - bh * 1.5
        for lx in (cx - bw * 0.4, cx + bw * 0.25):
            d.rounded_rectangle([lx, by + bh * 0.6, lx + bw * 0.15, h * 0.95], radius=bw * 0.05, fill=shade(c, 0.85))
        d.ellipse([cx - bw / 2, by, cx + bw / 2, by + bh], fill=c)
        hr = bh * 0.55
        hx, hy = cx + bw * 0.45, by - hr * 0.3
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=c)
        d.ellipse([hx - hr * 0.7, hy - hr * 1.3, hx - hr * 0.1, hy - hr * 0.5], fill=shade(c, 0.8))
        d.ellipse([hx + hr * 0.2, hy - hr * 0.3, hx + hr * 0.45, hy - hr * 0.05], fill=LEGO["black"])
    elif kind == "house":
        s = u * uniform(rng, 0.35, 0.5)
        x0, y0 = cx - s / 2, h * 0.95 - s
        wall, roof = pick(rng, bright), pick(rng, bright)
        d.rounded_rectangle([x0, y0, x0 + s, y0 + s], radius=s * 0.06, fill=wall)
        d.polygon([(x0 - s * 0.1, y0), (cx, y0 - s * 0.55), (x0 + s * 1.1, y0)], fill=roof, outline=shade(roof, 0.6))
        d.rounded_rectangle(
            [cx - s * 0.12, y0 + s * 0.5, cx + s * 0.12, y0 + s], radius=s * 0.05, fill=shade(wall, 0.5)
        )
        d.rectangle([x0 + s * 0.1, y0 + s * 0.15, x0 + s * 0.35, y0 + s * 0.4], fill=LEGO["medium_azure"])
    else:  # a chunky toddler figure
        s = u * uniform(rng, 0.3, 0.45)
        body = pick(rng, bright)
        d.rounded_rectangle([cx - s * 0.3, h * 0.95 - s * 0.9, cx + s * 0.3, h * 0.95], radius=s * 0.1, fill=body)
        d.ellipse([cx - s * 0.25, h * 0.95 - s * 1.4, cx + s * 0.25, h * 0.95 - s * 0.88], fill=pick(rng, HEADS))
        d.chord(
            [cx - s * 0.27, h * 0.95 - s * 1.45, cx + s * 0.27, h * 0.95 - s * 1.05], 180, 360, fill=pick(rng, PALETTE)
        )
    return layer


def _draw_minifig_scene(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    kind = pick(rng, ("building", "vehicle", "ship"))
    if kind == "building":
        wall = pick(
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
        x0, x1 = w * uniform(rng, 0.02, 0.3), w * uniform(rng, 0.6, 0.98)
        y0, y1 = h * uniform(rng, 0.15, 0.4), h * 0.95
        d.rectangle([x0, y0, x1, y1], fill=wall, outline=shade(wall, 0.6))
        if rng.random() < 0.5:  # battlements
            step = (x1 - x0) / 7
            for k in range(0, 7, 2):
                d.rectangle([x0 + k * step, y0 - step * 0.7, x0 + (k + 1) * step, y0], fill=wall)
        else:
            d.polygon(
                [(x0 - u * 0.03, y0), ((x0 + x1) / 2, y0 - h * uniform(rng, 0.1, 0.25)), (x1 + u * 0.03, y0)],
                fill=pick(rng, PALETTE),
            )
        glass = pick(rng, (LEGO["black"], LEGO["medium_azure"], LEGO["dark_blue"], LEGO["yellow"]))
        cols, rows = int(rng.integers(2, 5)), int(rng.integers(1, 3))
        for i in range(cols):
            for j in range(rows):
                wx = x0 + (x1 - x0) * (i + 0.3) / cols
                wy = y0 + (y1 - y0) * (j + 0.15) / (rows + 1)
                d.rectangle([wx, wy, wx + (x1 - x0) * 0.4 / cols, wy + (y1 - y0) * 0.25 / (rows + 1)], fill=glass)
        d.rectangle([(x0 + x1) / 2 - u * 0.06, y1 - u * 0.22, (x0 + x1) / 2 + u * 0.06, y1], fill=shade(wall, 0.45))
    elif kind == "vehicle":
        body = pick(
            rng,
            (LEGO["red"], LEGO["blue"], LEGO["white"], LEGO["yellow"], LEGO["dark_grey"], LEGO["black"], LEGO["green"]),
        )
        ground, wheel = h * 0.95, u * uniform(rng, 0.06, 0.1)
        x0, x1 = w * uniform(rng, 0.02, 0.15), w * uniform(rng, 0.75, 0.98)
        top = ground - wheel * uniform(rng, 2.5, 4)
        d.rectangle([x0, top, x1, ground - wheel], fill=body, outline=shade(body, 0.6))
        d.rectangle([x0 + (x1 - x0) * 0.55, top - wheel * 2, x1 - (x1 - x0) * 0.1, top], fill=shade(body, 0.9))
        d.rectangle(
            [x0 + (x1 - x0) * 0.6, top - wheel * 1.7, x1 - (x1 - x0) * 0.15, top - wheel * 0.4],
            fill=LEGO["medium_azure"],
        )
        d.rectangle([x0, top + wheel * 0.4, x1, top + wheel * 0.8], fill=pick(rng, PALETTE))
        for cx in (x0 + wheel * 1.5, x1 - wheel * 1.5):
            d.ellipse([cx - wheel, ground - 2 * wheel, cx + wheel, ground], fill=LEGO["black"])
            d.ellipse(
                [cx - wheel * 0.45, ground - wheel * 1.45, cx + wheel * 0.45, ground - wheel * 0.55],
                fill=LEGO["light_grey"],
            )
    else:  # starship
        hull = pick(rng, (LEGO["light_grey"], LEGO["white"], LEGO["dark_grey"], LEGO["tan"]))
        cy = h * uniform(rng, 0.3, 0.55)
        x0, x1 = w * 0.05, w * 0.95
        d.polygon([(x0, cy), (x1, cy - h * 0.06), (x1, cy + h * 0.06)], fill=hull, outline=shade(hull, 0.6))
        for sign in (-1, 1):
            d.polygon(
                [(w * 0.55, cy), (w * 0.85, cy + sign * h * uniform(rng, 0.2, 0.35)), (w * 0.9, cy + sign * h * 0.05)],
                fill=shade(hull, 0.85),
                outline=shade(hull, 0.6),
            )
        d.rectangle(
            [w * 0.6, cy - h * 0.02, w * 0.8, cy + h * 0.02],
            fill=pick(rng, (LEGO["red"], LEGO["blue"], LEGO["orange"])),
        )
        d.ellipse([w * 0.9, cy - h * 0.04, w * 0.98, cy + h * 0.04], fill=LEGO["medium_azure"])
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(2, 6))):
            bw = u * uniform(rng, 0.05, 0.12)
            small_brick(d, uniform(rng, 0, 0.9) * w, uniform(rng, 0.8, 0.95) * h, bw, bw * 0.6, pick(rng, PALETTE))
    for _ in range(int(rng.integers(1, 4))):
        fig = draw_minifig(random_fig_spec(rng), rng, h * uniform(rng, 0.3, 0.5))
        layer.alpha_composite(fig, (int(uniform(rng, 0, 1) * max(w - fig.width, 1)), max(h - fig.height, 0)))
    return layer


def _draw_bulk(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    u = min(w, h)
    tub = rng.random() < 0.45
    n = int(rng.integers(25, 70))
    bricks = []
    for _ in range(n):
        x = uniform(rng, 0.05, 0.95)
        mound = 1 - abs(x - 0.5) * 2
        top = 0.95 - (0.55 if tub else 0.75) * mound - 0.1
        bricks.append((uniform(rng, top, 0.92) * h, x * w, u * uniform(rng, 0.06, 0.15), pick(rng, PALETTE)))
    for y, x, bw, c in sorted(bricks):
        small_brick(d, x - bw / 2, y, bw, bw * uniform(rng, 0.35, 0.8), c)
    if tub:
        tint = pick(rng, (LEGO["blue"], LEGO["red"], LEGO["light_grey"], LEGO["white"], LEGO["yellow"]))
        overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        o = ImageDraw.Draw(overlay)
        top = h * uniform(rng, 0.3, 0.45)
        o.polygon([(w * 0.05, top), (w * 0.95, top), (w * 0.88, h * 0.98), (w * 0.12, h * 0.98)], fill=(*tint, 170))
        o.rectangle([w * 0.03, top - h * 0.05, w * 0.97, top], fill=(*shade(tint, 0.8), 255))
        layer.alpha_composite(overlay)
    if rng.random() < 0.2:
        fig = draw_minifig(random_fig_spec(rng), rng, h * uniform(rng, 0.25, 0.4))
        layer.alpha_composite(fig, (int(uniform(rng, 0, 1) * max(w - fig.width, 1)), max(h - fig.height, 0)))
    return layer


STYLE_DRAW: dict[str, Callable[[np.random.Generator, int, int], Image.Image]] = {
    "technic": _draw_technic,
    "young": _draw_young,
    "minifig": _draw_minifig_scene,
    "bulk": _draw_bulk,
}

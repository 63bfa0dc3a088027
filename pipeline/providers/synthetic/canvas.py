"""What every synthetic image shares: keyed RNGs, the LEGO palette, backgrounds and clutter, the finish, CSV bytes.

Every image draws from its own RNG, keyed by (seed, class or set, split, index, salt), so one image never depends
on how many others were drawn. Images are drawn at `SUPERSAMPLE` times the size and box-reduced by `finish`,
which anti-aliases the shapes cheaply.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[int, int, int]
T = TypeVar("T")

SUPERSAMPLE = 2
# Salts keep the RNG streams of different purposes apart for the same seed: all of them here, so they stay distinct.
SALT_CLASS, SALT_CATALOGUE, SALT_NAME, SALT_SET_IMAGE, SALT_LEGO_IDS, SALT_CHOICE = 101, 202, 303, 404, 505, 606

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


# --------------------------------------------------------------------------------------------------
# Seeding and colours


def keyed_rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def pick(rng: np.random.Generator, items: Sequence[T]) -> T:
    return items[int(rng.integers(len(items)))]


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def shade(c: Colour, factor: float) -> Colour:
    """Darken (<1) or lighten towards white (>1)."""
    if factor <= 1:
        return (int(c[0] * factor), int(c[1] * factor), int(c[2] * factor))
    t = min(factor - 1, 1.0)
    return (int(c[0] + (255 - c[0]) * t), int(c[1] + (255 - c[1]) * t), int(c[2] + (255 - c[2]) * t))


def random_colour(rng: np.random.Generator) -> Colour:
    if rng.random() < 0.5:
        return pick(rng, PALETTE)
    r, g, b = rng.integers(0, 256, 3)
    return (int(r), int(g), int(b))


# --------------------------------------------------------------------------------------------------
# Files


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Drawing


def background(rng: np.random.Generator, w: int, h: int, *, clutter: bool = True) -> Image.Image:
    """Plain colour or a gradient, sometimes with brick-like clutter: nuisance the model must ignore."""
    c0 = np.array(random_colour(rng), dtype=np.float32)
    if rng.random() < 0.5:
        img = Image.new("RGB", (w, h), tuple(int(v) for v in c0))
    else:
        c1 = np.array(random_colour(rng), dtype=np.float32)
        angle = uniform(rng, 0, 2 * math.pi)
        xs = np.linspace(0, 1, w, dtype=np.float32)[None, :] * math.cos(angle)
        ys = np.linspace(0, 1, h, dtype=np.float32)[:, None] * math.sin(angle)
        t = xs + ys
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
        img = Image.fromarray(arr.astype(np.uint8), "RGB")
    if clutter and rng.random() < 0.6:
        draw_clutter(ImageDraw.Draw(img), rng, w, h, int(rng.integers(1, 7)))
    return img


def draw_clutter(d: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, n: int) -> None:
    u = min(w, h)
    for _ in range(n):
        c = random_colour(rng)
        x, y = uniform(rng, 0, w), uniform(rng, 0, h)
        size = uniform(rng, 0.05, 0.3) * u
        kind = int(rng.integers(4))
        if kind == 0:
            small_brick(d, x, y, size, size * uniform(rng, 0.3, 0.8), c)
        elif kind == 1:
            d.ellipse([x, y, x + size, y + size * uniform(rng, 0.5, 1.5)], fill=c)
        elif kind == 2:
            d.line(
                [(x, y), (x + uniform(rng, -1, 1) * size * 2, y + uniform(rng, -1, 1) * size * 2)],
                fill=c,
                width=max(1, int(size * 0.1)),
            )
        else:
            d.rectangle([x, y, x + size * uniform(rng, 0.5, 2), y + size * uniform(rng, 0.3, 1)], fill=c)


def finish(img: Image.Image, rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """Downsample, then lighting, colour cast, noise, sometimes blur, and a random JPEG quality."""
    img = (
        img.reduce(SUPERSAMPLE)
        if img.size == (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
        else img.resize(size, Image.Resampling.BOX)
    )
    arr = np.asarray(img, dtype=np.float32)
    mean = arr.mean(axis=(0, 1), keepdims=True)
    arr = (arr - mean) * uniform(rng, 0.65, 1.3) + mean
    gain = uniform(rng, 0.65, 1.3) * rng.uniform(0.82, 1.18, 3).astype(np.float32)
    arr = arr * gain[None, None, :]
    if rng.random() < 0.5:  # uneven light across the frame
        h, w = arr.shape[:2]
        angle = uniform(rng, 0, 2 * math.pi)
        ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * math.cos(angle) + np.linspace(
            -1, 1, h, dtype=np.float32
        )[:, None] * math.sin(angle)
        arr = arr * (1 + uniform(rng, 0.05, 0.3) * ramp)[..., None]
    sigma = uniform(rng, 0, 12)
    if sigma > 1:
        arr = arr + rng.normal(0, sigma, arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(uniform(rng, 0.4, 1.3)))
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=int(rng.integers(60, 96)))
    return buffer.getvalue()


def paste_layer(canvas: Image.Image, layer: Image.Image, cx: float, cy: float) -> None:
    canvas.paste(layer, (int(cx - layer.width / 2), int(cy - layer.height / 2)), layer)


def small_brick(d: ImageDraw.ImageDraw, x: float, y: float, bw: float, bh: float, colour: Colour) -> None:
    """A brick seen from the front: body plus a row of studs on top."""
    studs = int(np.clip(round(bw / max(bh * 0.7, 1)), 1, 6))
    stud_w, stud_h = bw / studs * 0.6, max(bh * 0.22, 1)
    for k in range(studs):
        sx = x + bw / studs * (k + 0.2)
        d.rectangle([sx, y - stud_h, sx + stud_w, y], fill=shade(colour, 0.85))
    d.rectangle([x, y, x + bw, y + bh], fill=colour, outline=shade(colour, 0.6))

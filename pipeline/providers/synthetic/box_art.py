"""BrickInsights-shaped set images: catalogue sets drawn as box art (a title band with a logo, the model, sometimes
an inset of another style; Books as a cover, Gear as a keychain), one record per image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from pipeline.io import write_bytes
from pipeline.providers.synthetic.canvas import (
    LEGO,
    SALT_SET_IMAGE,
    SUPERSAMPLE,
    background,
    finish,
    keyed_rng,
    paste_layer,
    pick,
    random_colour,
    shade,
    uniform,
)
from pipeline.providers.synthetic.catalogue import (
    ROOT_STYLE,
    STYLES,
    VARIANT,
    choose_sets,
    synthetic_catalogue,
    theme_roots,
)
from pipeline.providers.synthetic.figures import draw_minifig, random_fig_spec
from pipeline.providers.synthetic.set_models import STYLE_DRAW


def _as_book(rng: np.random.Generator, content: Image.Image) -> Image.Image:
    """Books: the theme's picture on a cover with a spine and a title block."""
    w, h = content.size
    cover = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(cover)
    c = random_colour(rng)
    d.rectangle([w * 0.1, 0, w * 0.9, h - 1], fill=(*c, 255))
    d.rectangle([w * 0.1, 0, w * 0.16, h - 1], fill=(*shade(c, 0.6), 255))
    d.rectangle([w * 0.88, h * 0.02, w * 0.9, h * 0.98], fill=(240, 240, 230, 255))
    d.rectangle([w * 0.22, h * 0.05, w * 0.82, h * 0.22], fill=(*random_colour(rng), 255))
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
    fig = draw_minifig(random_fig_spec(rng), rng, h * 0.68)
    layer.alpha_composite(fig, (int(cx - fig.width / 2), int(h * 0.3)))
    return layer


def _render_set_image(root: str, rng: np.random.Generator, height: int) -> bytes:
    """Box art: background, optional frame, a title band with a logo, then the model, lit and noised."""
    out_w = round(height * uniform(rng, 1.0, 1.6))
    H, W = height * SUPERSAMPLE, out_w * SUPERSAMPLE
    canvas = background(rng, W, H, clutter=rng.random() < 0.3)
    d = ImageDraw.Draw(canvas)
    if rng.random() < 0.6:
        border = int(H * uniform(rng, 0.01, 0.05))
        d.rectangle([0, 0, W - 1, H - 1], outline=random_colour(rng), width=max(1, border))
    band_h = H * uniform(rng, 0.1, 0.22)
    band_top = rng.random() < 0.7
    by0 = 0 if band_top else H - band_h
    d.rectangle([0, by0, W, by0 + band_h], fill=random_colour(rng))
    if rng.random() < 0.8:  # the red logo square
        lx = W * uniform(rng, 0.02, 0.1)
        d.rectangle(
            [lx, by0 + band_h * 0.15, lx + band_h * 0.7, by0 + band_h * 0.85],
            fill=LEGO["red"],
            outline=LEGO["yellow"],
            width=max(1, int(band_h * 0.06)),
        )
        d.rectangle(
            [lx + band_h * 0.15, by0 + band_h * 0.4, lx + band_h * 0.55, by0 + band_h * 0.6], fill=LEGO["white"]
        )
    text = pick(rng, (LEGO["white"], LEGO["black"], LEGO["yellow"]))
    for k in range(int(rng.integers(1, 4))):
        tx = W * uniform(rng, 0.25, 0.6)
        d.rectangle(
            [tx, by0 + band_h * (0.2 + 0.25 * k), tx + W * uniform(rng, 0.1, 0.35), by0 + band_h * (0.32 + 0.25 * k)],
            fill=text,
        )

    area_top = band_h if band_top else 0
    area_h = H - band_h
    style = ROOT_STYLE[root]
    content = STYLE_DRAW[style](rng, int(W * 0.9), int(area_h * 0.9))
    variant = VARIANT.get(root)
    if variant == "book":
        content = _as_book(rng, content)
    elif variant == "keychain":
        content = _as_keychain(rng, content)
    scale = uniform(rng, 0.55, 1.0)
    content = content.resize(
        (max(1, int(content.width * scale)), max(1, int(content.height * scale))), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        content = content.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    content = content.rotate(uniform(rng, -15, 15), resample=Image.Resampling.BILINEAR, expand=True)
    paste_layer(canvas, content, W * uniform(rng, 0.35, 0.65), area_top + area_h * uniform(rng, 0.4, 0.6))
    if rng.random() < 0.15:  # an inset of another style: the styles overlap somewhat
        other = pick(rng, [s for s in STYLES if s != style])
        inset = STYLE_DRAW[other](rng, int(H * 0.35), int(H * 0.3))
        paste_layer(canvas, inset, W * pick(rng, (0.2, 0.8)), area_top + area_h * uniform(rng, 0.2, 0.8))
    return finish(canvas, rng, (out_w, height))


def render_sets(out_dir: Path, *, count: int, image_height: int, seed: int) -> list[dict]:
    """Render `count` catalogue sets as box-art JPEGs under `out_dir/images/`; one record per set."""
    if count < 0 or image_height < 8:
        raise ValueError("count must be >= 0 and image_height >= 8")
    out_dir = Path(out_dir)
    sets, themes = synthetic_catalogue(seed)
    root_of_theme = theme_roots(themes)
    roots_of_set = [root_of_theme[int(t)] for t in sets["theme_id"]]
    chosen = sorted(choose_sets(sets, roots_of_set, count, seed), key=lambda i: sets.at[i, "set_num"])
    records: list[dict] = []
    for i in tqdm(chosen, desc="render sets", unit="img"):
        set_num = str(sets.at[i, "set_num"])
        number, version = (int(p) for p in set_num.split("-"))
        data = _render_set_image(roots_of_set[i], keyed_rng(seed, number, version, SALT_SET_IMAGE), image_height)
        rel = f"images/{set_num}.jpg"
        write_bytes(out_dir / rel, data)
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

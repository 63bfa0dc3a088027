"""Embedded default data: procedurally rendered LEGO images, so the pipeline runs offline with no credentials.

Three providers copy the shape of real sources so downstream code cannot tell them apart:

- `render_minifigures` writes the layout of Kaggle's `ihelon/lego-minifigures-classification` (`minifigures.py`);
- `synthetic_catalogue` returns a Rebrickable CSV-dump catalogue, sets and themes (`catalogue.py`);
- `render_sets` draws box-art-like images of catalogue sets with BrickInsights-shaped records (`box_art.py`).

Everything is seeded: the same arguments give byte-identical files. This file is the package's front door: callers
import these names from `pipeline.providers.synthetic`, so code can move between the modules behind it (`canvas`
for what all images share, `figures` and `set_models` for what is drawn) without touching them.
"""

from pipeline.providers.synthetic.box_art import render_sets
from pipeline.providers.synthetic.catalogue import ROOT_STYLE, STYLES, UNIVERSES, synthetic_catalogue, theme_roots
from pipeline.providers.synthetic.minifigures import render_minifigures

__all__ = [
    "ROOT_STYLE",
    "STYLES",
    "UNIVERSES",
    "render_minifigures",
    "render_sets",
    "synthetic_catalogue",
    "theme_roots",
]

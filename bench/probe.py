"""A frozen-feature linear probe, for `bench/recipes.py --probe`: a packaged ImageNet backbone, not fine-tuned, its
pooled features of each training picture and its mirror image, and a class-weighted logistic regression on them (C
chosen by 5-fold cross-validated log-loss on the training pictures alone). Seconds on a CPU where fine-tuning takes
minutes: a cheap second member for an ensemble.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.backbones import BackboneClassifier  # noqa: E402
from pipeline.images import classify_input, decode_bgr, read_bytes  # noqa: E402

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)


def features(
    model: BackboneClassifier, imgsz: int, files: list[str], mirror: bool = False, batch: int = 32
) -> np.ndarray:
    """The backbone's pooled head features (1,280 a picture) of `files`, shown as the classifier is at inference."""
    body, head = model.model[:-1], model.model[-1]
    out = []
    with torch.no_grad():
        for i in range(0, len(files), batch):
            inputs = [
                classify_input(decode_bgr(read_bytes(Path(f)), min_side=imgsz), imgsz) for f in files[i : i + batch]
            ]
            x = torch.from_numpy(np.stack([p[:, :, ::-1] if mirror else p for p in inputs]).copy())
            out.append(head.pool(head.conv(body(x))).flatten(1).numpy())
    return np.concatenate(out)


def fitted_probe(x: np.ndarray, y: np.ndarray, c: float):
    """A class-weighted logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000)).fit(x, y)


def choose_c(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    """The C of `C_GRID` with the lowest log-loss over the folds numbered in `fold` (training pictures alone)."""

    def cv_loss(c: float) -> float:
        losses = []
        for k in np.unique(fold):
            probs = fitted_probe(x[fold != k], y[fold != k], c).predict_proba(x[fold == k])
            losses.append(-np.log(np.clip(probs[np.arange(len(probs)), y[fold == k]], 1e-12, None)).mean())
        return float(np.mean(losses))

    return min(C_GRID, key=cv_loss)


def probe_probabilities(backbone: str, imgsz: int, train: pd.DataFrame, held_out: pd.DataFrame, names: list[str]):
    """The probe's class probabilities (columns in `names` order) for `held_out`, and the C it chose."""
    model = BackboneClassifier(backbone, nc=1000, verbose=False).eval()  # ImageNet weights, left as they are
    files = list(train["path"])
    x = np.concatenate([features(model, imgsz, files), features(model, imgsz, files, mirror=True)])
    y = np.tile(train["label"].map(names.index).to_numpy(), 2)
    fold = np.tile(np.arange(len(files)) % 5, 2)  # a picture and its mirror image in the same fold
    c = choose_c(x, y, fold)
    held_out_x = features(model, imgsz, list(held_out["path"]))
    return fitted_probe(x, y, c).predict_proba(held_out_x), c

"""Test-time views compared on held-out pictures: the current recipe trained with several seeds on the current split,
each model scored on the validation and calibration pictures (with `split.refit: false`, neither is trained on;
test is never read) through several ways of showing it a picture, and through their averages.

The classifier sees a square: today the centre crop of the short side (Ultralytics' inference transform), which cuts
the sides off a 4:3 product picture. Candidates: the mirror image, the whole picture squeezed to the square (what
training's RandomResizedCrop shows at full area), and the means of their probabilities.

    python bench/views.py --task theme --seeds 42 1 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.recipes import held_out_split  # noqa: E402
from pipeline import params  # noqa: E402
from pipeline.evaluation import summarise  # noqa: E402
from pipeline.images import classify_input, decode_bgr, read_bytes  # noqa: E402
from pipeline.onnx_model import OnnxClassifier, softmax  # noqa: E402
from pipeline.training import train  # noqa: E402


def squeezed(bgr: np.ndarray, size: int) -> np.ndarray:
    """The whole picture resized to `size`×`size` (aspect ratio not kept), as `classify_input` lays it out."""
    image = Image.fromarray(np.ascontiguousarray(bgr)).resize((size, size), Image.Resampling.BILINEAR)
    rgb = np.asarray(image)[:, :, ::-1]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


VIEWS = {
    "centre": lambda bgr, size: classify_input(bgr, size),
    "centre-mirror": lambda bgr, size: classify_input(bgr, size)[:, :, ::-1],
    "squeezed": squeezed,
    "squeezed-mirror": lambda bgr, size: squeezed(bgr, size)[:, :, ::-1],
}
COMBINATIONS = {
    "centre (today)": ["centre"],
    "centre + mirror": ["centre", "centre-mirror"],
    "squeezed": ["squeezed"],
    "squeezed + mirror": ["squeezed", "squeezed-mirror"],
    "centre + squeezed": ["centre", "squeezed"],
    "all four": list(VIEWS),
}


def view_probabilities(model: OnnxClassifier, files: list[Path]) -> dict[str, np.ndarray]:
    pictures = [decode_bgr(read_bytes(f), min_side=model.imgsz) for f in files]
    out = {}
    for name, view in VIEWS.items():
        inputs = np.stack([np.ascontiguousarray(view(p, model.imgsz)) for p in pictures])
        logits = np.concatenate([model.sessions[0].run(None, {"images": inputs[i : i + 64]})[0]
                                 for i in range(0, len(inputs), 64)])  # fmt: skip
        out[name] = softmax(logits.astype(np.float64))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="theme")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    args = parser.parse_args()

    config = params.load()
    dataset, held_out, train_counts = held_out_split(args.task)
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in COMBINATIONS}
    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp:
        for seed in args.seeds:
            result = train(config.train_for(args.task), dataset, Path(tmp) / str(seed), seed, refit=True)
            model = OnnxClassifier([result.onnx])
            y_true = held_out["label"].map(model.names.index).to_numpy()
            probs = view_probabilities(model, [Path(p) for p in held_out["path"]])
            for name, views in COMBINATIONS.items():
                mean = np.mean([probs[v] for v in views], axis=0)
                metrics, table, _ = summarise(y_true, mean, model.names, train_counts)
                row = {k: float(metrics[k]) for k in ("top1", "macro_f1", "balanced_accuracy")}
                row["nll"] = float(-np.log(np.clip(mean[np.arange(len(y_true)), y_true], 1e-12, None)).mean())
                row |= {f"recall {c}": float(r) for c, r in zip(table["class"], table["recall"])}
                scores[name].append(row)
                print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
    print(f"mean of {len(args.seeds)} seeds:")
    for name, rows in scores.items():
        mean = pd.DataFrame(rows).mean()
        print(f"  {name:<20} " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))


if __name__ == "__main__":
    main()

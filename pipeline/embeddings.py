"""What the network learned, as a picture: the penultimate-layer embeddings of the train and test images (the ONNX
export's second output), mapped to 2-D by UMAP and coloured by class, with the misclassified test images marked.
The embeddings are kept (`embeddings.npz`) for nearest-neighbour look-ups: "the training images most like this one".
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline import plotting
from pipeline.io import atomic_path


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def nearest(query: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Per query row, the indices of the `k` most similar `vectors` (cosine), most similar first."""
    similarity = normalised(query) @ normalised(vectors).T
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


# umap-learn JIT-compiles these numba kernels without `cache=True`: ~11 s of every evaluate process on 2 cores
# before the first point moves. With numba's own on-disk cache (beside the package's .pyc files, or in
# NUMBA_CACHE_DIR) a later process loads them in a fraction of a second; the map is the same.
UNCACHED_UMAP_KERNELS = (
    ("umap.utils", "fast_knn_indices"),
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
)


@functools.cache  # once per process: the kernels' caches are switched on before their first call
def _umap():
    import umap

    for module, name in UNCACHED_UMAP_KERNELS:
        kernel = getattr(importlib.import_module(module), name, None)
        if hasattr(kernel, "enable_caching"):  # a numba dispatcher (a newer umap may rename or cache it itself)
            with contextlib.suppress(RuntimeError):  # no writable cache folder: compiled in memory, as umap does
                kernel.enable_caching()
    return umap


MAP_POINTS = 5_000  # UMAP's time and memory, and a scatter's legibility, end well before 100,000 points


def map_sample(wrong: np.ndarray, seed: int, limit: int = MAP_POINTS) -> np.ndarray:
    """Sorted indices of the points the map shows: all of them up to `limit`; past it every misclassified one
    (`wrong`, one flag per point) and a seeded uniform draw of the others, which keeps the classes' shares."""
    wrong = np.asarray(wrong, dtype=bool)
    if len(wrong) <= limit:
        return np.arange(len(wrong))
    missed = np.flatnonzero(wrong)[:limit]
    others = np.flatnonzero(~wrong)
    drawn = np.random.default_rng(seed).choice(others, size=limit - len(missed), replace=False)
    return np.sort(np.concatenate([missed, drawn]))


def umap_2d(vectors: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 2-D UMAP of the (cosine) embeddings; a small set gets a proportionally small neighbourhood."""
    umap = _umap()
    neighbours = int(max(2, min(15, len(vectors) - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(np.asarray(vectors, dtype=np.float32))


def save(target: Path, paths: Sequence[str], labels: Sequence[str], splits: Sequence[str], vectors: np.ndarray) -> None:
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, path=np.asarray(paths), label=np.asarray(labels), split=np.asarray(splits),
                            vector=np.asarray(vectors, dtype=np.float32))  # fmt: skip


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def plot_map(
    xy: np.ndarray, labels: Sequence[str], splits: Sequence[str], wrong: np.ndarray, title: str, target: Path
) -> None:
    """Train images as small dots, test images as circles, misclassified test images (`wrong`, one flag per point)
    as black crosses."""
    plt = plotting.pyplot()
    label_array, split_array = np.asarray(labels), np.asarray(splits)
    classes = sorted(set(label_array))
    colours = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(9, 7.5))
    for i, name in enumerate(classes):
        colour = colours(i % colours.N)
        train = (label_array == name) & (split_array == "train")
        test = (label_array == name) & (split_array == "test")
        ax.scatter(xy[train, 0], xy[train, 1], s=8, color=colour, alpha=0.5, linewidths=0)
        ax.scatter(xy[test, 0], xy[test, 1], s=28, facecolors="none", edgecolors=[colour], linewidths=1.2,
                   label=name if len(classes) <= 20 else None)  # fmt: skip
    missed = np.flatnonzero(wrong)
    ax.scatter(xy[missed, 0], xy[missed, 1], marker="x", s=60, color="black", linewidths=1.6,
               label=f"misclassified test image ({len(missed)})")  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\ndots: train, circles: test, colour: true class", fontsize=11)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    fig.tight_layout()
    plotting.save(fig, target)

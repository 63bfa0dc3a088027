"""What the network learned, as a picture: the penultimate-layer embeddings of the train and test images (the ONNX
export's second output), mapped to 2-D by UMAP and coloured by class, with the misclassified test images marked.
The embeddings are kept (`embeddings.npz`) for nearest-neighbour look-ups: "the training images most like this one".
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline import plotting
from pipeline.io import atomic_path

if TYPE_CHECKING:
    from pipeline.onnx_model import OnnxClassifier


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


class MapSample:
    """The points the map shows, chosen while the embeddings stream past, holding at most about 2 x `limit`
    vectors whatever the number of points: all of them up to `limit`; past it every misclassified one (up to the
    limit) and a seeded uniform draw of the others, which keeps the classes' shares. `total` points are offered in
    order, a batch at a time, with their misclassified flags (train points are never misclassified)."""

    def __init__(self, total: int, seed: int, limit: int = MAP_POINTS) -> None:
        self.total, self.limit = total, limit
        # the draw, in the order drawn: its first k are a uniform draw of k, whichever of it turn out misclassified
        order = np.arange(total) if total <= limit else np.random.default_rng(seed).choice(total, limit, replace=False)
        self.rank = dict(zip(order.tolist(), range(len(order))))
        self.drawn = np.zeros(total, dtype=bool)
        self.drawn[order] = True
        self.kept: dict[int, tuple[np.ndarray, bool]] = {}
        self.offered = self.missed = 0

    def offer(self, vectors: np.ndarray, wrong: np.ndarray) -> None:
        wrong = np.asarray(wrong, dtype=bool)
        drawn = self.drawn[self.offered : self.offered + len(vectors)]
        for i in np.flatnonzero(wrong | drawn):
            if drawn[i] or self.missed < self.limit:  # the map shows the first `limit` mistakes at most
                self.kept[self.offered + int(i)] = (np.array(vectors[i], dtype=np.float32), bool(wrong[i]))
                self.missed += bool(wrong[i])
        self.offered += len(vectors)

    def chosen(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(indices, vectors, wrong)` of the shown points, indices sorted."""
        if self.offered != self.total:
            raise ValueError(f"{self.offered} of {self.total} points offered to the map")
        missed = sorted(i for i, (_, w) in self.kept.items() if w)[: self.limit]
        others = sorted((i for i, (_, w) in self.kept.items() if not w and i in self.rank), key=self.rank.__getitem__)
        shown = np.sort(np.asarray(missed + others[: self.limit - len(missed)], dtype=np.int64))
        vectors = np.stack([self.kept[i][0] for i in shown]) if len(shown) else np.zeros((0, 0), np.float32)
        return shown, vectors, np.array([self.kept[i][1] for i in shown], dtype=bool)


def umap_2d(vectors: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 2-D UMAP of the (cosine) embeddings; a small set gets a proportionally small neighbourhood."""
    umap = _umap()
    neighbours = int(max(2, min(15, len(vectors) - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(np.asarray(vectors, dtype=np.float32))


class Writer:
    """`embeddings.npz` written a batch of vectors at a time (the format `save` writes and `np.load` reads): the
    rows' path, label and split arrays up front, then the vectors streamed into the archive, so memory holds one
    batch however many pictures there are. The file appears only once every row is written."""

    def __init__(self, target: Path, paths: Sequence[str], labels: Sequence[str], splits: Sequence[str]) -> None:
        if not len(paths) == len(labels) == len(splits):
            raise ValueError(f"{target}: {len(paths)} paths, {len(labels)} labels, {len(splits)} splits")
        self.target, self.rows, self.written = Path(target), len(paths), 0
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.target))
        self.archive = self._stack.enter_context(zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True))
        for name, values in (("path", paths), ("label", labels), ("split", splits)):
            with self.archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(values, dtype=str), allow_pickle=False)
        self.vectors: IO[bytes] | None = None
        self.dim = 0

    def append(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        if self.vectors is None:
            self.dim = vectors.shape[1]
            self.vectors = self._stack.enter_context(self.archive.open("vector.npy", "w", force_zip64=True))
            header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.dim)}
            np.lib.format.write_array_header_2_0(self.vectors, header)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or self.written + len(vectors) > self.rows:
            raise ValueError(
                f"{self.target}: {vectors.shape} vectors after {self.written} rows of {self.rows} x {self.dim}"
            )
        self.vectors.write(vectors.tobytes())
        self.written += len(vectors)

    def _finish(self) -> None:
        if self.written != self.rows:
            raise ValueError(f"{self.target}: {self.written} of {self.rows} rows written")
        if self.vectors is None:  # no rows: an empty array, as `np.savez` would write
            with self.archive.open("vector.npy", "w") as member:
                np.lib.format.write_array(member, np.zeros((0, 0), np.float32))

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is None:
                self._finish()
        except Exception as error:  # the temp file goes, the target stays as it was
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        self._stack.__exit__(kind, value, traceback)


def save(target: Path, paths: Sequence[str], labels: Sequence[str], splits: Sequence[str], vectors: np.ndarray) -> None:
    with Writer(target, paths, labels, splits) as writer:
        if len(vectors):
            writer.append(vectors)


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


def embed_and_map(model: OnnxClassifier, dataset: Path, train: pd.DataFrame, test: pd.DataFrame, y_true: np.ndarray,
                  batch: int, seed: int, task: str, out: Path, limit: int = MAP_POINTS) -> np.ndarray:  # fmt: skip
    """The model's probabilities of the `test` images (`(path, label)` rows under `dataset`, `y_true` their class
    indices), returned; on the way every train and test embedding is streamed into `out/embeddings.npz` and
    `out/embedding_map.png` drawn of a seeded sample of at most `limit` points with every misclassified test image
    in it. Memory holds a batch, the sample and the test probabilities, however many images there are."""
    rows = pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)
    files = [p.relative_to(dataset).as_posix() for p in rows["path"]]
    sample = MapSample(len(rows), seed, limit)
    probs, done = [], 0
    with Writer(out / "embeddings.npz", files, list(rows["label"]), list(rows["split"])) as writer:
        for split, frame in (("train", train), ("test", test)):
            for p, vectors in model.readable_batches(list(frame["path"]), batch, f"embed {task} {split}"):
                wrong = np.zeros(len(p), dtype=bool)
                if split == "test":
                    wrong = p.argmax(axis=1) != y_true[done : done + len(p)]
                    probs.append(p)
                    done += len(p)
                writer.append(vectors)
                sample.offer(vectors, wrong)
    shown, vectors, missed = sample.chosen()
    sampled = f", {len(shown):,} of {len(rows):,} pictures" if len(shown) < len(rows) else ""
    title = f"{task}: what the network learned (UMAP of its embeddings{sampled})"
    labels, splits = rows["label"].to_numpy()[shown], rows["split"].to_numpy()[shown]
    plot_map(umap_2d(vectors, seed), labels, splits, missed, title, out / "embedding_map.png")
    return np.concatenate(probs) if probs else np.zeros((0, len(model.names)))

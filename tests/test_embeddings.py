"""Embeddings: nearest-neighbour look-ups, a seeded UMAP map, the map picture and the kept vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from pipeline import embeddings
from pipeline.paths import PROJECT_ROOT


def clusters(per_class: int = 20, dim: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (3, dim)) * 4
    vectors = np.concatenate([c + rng.normal(0, 0.3, (per_class, dim)) for c in centres])
    labels = [name for name in ("a", "b", "c") for _ in range(per_class)]
    return vectors.astype(np.float32), labels


def test_nearest_neighbours_are_of_the_same_class_and_best_first():
    vectors, labels = clusters()
    found = embeddings.nearest(vectors[:3], vectors, k=3)
    assert found[:, 0].tolist() == [0, 1, 2]  # each vector is its own best match
    assert all(labels[j] == "a" for j in found.ravel())


def test_umap_is_seeded_and_keeps_classes_apart(tmp_path):
    vectors, labels = clusters()
    xy = embeddings.umap_2d(vectors, seed=1)
    assert xy.shape == (60, 2)
    np.testing.assert_allclose(embeddings.umap_2d(vectors, seed=1), xy)
    centres = {name: xy[[i for i, lab in enumerate(labels) if lab == name]].mean(axis=0) for name in "abc"}
    spread = max(np.linalg.norm(xy[i] - centres[lab]) for i, lab in enumerate(labels))
    assert min(np.linalg.norm(centres[a] - centres[b]) for a, b in ("ab", "bc", "ac")) > spread
    splits = ["train"] * 45 + ["test"] * 15
    wrong = np.zeros(60, dtype=bool)
    wrong[48] = True
    embeddings.plot_map(xy, labels, splits, wrong, "map", tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_large_map_shows_a_seeded_sample_with_every_mistake_in_it():
    wrong = np.zeros(20_000, dtype=bool)
    wrong[[5, 19_000, 19_999]] = True
    shown = embeddings.map_sample(wrong, seed=3, limit=1_000)
    assert len(shown) == len(set(shown)) == 1_000 and np.all(np.diff(shown) > 0)
    assert {5, 19_000, 19_999} <= set(shown)
    np.testing.assert_array_equal(embeddings.map_sample(wrong, seed=3, limit=1_000), shown)
    assert 300 < np.sum(shown < 10_000) < 700  # a uniform draw: both halves about equally
    np.testing.assert_array_equal(embeddings.map_sample(wrong[:800], seed=3, limit=1_000), np.arange(800))


def test_umap_kernels_are_compiled_once_then_loaded_from_numba_cache_by_a_new_process():
    """Each evaluate is a new process: the kernels umap compiles without `cache=True` must come from disk there."""
    vectors, _ = clusters()
    embeddings.umap_2d(vectors, seed=1)  # compiles (or loads) them and writes the cache
    script = (
        "import importlib, json; from pipeline import embeddings; from tests.test_embeddings import clusters; "
        "embeddings.umap_2d(clusters()[0], seed=2); "
        "print(json.dumps({f'{m}.{n}': sum(getattr(importlib.import_module(m), n).stats.cache_hits.values()) "
        "for m, n in embeddings.UNCACHED_UMAP_KERNELS}))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    hits = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(hits) == {f"{m}.{n}" for m, n in embeddings.UNCACHED_UMAP_KERNELS}
    assert all(count >= 1 for count in hits.values()), hits


def test_saved_embeddings_round_trip(tmp_path):
    vectors, labels = clusters(per_class=2)
    paths = [f"train/{lab}/{i}.jpg" for i, lab in enumerate(labels)]
    embeddings.save(tmp_path / "e.npz", paths, labels, ["train"] * 6, vectors)
    kept = embeddings.load(tmp_path / "e.npz")
    assert kept["path"].tolist() == paths and kept["label"].tolist() == labels
    np.testing.assert_array_equal(kept["vector"], vectors)

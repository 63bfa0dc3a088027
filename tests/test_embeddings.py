"""Embeddings: nearest-neighbour look-ups, a seeded UMAP map, the map picture and the kept vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pipeline import embeddings
from pipeline.evaluation import labelled_images
from pipeline.onnx_model import OnnxClassifier
from pipeline.params import Train
from pipeline.paths import PROJECT_ROOT
from pipeline.training import train
from tests.conftest import colour_classes


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


def streamed(sample: embeddings.MapSample, wrong: np.ndarray, batch: int = 64) -> np.ndarray:
    """Offer `len(wrong)` points (each vector its own index) a batch at a time; the shown indices."""
    vectors = np.arange(len(wrong), dtype=np.float32)[:, None]
    for start in range(0, len(wrong), batch):
        sample.offer(vectors[start : start + batch], wrong[start : start + batch])
    shown, kept, flags = sample.chosen()
    np.testing.assert_array_equal(kept[:, 0], shown)  # each shown point's own vector
    np.testing.assert_array_equal(flags, wrong[shown])
    return shown


def test_a_large_map_shows_a_seeded_sample_with_every_mistake_in_it_holding_a_bounded_number_of_vectors():
    wrong = np.zeros(20_000, dtype=bool)
    wrong[[5, 19_000, 19_999]] = True
    sample = embeddings.MapSample(len(wrong), seed=3, limit=1_000)
    shown = streamed(sample, wrong)
    assert len(shown) == len(set(shown)) == 1_000 and np.all(np.diff(shown) > 0)
    assert {5, 19_000, 19_999} <= set(shown)
    assert len(sample.kept) <= 1_003  # the draw and the mistakes, never the 20,000
    np.testing.assert_array_equal(streamed(embeddings.MapSample(20_000, seed=3, limit=1_000), wrong, batch=7), shown)
    assert 300 < np.sum(shown < 10_000) < 700  # a uniform draw: both halves about equally
    np.testing.assert_array_equal(streamed(embeddings.MapSample(800, seed=3, limit=1_000), wrong[:800]), np.arange(800))
    many = np.zeros(5_000, dtype=bool)
    many[::2] = True  # more mistakes than the map holds: the first `limit` of them, and no more vectors kept
    sample = embeddings.MapSample(5_000, seed=3, limit=1_000)
    np.testing.assert_array_equal(streamed(sample, many), np.arange(0, 2_000, 2))
    assert len(sample.kept) <= 2_000


def test_a_map_sample_offered_fewer_points_than_declared_refuses():
    sample = embeddings.MapSample(10, seed=0)
    sample.offer(np.zeros((4, 2)), np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="4 of 10 points"):
        sample.chosen()


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


def test_embeddings_streamed_a_batch_at_a_time_are_the_file_numpy_writes(tmp_path):
    vectors, labels = clusters(per_class=30, dim=16)
    paths, splits = [f"{i}.jpg" for i in range(90)], ["train"] * 60 + ["test"] * 30
    with embeddings.Writer(tmp_path / "e.npz", paths, labels, splits) as writer:
        for start in range(0, 90, 32):
            writer.append(vectors[start : start + 32].astype(np.float64))  # stored as float32, as before
    np.savez_compressed(tmp_path / "numpy.npz", path=paths, label=labels, split=splits, vector=vectors)
    streamed, reference = embeddings.load(tmp_path / "e.npz"), embeddings.load(tmp_path / "numpy.npz")
    assert streamed.keys() == reference.keys()
    for key in reference:
        np.testing.assert_array_equal(streamed[key], reference[key])
        assert streamed[key].dtype == reference[key].dtype


def test_an_interrupted_stream_leaves_the_previous_embeddings_in_place(tmp_path):
    vectors, labels = clusters(per_class=2)
    paths = [f"{i}.jpg" for i in range(6)]
    embeddings.save(tmp_path / "e.npz", paths, labels, ["train"] * 6, vectors)
    fewer = pytest.raises(ValueError, match=r"e.npz: 4 of 6 rows written")
    with fewer, embeddings.Writer(tmp_path / "e.npz", paths, labels, ["train"] * 6) as writer:
        writer.append(vectors[:4] + 1)
    more = pytest.raises(ValueError, match=r"e.npz: \(3, 32\) vectors after 4 rows of 6 x 32")
    with more, embeddings.Writer(tmp_path / "e.npz", paths, labels, ["train"] * 6) as writer:
        writer.append(vectors[:4] + 1)
        writer.append(vectors[:3] + 1)
    np.testing.assert_array_equal(embeddings.load(tmp_path / "e.npz")["vector"], vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]  # no temp file left behind


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    data = colour_classes(tmp_path_factory.mktemp("cls"), {"train": 12, "val": 2, "test": 6}, size=64)
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=64, batch=12, workers=0)
    return data, OnnxClassifier([train(settings, data, tmp_path_factory.mktemp("run") / "run", seed=0).onnx])


def test_evaluate_embeds_and_maps_every_picture_streaming_them_with_a_capped_map(exported, tmp_path):
    data, model = exported
    train_images, test_images = labelled_images(data / "train"), labelled_images(data / "test")
    y_true = test_images["label"].map(model.names.index).to_numpy()
    probs = embeddings.embed_and_map(model, data, train_images, test_images, y_true, 5, 0, "colours", tmp_path, 20)
    expected, test_vectors, _ = model.classify(list(test_images["path"]), 32)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    kept = embeddings.load(tmp_path / "embeddings.npz")
    assert kept["split"].tolist() == ["train"] * 36 + ["test"] * 18
    assert kept["path"].tolist() == [
        p.relative_to(data).as_posix() for p in [*train_images["path"], *test_images["path"]]
    ]
    np.testing.assert_allclose(kept["vector"][36:], test_vectors, atol=1e-5)
    assert kept["vector"].shape[0] == 54 and (tmp_path / "embedding_map.png").read_bytes()[:4] == b"\x89PNG"

"""The ONNX path answers as Ultralytics' own predictor does: same preprocessing pixel for pixel, same
probabilities, and large JPEGs decoded at reduced scale without changing the verdict."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.images import classify_input, decode_bgr
from pipeline.io import DataError
from pipeline.onnx_model import OnnxClassifier
from pipeline.params import Train
from pipeline.torch_model import Ensemble
from pipeline.training import train
from tests.conftest import colour_classes


def photo(width: int, height: int, seed: int) -> np.ndarray:
    """A BGR picture with structure at every scale (smooth gradients, blobs, fine noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y - seed), np.sin(4 * (x + y))], axis=-1) * 90 + 128
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def jpeg(bgr: np.ndarray, quality: int = 92, **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(bgr[:, :, ::-1]).save(out, "JPEG", quality=quality, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("size", [(160, 160), (512, 384), (300, 517), (37, 90)])
def test_preprocessing_is_ultralytics_classify_transforms_pixel_for_pixel(size):
    from ultralytics.data.augment import classify_transforms

    bgr = photo(*size, seed=sum(size))
    reference = classify_transforms(224)  # what Ultralytics' predictor applies, on the BGR image, then flips
    expected = reference(Image.fromarray(bgr)).numpy()[::-1]
    np.testing.assert_array_equal(classify_input(bgr, 224), expected)


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_a_6000_px_photo_stays_small():
    assert decode_bgr(jpeg(photo(1000, 1000, 1)), min_side=224).shape == (500, 500, 3)
    assert decode_bgr(jpeg(photo(512, 800, 1)), min_side=224).shape == (800, 512, 3)  # half would be below 2 × 224
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated by the camera: the reduced decode honours it too
    assert decode_bgr(jpeg(photo(1200, 900, 2), exif=exif), min_side=224).shape == (600, 450, 3)
    assert decode_bgr(jpeg(photo(6000, 6000, 3), quality=80), min_side=224).shape == (750, 750, 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = colour_classes(tmp_path_factory.mktemp("cls"), {"train": 6, "val": 2}, size=64)
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=2, imgsz=64, batch=6, workers=0)
    return train(settings, data, tmp_path_factory.mktemp("run") / "run", seed=0)


def test_onnx_and_ultralytics_give_the_same_answers(trained):
    """Top-1 identical on every image, probabilities within 1e-3, over varied pictures of several sizes."""
    images = [photo(w, h, seed) for seed, (w, h) in enumerate([(64, 64), (200, 120), (90, 300), (640, 480)] * 25)]
    torch_probs = Ensemble([trained.weights]).probabilities(images, batch=16)
    exported = OnnxClassifier([trained.onnx])
    onnx_probs = exported.probabilities(images, batch=16)
    assert exported.names == ["class0", "class1", "class2"] and exported.imgsz == 64
    assert (onnx_probs.argmax(axis=1) == torch_probs.argmax(axis=1)).all()
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-3)


def test_reduced_scale_decoding_keeps_the_verdict(trained):
    """JPEGs at least 4× the input decoded at 1/2…1/8 scale: the same top-1 as a full decode on ≥ 99.5%."""
    exported = OnnxClassifier([trained.onnx])
    encoded = [jpeg(photo(w, h, seed)) for seed, (w, h) in enumerate([(256, 256), (640, 480), (300, 900)] * 70)]
    full = exported.probabilities([decode_bgr(data) for data in encoded], batch=32)
    reduced = exported.probabilities(encoded, batch=32)
    assert (full.argmax(axis=1) == reduced.argmax(axis=1)).mean() >= 0.995


def test_files_that_are_not_models_are_named(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(DataError, match=r"model.onnx: not a loadable ONNX model"):
        OnnxClassifier([bad])

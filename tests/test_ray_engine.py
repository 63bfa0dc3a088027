"""`predict.engine: ray`: the registered champion run by Ray Data actors on a local Ray gives the in-process
engine's predictions, rejects and review queue, row for row, on the same folder."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import mlflow
from pipeline import registry
from pipeline.prediction import predict_folder, review_queue
from tests.registered import register_champion

pytestmark = pytest.mark.slow

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def champion(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("ray")
    registered = register_champion(root / "data", root)
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", registered.uri)
    mlflow.set_tracking_uri(registered.uri)
    folder = root / "incoming" / "nested"
    folder.mkdir(parents=True)
    images = registered.test_images + registered.train_images[:12]
    for i, image in enumerate(images):
        shutil.copyfile(image, folder / f"{i:03d}{image.suffix}")
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    yield registry.registered_source("minifigure")[1], folder.parent, len(images)
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_ray_gives_the_in_process_engines_predictions_rejects_and_review_queue(champion):
    import ray

    from pipeline.ray_engine import RayClassifier

    source, folder, images = champion
    with predict_folder(mlflow.pyfunc.load_model(source).unwrap_python_model(), folder, 4, 3, desc=None) as result:
        local = result.predictions(), result.rejected()
    try:
        with predict_folder(RayClassifier(source, actors=1), folder, 4, 3, desc=None) as result:
            distributed = result.predictions(), result.rejected()
    finally:
        ray.shutdown()
    assert len(local[0]) == images and len(local[1]) == 2
    pd.testing.assert_frame_equal(distributed[0], local[0])
    pd.testing.assert_frame_equal(distributed[1], local[1])
    pd.testing.assert_frame_equal(review_queue(distributed[0], folder, 5), review_queue(local[0], folder, 5))

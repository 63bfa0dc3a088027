"""`make serve`'s REST API: the real `mlflow models serve` process over loopback, answering a base64 image, refusing
bytes that are not one with a 400 and a one-line reason, and serving from a read-only artifact store."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

import mlflow
from pipeline import registry
from pipeline.evaluation import labelled_images
from pipeline.params import Train
from pipeline.paths import PROJECT_ROOT
from pipeline.training import train
from tests.conftest import colour_classes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    data = colour_classes(root / "data", {"train": 6, "val": 2, "test": 2})
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=6, workers=0)
    result = train(settings, data, root / "run", seed=0)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("serve", artifact_location=(root / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment):
            test = labelled_images(data / "test")
            example = test["path"].iloc[0].read_bytes()
            info, classes = registry.log_model([result.weights], [result.onnx], "minifigure", example)
        mlflow.MlflowClient().set_registered_model_alias("lego-minifigure", "champion", info.registered_model_version)
    finally:
        mlflow.set_tracking_uri(None)
    return uri, root / "artifacts", classes, list(test["path"])


@pytest.fixture(scope="module")
def server(registered):
    uri, artifacts, classes, images = registered
    set_writable(artifacts, False)  # a read-only artifact store
    before = files_under(artifacts)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serving", "--task", "minifigure", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"mlflow models serve exited: {process.stdout.read()[-2000:]}")
            try:
                if requests.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow models serve did not answer /ping within 120 s")
        yield base, classes, images
    finally:
        process.terminate()
        process.wait(timeout=30)
        after = files_under(artifacts)
        set_writable(artifacts, True)
        assert after == before, "serving wrote into the model's artifact folder"


def request(base: str, data: bytes) -> requests.Response:
    body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(data).decode()]]}}
    return requests.post(f"{base}/invocations", json=body, timeout=60)


def test_a_base64_image_gets_its_label_and_top_k(server):
    base, classes, images = server
    answer = request(base, images[0].read_bytes())
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    assert prediction["label"] in [*classes, "unknown"]
    assert prediction["top_k_labels"][0] in classes and len(prediction["probabilities"]) == len(classes)


@pytest.mark.parametrize(
    ("data", "reason"), [(b"<html>not found</html>", "HTML or XML text, not an image"), (b"", "empty file")]
)
def test_bytes_that_are_not_an_image_get_a_400_with_the_reason(server, data, reason):
    base, _, _ = server
    answer = request(base, data)
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert f"input row 0: 'image' does not hold a decodable image ({reason})" in message


def test_loading_a_registered_model_writes_nothing_into_its_artifacts(registered):
    uri, artifacts, _, images = registered
    before = files_under(artifacts)
    mlflow.set_tracking_uri(uri)
    try:
        version, source = registry.registered_source("minifigure")
        model = mlflow.pyfunc.load_model(source)
        out = model.predict(pd.DataFrame({"image": [images[0].read_bytes()]}))
    finally:
        mlflow.set_tracking_uri(None)
    assert version == "1" and len(out) == 1 and files_under(artifacts) == before
    assert json.loads(json.dumps(out["top_k_labels"].iloc[0]))  # JSON-serialisable, as the server returns it

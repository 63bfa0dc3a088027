"""`make serve`'s REST API: the real server process (MLflow's scoring app under uvicorn) over loopback, answering a
base64 image, refusing bytes that are not one with a 400 and a one-line reason, serving from a read-only artifact
store, and its API pages opening in Chromium without a request anywhere else."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests

import mlflow
from pipeline import registry
from pipeline.paths import PROJECT_ROOT
from tests.browser import CHROMIUM, offline_page
from tests.registered import register_champion
from tests.servers import free_port, wait_until_answering


def files_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")}


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    champion = register_champion(root / "data", root)
    return champion.uri, champion.artifacts, champion.classes, champion.test_images


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
        wait_until_answering(process, f"{base}/ping", "make serve")
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


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_api_pages_load_their_scripts_from_the_server(server, page):
    base, _, _ = server
    html = requests.get(f"{base}/{page}", timeout=30).text
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assert "/static-offline-docs/" in html


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium)")
def test_swagger_ui_lists_the_endpoints_offline(server):
    base, _, _ = server
    with offline_page() as (page, requested, errors):
        page.goto(f"{base}/docs")
        page.locator(".opblock-summary-path[data-path='/invocations']").wait_for(timeout=30_000)
        paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
        heading = page.locator(".info h1.title").inner_text()
    assert {"/invocations", "/ping", "/health", "/version"} <= set(paths)
    assert heading.startswith("lego-minifigure v1 (champion)")  # which model answers, not FastAPI's default
    assert errors == []
    assert [url for url in requested if not url.startswith(base)] == []

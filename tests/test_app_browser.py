"""`make app` in a real browser: Debian's Chromium, headless, driven by Playwright, against the real Streamlit
process on loopback, on a copy of the project with a registered champion. Upload a photo and see the champion's
label; correct it and find it saved; refusals for a non-image, an oversized upload and a path-escaping class
name; the review queue; 8 visitors at once, served by one model loaded once; and not one request leaves 127.0.0.1.

Skipped with one line where no Chromium is installed (`.ci/run` installs Debian's `chromium`, so CI runs it).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from PIL import Image

from tests.browser import CHROMIUM, CHROMIUM_ARGS

if CHROMIUM is None:
    pytest.skip(
        "no Chromium here (apt-get install chromium): the upload page's browser test is skipped",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

import mlflow  # noqa: E402
from pipeline.prediction import review_queue  # noqa: E402
from tests.conftest import guarded_environment  # noqa: E402
from tests.project_repo import make_repo  # noqa: E402
from tests.registered import register_champion  # noqa: E402
from tests.servers import free_port, listening_addresses, wait_until_answering  # noqa: E402

pytestmark = pytest.mark.slow

SCREENSHOT = os.environ.get("LEGO_APP_SCREENSHOT")  # also save the screenshot there (the README's docs/app.png)
TIMEOUT_MS = 60_000
# for assertions too (Playwright's own default is 5 s): the first page load imports MLflow and onnxruntime and loads
# the champion, which took longer than 5 s on a slow CI machine
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project whose store has a champion (with embeddings) and whose predict wrote a review queue."""
    log = tmp_path_factory.mktemp("guard") / "network-attempts.log"
    env = guarded_environment(log)
    root = make_repo(tmp_path_factory.mktemp("repo"), {"app": {"max_upload_mb": 1}}, env)
    dataset = root / "data" / "yolo" / "minifigure"
    champion = register_champion(dataset, root / "mlflow", with_embeddings=True, figures=True)
    mlflow.set_tracking_uri(champion.uri)
    try:
        from pipeline.app import champion as champions

        model = champions.load("minifigure", "1", dataset=dataset)
        answers, _ = model.classifier.answer(champion.test_images)
    finally:
        mlflow.set_tracking_uri(None)
    predictions = pd.DataFrame(
        {"path": [p.relative_to(dataset / "test").as_posix() for p in champion.test_images],
         "label": answers["label"], "confidence": answers["confidence"], "top5": "[]"}
    )  # fmt: skip
    (root / "data" / "predictions").mkdir(parents=True)
    review_queue(predictions, dataset / "test", size=3).to_csv(
        root / "data/predictions/minifigure_review.csv", index=False
    )
    guesses = dict(zip(champion.test_images, [top[0] for top in answers["top_k_labels"]]))
    return root, env, log, champion, dict(zip(champion.test_images, answers["label"])), guesses


@pytest.fixture(scope="module")
def app(project):
    root, env, *_ = project
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.app", "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{base}/_stcore/health", "the page's server")
        assert listening_addresses(port) == {"127.0.0.1"}  # this machine only, unless told otherwise
        yield base
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        assert "Traceback" not in out, out[-3000:]
        assert out.count("app: loaded lego-minifigure v1") == 1, out[-3000:]  # once, for every visitor


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def requested():
    return []


@pytest.fixture
def page(browser, app, requested) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.goto(app)
    expect(page.get_by_text("Answering: lego-minifigure v1")).to_be_visible()
    yield page
    expect(page.get_by_test_id("stException")).to_have_count(0)  # no exception shown on the page
    context.close()
    elsewhere = sorted({u for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
                        and urlparse(u).hostname != "127.0.0.1"})  # fmt: skip
    assert not elsewhere, f"the page fetched from outside this machine: {elsewhere}"


def upload(page: Page, files: list[dict]) -> None:
    page.locator("input[type=file]").first.set_input_files(files)


def image_file(path: Path) -> dict:
    return {"name": path.name, "mimeType": "image/jpeg", "buffer": path.read_bytes()}


def test_an_uploaded_photo_gets_the_champions_label_and_a_correction_is_saved(project, page):
    root, _, _, champion, labels, guesses = project
    photo = champion.test_images[0]
    upload(page, [image_file(photo)])
    expect(page.get_by_text(f"Answer: {labels[photo]}")).to_be_visible()
    expect(page.get_by_text("Most similar training images")).to_be_visible()
    link = page.get_by_role("link", name="MLflow run").get_attribute("href")
    assert link.startswith("http://127.0.0.1:5000/#/experiments/") and "/runs/" in link
    guess = guesses[photo]  # the label, or under "unknown" the best guess
    right = next(c for c in champion.classes if c != guess)
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=right, exact=True).click()
    page.get_by_role("button", name="Save the right class").first.click()
    expect(page.get_by_text(f"Saved: corrected as {right}")).to_be_visible()
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    task_dir = root / "data" / "feedback" / "minifigure"
    saved = list((task_dir / right).iterdir())
    assert len(saved) == 1 and saved[0].read_bytes() == photo.read_bytes()
    rows = list(csv.DictReader((task_dir / "corrections.csv").read_text().splitlines()))
    assert rows[-1]["label"] == right and rows[-1]["predicted"] == guess and rows[-1]["model_version"] == "1"


def test_a_typed_class_name_cannot_leave_the_feedback_folder(project, page):
    root, _, _, champion, *_ = project
    upload(page, [image_file(champion.test_images[1])])
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="(a class not listed: type its name)").click()
    page.get_by_label("New class name").first.fill("../../escaped")
    page.get_by_role("button", name="Save the right class").first.click()
    expect(page.get_by_text("Not saved: a class name may not contain")).to_be_visible()
    assert not list(root.parent.glob("**/escaped*")) and not (root / "data" / "escaped").exists()


def test_a_non_image_and_an_oversized_upload_get_a_message_and_the_page_goes_on(project, page):
    _, _, _, champion, labels, _ = project
    out = io.BytesIO()
    Image.effect_noise((900, 900), 64).convert("RGB").save(out, format="PNG")  # ~1.5 MB: over the 1 MB limit
    assert len(out.getvalue()) > 1_000_000
    photo = champion.test_images[2]
    again = {**image_file(photo), "name": "same-photo-again.jpg"}  # the same bytes twice: two answers, two forms
    upload(page, [{"name": "page.jpg", "mimeType": "image/jpeg", "buffer": b"<!doctype html><html>saved page</html>"},
                  image_file(photo), again])  # fmt: skip
    expect(
        page.get_by_text("page.jpg: not an image the model can read: HTML or XML text, not an image")
    ).to_be_visible()
    expect(page.get_by_text(f"Answer: {labels[photo]}")).to_have_count(2)
    upload(page, [{"name": "huge.png", "mimeType": "image/png", "buffer": out.getvalue()}])
    expect(page.get_by_text("File must be 1.0MB or smaller.")).to_be_visible()  # refused before it is sent
    expect(page.get_by_text(f"Answer: {labels[photo]}")).to_have_count(2)  # and the page goes on


def test_the_review_queue_shows_the_least_confident_first(project, page):
    page.get_by_text("Review queue", exact=True).click()
    expect(page.get_by_text("images to review")).to_be_visible()
    expect(page.get_by_text("queued: least confident").first).to_be_visible()


def test_eight_people_uploading_at_once_all_get_answers(project, browser, app):
    _, _, _, champion, labels, _ = project
    contexts = [browser.new_context() for _ in range(8)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(app)
        for page in pages:
            expect(page.get_by_text("Answering: lego-minifigure v1")).to_be_visible()
        photos = [champion.test_images[i % len(champion.test_images)] for i in range(8)]
        for page, photo in zip(pages, photos):  # all eight uploads are in flight before any answer is awaited
            upload(page, [image_file(photo)])
        for page, photo in zip(pages, photos):
            expect(page.get_by_text(f"Answer: {labels[photo]}")).to_be_visible()
    finally:
        for context in contexts:
            context.close()


def test_no_process_of_the_page_tried_the_network(project, app):
    _, _, log, *_ = project
    assert not log.exists() or not log.read_text().strip(), log.read_text()

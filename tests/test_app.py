"""What the upload page shows, without a browser: the champion's answer per upload (calibrated top-5, "unknown",
the most similar training images), refusals for non-images and oversized uploads, the review queue."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from PIL import Image

import mlflow
from pipeline.app import champion as champions
from pipeline.prediction import review_queue
from tests.registered import register_champion


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    registered = register_champion(root / "data", root / "store", with_embeddings=True)
    mlflow.set_tracking_uri(registered.uri)
    try:
        assert champions.champion_versions(["minifigure", "theme"]) == {"minifigure": "1"}
        yield champions.load("minifigure", "1", dataset=root / "data"), registered
    finally:
        mlflow.set_tracking_uri(None)


def test_the_champion_comes_with_its_test_scores_and_its_run(model):
    champion, registered = model
    assert champion.version == "1" and champion.names == registered.classes
    assert champion.metrics["top1"] == 1.0 and champion.metrics["ece"] == 0.05
    assert champion.run_url("http://127.0.0.1:5000/") == (
        f"http://127.0.0.1:5000/#/experiments/{champion.experiment_id}/runs/{champion.run_id}"
    )


def test_each_upload_gets_the_champions_answer_and_its_most_similar_training_images(model):
    champion, registered = model
    data = [p.read_bytes() for p in registered.test_images]
    answers = champions.answer(champion, [(f"{i}.png", d) for i, d in enumerate(data)], similar=3, max_bytes=10**6)
    expected, _ = champion.classifier.answer(data)
    assert [a.label for a in answers] == expected["label"].tolist()
    for answer in answers:
        assert answer.error is None and len(answer.top) == 3  # three classes: the top-5 is all of them
        assert [p for _, p in answer.top] == sorted((p for _, p in answer.top), reverse=True)
        assert abs(sum(p for _, p in answer.top) - 1) < 1e-6
        assert len(answer.similar) == 3 and all(path.is_file() for path, _ in answer.similar)
        assert all(path.parent.name == label for path, label in answer.similar)


def test_a_non_image_or_oversized_upload_gets_a_reason_and_the_rest_still_answers(model):
    champion, registered = model
    good = registered.test_images[0].read_bytes()
    answers = champions.answer(
        champion, [("page.jpg", b"<html>no</html>"), ("big.png", b"x" * 2000), ("ok.png", good), ("empty.jpg", b"")],
        similar=0, max_bytes=1500,
    )  # fmt: skip
    assert "HTML" in answers[0].error and "limit" in answers[1].error and "empty" in answers[3].error
    assert answers[2].error is None and answers[2].label in [*champion.names, "unknown"] and answers[2].similar == []


def test_a_huge_photo_is_shown_as_a_small_upright_thumbnail():
    out, exif = io.BytesIO(), Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° to show upright
    Image.new("RGB", (3000, 1000), (10, 20, 30)).save(out, format="JPEG", exif=exif)
    thumb = Image.open(io.BytesIO(champions.thumbnail(out.getvalue())))
    assert thumb.size == (107, 320)  # rotated by its EXIF orientation, then fit into 320 px


def test_the_review_queue_is_read_least_confident_first(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"x")
    predictions = pd.DataFrame(
        {"path": ["a.png", "b.png"], "label": ["x", "unknown"], "confidence": [0.4, 0.2], "top5": ['[["x", 0.4]]'] * 2}
    )
    monkeypatch.setattr(champions.paths, "PREDICTIONS", tmp_path)
    review_queue(predictions, photos, size=5).to_csv(tmp_path / "minifigure_review.csv", index=False)
    queue = champions.review_queue("minifigure")
    assert [row["path"] for row in queue] == [photos / "b.png", photos / "a.png"]
    assert queue[0]["reason"] == "unknown" and queue[1]["top"] == [["x", 0.4]]
    assert champions.review_queue("theme") == []


def test_images_already_in_the_data_set_are_known_by_their_hash(tmp_path, monkeypatch):
    (tmp_path / "minifigure").mkdir()
    pd.DataFrame(
        {"file": ["test/a/1.jpg"], "split": ["test"], "label": ["a"], "path": ["x"], "sha256": ["abc"], "copy": [0]}
    ).to_csv(tmp_path / "minifigure" / "split.csv", index=False)
    monkeypatch.setattr(champions.paths, "YOLO", tmp_path)
    assert champions.dataset_images("minifigure") == {"abc": ("test", "a")}
    assert champions.dataset_images("theme") == {}

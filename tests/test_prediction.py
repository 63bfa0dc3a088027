"""Prediction over folders people hand in: files judged by content, the unreadable listed with a reason."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from pipeline.images import UnreadableImage, decode_bgr
from pipeline.io import DataError
from pipeline.params import Train
from pipeline.prediction import predict_folder
from pipeline.registry import LegoClassifier
from pipeline.training import train
from tests.conftest import colour_classes


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


RED = Image.new("RGB", (60, 30), (220, 30, 30))
JPEG = encoded(RED, "JPEG")


def test_decoding_goes_by_content_and_honours_exif_orientation():
    assert decode_bgr(encoded(RED, "PNG")).shape == (30, 60, 3)
    assert decode_bgr(encoded(RED, "WEBP")).shape == (30, 60, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as phone cameras write it
    assert decode_bgr(encoded(RED, "JPEG", exif=exif)).shape == (60, 30, 3)
    blue, green, red = decode_bgr(JPEG)[15, 30]
    assert red > 200 and blue < 60 and green < 60  # BGR, as Ultralytics reads files


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", "HTML or XML text, not an image"),
        (JPEG[:200], "JPEG data that does not decode (truncated or corrupt)"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00mif1" + bytes(40), "avif image: a format the decoder lacks"),
        (b"just some notes\n", "not an image the decoder recognises"),
    ],
)
def test_unreadable_bytes_name_their_reason(data, reason):
    with pytest.raises(UnreadableImage, match=f"^{re.escape(reason)}$"):
        decode_bgr(data)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> LegoClassifier:
    data = colour_classes(tmp_path_factory.mktemp("cls"), {"train": 6, "val": 2})
    settings = Train(model="yolov8n-cls.yaml", overrides={}, epochs=1, imgsz=32, batch=6, workers=0)
    model = LegoClassifier()
    model.load(onnx=[train(settings, data, tmp_path_factory.mktemp("run") / "run", seed=0).onnx])
    return model


def hostile_folder(root: Path) -> Path:
    files = {
        "a.jpg": JPEG,
        "png-named.jpg": encoded(RED, "PNG"),
        "deeper/down/webp-named.jpg": encoded(RED, "WEBP"),
        "no-extension": JPEG,
        "empty.jpg": b"",
        "saved-page.jpg": b"<html><head><title>404</title></head></html>",
        "deeper/truncated.jpg": JPEG[:200],
        "notes.txt": b"not a picture",
        ".hidden.jpg": b"",
        ".thumbnails/x.jpg": b"",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_a_hostile_folder_is_classified_where_it_can_be_and_every_skip_is_listed(classifier, tmp_path):
    with predict_folder(classifier, hostile_folder(tmp_path / "in"), batch=3, top_k=2, chunk_files=3) as result:
        predictions, rejects = result.predictions(), result.rejected()
    assert result.files == 8  # hidden files and folders are not the user's pictures
    assert sorted(predictions["path"]) == [
        "a.jpg",
        "deeper/down/webp-named.jpg",
        "no-extension",
        "png-named.jpg",
    ]
    assert list(predictions.columns) == ["path", "label", "confidence", "top2"]
    assert set(predictions["label"]) <= {"class0", "class1", "class2"}
    assert dict(zip(rejects["path"], rejects["reason"])) == {
        "empty.jpg": "empty file",
        "saved-page.jpg": "HTML or XML text, not an image",
        "deeper/truncated.jpg": "JPEG data that does not decode (truncated or corrupt)",
        "notes.txt": "not an image the decoder recognises",
    }


def test_the_same_image_gets_the_same_answer_under_any_name(classifier, tmp_path):
    with predict_folder(classifier, hostile_folder(tmp_path / "in"), batch=32, top_k=2) as result:
        answers = result.predictions().set_index("path")
    assert answers.loc["a.jpg", "top2"] == answers.loc["no-extension", "top2"]


def test_only_a_folder_with_nothing_readable_is_an_error(classifier, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"")
    (tmp_path / "bad" / "y.jpg").write_bytes(b"<html></html>")
    with pytest.raises(DataError, match=r"bad: none of its 2 files is a readable image \(e.g. x.jpg: empty file\)"):
        predict_folder(classifier, tmp_path / "bad", batch=4, top_k=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no files to classify"):
        predict_folder(classifier, tmp_path / "empty", batch=4, top_k=1)


def test_the_review_queue_holds_every_unknown_then_the_least_confident(tmp_path):
    import pandas as pd

    from pipeline.prediction import review_queue

    predictions = pd.DataFrame(
        {
            "path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"],
            "label": ["x", "unknown", "y", "unknown", "x"],
            "confidence": [0.9, 0.2, 0.5, 0.3, 0.6],
            "top5": ["[]"] * 5,
        }
    )
    queue = review_queue(predictions, tmp_path / "photos", size=2)
    assert queue["file"].tolist() == [
        (tmp_path / "photos" / p).as_posix() for p in ["b.jpg", "d.jpg", "c.jpg", "e.jpg"]
    ]
    assert queue["reason"].tolist() == ["unknown", "unknown", "least confident", "least confident"]
    assert list(queue.columns) == ["file", "reason", "label", "confidence", "top5"]
    assert review_queue(predictions, tmp_path, size=0)["label"].eq("unknown").all()

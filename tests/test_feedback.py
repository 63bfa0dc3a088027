"""Corrections from the upload page: safe class folders, one image per task and content, a CSV that loses no row
when people correct at the same moment, and the feedback stage's copy."""

from __future__ import annotations

import csv
import io
import multiprocessing
from pathlib import Path

import pytest
from PIL import Image

from pipeline import feedback
from pipeline.feedback import FeedbackError, class_name
from pipeline.params import Validate

KNOWN = ["Harry Potter", "Technic-Bionicle"]
LIMITS = Validate()


def png(colour: tuple[int, int, int], size: int = 48, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format=fmt)
    return out.getvalue()


def save(root: Path, data: bytes, label: str, predicted: str = "Harry Potter") -> feedback.Saved:
    return feedback.save(root, "minifigure", data, label, predicted=predicted, confidence=0.42, model_version="3",
                         known=KNOWN, limits=LIMITS)  # fmt: skip


@pytest.mark.parametrize(
    "typed", ["../x", "/etc", "a/b", "a\\b", "", "   ", "x" * 65, ".hidden", "..", "tab\there", "unknown", "Unknown"]
)
def test_a_typed_class_name_that_is_not_one_safe_folder_name_is_refused(typed, tmp_path):
    with pytest.raises(FeedbackError):
        class_name(typed, KNOWN)
    with pytest.raises(FeedbackError):
        save(tmp_path / "feedback", png((1, 2, 3)), typed)
    assert not (tmp_path / "x").exists() and not list(tmp_path.rglob("*.png"))


def test_a_typed_name_of_a_known_class_in_another_case_is_that_class():
    assert class_name("  harry potter ", KNOWN) == "Harry Potter"
    assert class_name("Zane", KNOWN) == "Zane"


def test_save_files_the_image_under_its_class_and_logs_the_verdict(tmp_path):
    root = tmp_path / "feedback"
    saved = save(root, png((200, 0, 0)), "Technic-Bionicle")
    assert saved.path.parent == root / "minifigure" / "Technic-Bionicle" and saved.verdict == "corrected"
    assert saved.path.read_bytes() == png((200, 0, 0)) and saved.path.suffix == ".png"
    assert save(root, png((0, 200, 0)), "Harry Potter").verdict == "confirmed"
    assert save(root, png((0, 0, 200)), "Zane").verdict == "new class"
    rows = list(csv.DictReader((root / "minifigure" / feedback.CSV_NAME).read_text().splitlines()))
    assert [r["label"] for r in rows] == ["Technic-Bionicle", "Harry Potter", "Zane"]
    assert (
        rows[0]["sha256"] == saved.path.stem
        and rows[0]["model_version"] == "3"
        and rows[0]["predicted"] == "Harry Potter"
    )
    assert rows[0]["time"].endswith("+00:00") and rows[0]["file"] == f"Technic-Bionicle/{saved.path.name}"


def test_correcting_the_same_image_again_moves_it(tmp_path):
    root = tmp_path / "feedback"
    first = save(root, png((9, 9, 9)), "Zane")
    second = save(root, png((9, 9, 9)), "Harry Potter")
    assert not first.path.exists() and second.path.exists() and second.moved_from == "Zane"
    assert len(feedback.images(root / "minifigure")) == 1


def test_an_image_the_validate_stage_would_refuse_is_not_kept(tmp_path):
    with pytest.raises(FeedbackError, match="sides of 32"):
        save(tmp_path, png((1, 1, 1), size=16), "Zane")
    with pytest.raises(FeedbackError, match="not an image"):
        save(tmp_path, b"<html>nope</html>", "Zane")
    gif = save(tmp_path, png((5, 5, 5), fmt="GIF"), "Zane")  # kept, as PNG
    assert gif.path.suffix == ".png" and Image.open(gif.path).format == "PNG"


def _correct_many(args: tuple[str, int]) -> None:
    root, worker = args
    for i in range(25):
        save(Path(root), png((worker, i, 7)), "Zane" if i % 2 else "Harry Potter")


def test_people_correcting_at_the_same_moment_lose_no_row(tmp_path):
    root = tmp_path / "feedback"
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_correct_many, [(str(root), w) for w in range(8)])
    with open(root / "minifigure" / feedback.CSV_NAME, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == feedback.COLUMNS and len(rows) == 1 + 8 * 25
    assert all(len(r) == len(feedback.COLUMNS) for r in rows)
    assert len({r[1] for r in rows[1:]}) == 200 and len(feedback.images(root / "minifigure")) == 200


def test_the_feedback_stage_copies_labelled_images_only(tmp_path):
    root = tmp_path / "feedback"
    save(root, png((1, 100, 1)), "Zane")
    (root / "minifigure" / "stray.png").write_bytes(png((1, 1, 100)))  # not in a class folder
    (root / "README.md").write_text("x")
    counts = feedback.collect(root, tmp_path / "raw", ["minifigure", "theme"])
    assert counts == {"minifigure": {"Zane": 1}, "theme": {}}
    assert [p.relative_to(tmp_path / "raw").parts[:2] for p in (tmp_path / "raw").rglob("*.png")] == [
        ("minifigure", "Zane")
    ]
    assert feedback.collect(None, tmp_path / "raw", ["minifigure"]) == {"minifigure": {}}
    assert not list((tmp_path / "raw").rglob("*.png"))

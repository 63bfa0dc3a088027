"""People's verdicts on the champion's answers, kept where the next `dvc repro` trains on them.

Under `sources.feedback.path` (default `data/feedback/`), per task:

    <task>/<class>/<sha256>.<ext>   the image, once per task: a later correction of the same image moves it
    <task>/corrections.csv          one row per confirmation or correction (who said what, about which model)

The `feedback` stage copies the image folders into `data/raw/feedback/` (a DVC output: every set of corrections a
model was trained on stays in the DVC cache) and `split@<task>` puts them into train only (`pipeline.split`).
A class name typed by a person becomes a folder name, so it is checked here, never trusted: it cannot leave the
task's folder. Writers on the same task (several people, several page processes) take one file lock, so no row
of the CSV is lost or interleaved.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import os
import shutil
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from pipeline.calibration import UNKNOWN
from pipeline.io import atomic_path, list_images, reset_dir
from pipeline.params import Validate

CSV_NAME = "corrections.csv"
COLUMNS = ["time", "sha256", "label", "verdict", "predicted", "confidence", "model_version", "file"]
MAX_CLASS_NAME = 64
RESERVED = {UNKNOWN}  # the model's own "none of these" answer is not a class
_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


class FeedbackError(ValueError):
    """A one-line message for the person who gave the feedback (shown on the page)."""


def class_name(typed: str, known: Sequence[str] = ()) -> str:
    """The class folder a typed name stands for: a known class whatever its case, else the name itself if it is a
    safe single folder name (not empty, at most 64 characters, no `/`, `\\` or control characters, not starting
    with `.`, not `unknown`); `FeedbackError` says why not."""
    name = unicodedata.normalize("NFC", str(typed)).strip()
    if not name:
        raise FeedbackError("the class name is empty")
    by_case = {k.casefold(): k for k in known}
    if name.casefold() in by_case:
        return by_case[name.casefold()]
    if len(name) > MAX_CLASS_NAME:
        raise FeedbackError(f"the class name is longer than {MAX_CLASS_NAME} characters")
    if any(c in "/\\" or unicodedata.category(c).startswith("C") for c in name):
        raise FeedbackError("a class name may not contain '/', '\\' or control characters")
    if name.startswith("."):
        raise FeedbackError("a class name may not start with '.'")
    if name.casefold() in RESERVED:
        raise FeedbackError(f"'{name}' is the model's answer when it does not know, not a class")
    return name


def stored_image(data: bytes, limits: Validate) -> tuple[bytes, str]:
    """The bytes to keep and their suffix: JPEG, PNG, WEBP, BMP, TIFF as they came, any other decodable format as
    PNG; `FeedbackError` for an image the validate stage would refuse (it would stop the next `dvc repro`)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            size, mode, suffix = image.size, image.mode, _SUFFIX.get(image.format or "")
            if not suffix:
                out = io.BytesIO()
                image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, format="PNG")
                data, suffix, mode = out.getvalue(), ".png", "RGBA" if "A" in image.getbands() else "RGB"
    except Exception as exc:  # noqa: BLE001 - PIL's errors for undecodable bytes are many
        raise FeedbackError(f"not an image that can be kept ({type(exc).__name__})") from None
    if not (limits.min_side <= min(size) and max(size) <= limits.max_side):
        raise FeedbackError(
            f"{size[0]}×{size[1]} pixels: training images need sides of {limits.min_side} to {limits.max_side}"
        )
    if len(data) > limits.max_bytes:
        raise FeedbackError(
            f"{len(data)} bytes: training images are at most {limits.max_bytes} bytes (validate.max_bytes)"
        )
    if mode not in limits.modes:
        raise FeedbackError(f"colour mode {mode}: training images are {', '.join(limits.modes)} (validate.modes)")
    return data, suffix


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a task's feedback folder, across threads and processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Saved:
    path: Path  # the image, under <root>/<task>/<class>/
    label: str
    verdict: str  # confirmed | corrected | new class
    moved_from: str | None  # the class an earlier correction had filed it under


def save(
    root: Path,
    task: str,
    image: bytes,
    label: str,
    *,
    predicted: str,
    confidence: float,
    model_version: str,
    known: Sequence[str],
    limits: Validate,
) -> Saved:
    """File `image` under `label` for `task` and log the verdict; the same image filed before moves to its new class.
    `limits`: the validate stage's, which every training image must pass."""
    name = class_name(label, known)
    data, suffix = stored_image(image, limits)
    sha = hashlib.sha256(data).hexdigest()
    task_dir = Path(root) / task
    target = task_dir / name / f"{sha}{suffix}"
    if not target.resolve().is_relative_to(task_dir.resolve()):  # class_name already refuses it; never trust one check
        raise FeedbackError("the class name leads outside the feedback folder")
    verdict = "confirmed" if name == predicted else "corrected" if name in known else "new class"
    with locked(task_dir):
        earlier = [p for p in task_dir.glob(f"*/{sha}.*") if p.resolve() != target.resolve()]
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        for path in earlier:
            path.unlink()
        log = task_dir / CSV_NAME
        new = not log.exists() or log.stat().st_size == 0
        with open(log, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([
                datetime.now(UTC).isoformat(timespec="seconds"), sha, name, verdict, predicted,
                f"{confidence:.6f}", model_version, target.relative_to(task_dir).as_posix(),
            ])  # fmt: skip
            handle.flush()
            os.fsync(handle.fileno())
    return Saved(target, name, verdict, earlier[0].parent.name if earlier else None)


def images(folder: Path) -> list[tuple[str, Path]]:
    """`(class, image)` for every image in a task's `<class>/` folders (files beside them, like the CSV, are not)."""
    if not folder.is_dir():
        return []
    found = []
    for path in list_images(folder):
        parts = path.relative_to(folder).parts
        if len(parts) == 2 and not parts[0].startswith("."):  # list_images already keeps image suffixes only
            found.append((parts[0], path))
    return found


def collect(source: Path | None, target: Path, tasks: Sequence[str]) -> dict[str, dict[str, int]]:
    """Copy each task's `<class>/<images>` from `source` into `target` (the feedback stage's corrections, the
    download stage's custom classes; files beside the class folders, like the CSV, stay behind: a confirmation that
    files nothing new changes no training data); returns images per class per task. `source` None: `target` stays
    empty."""
    reset_dir(target)
    counts: dict[str, dict[str, int]] = {}
    for task in tasks:
        found = images(source / task) if source is not None else []
        per_class: dict[str, int] = {}
        for label, path in found:
            dest = target / task / label / path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            per_class[label] = per_class.get(label, 0) + 1
        counts[task] = dict(sorted(per_class.items()))
    return counts

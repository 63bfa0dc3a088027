"""The typed records one stage hands to the next (`reports/split/<task>.json`, `reports/train/<task>/run.json`).

A stage that reads a record written by an older version of the code, or edited by hand, fails with one line naming
the file and the key, instead of a `KeyError` three calls later. (The calibration record is
`pipeline.calibration.Calibration`.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline import io, paths


class Record(BaseModel):
    """A JSON file written by one stage and read by later ones; `WRITER` names the stage that writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    WRITER: ClassVar[str] = ""

    @classmethod
    def parse(cls, text: str, source: Path | str) -> Self:
        """The record in `text` (the file at `source`, or a committed copy of it); one-line DataError if it is not."""
        try:
            return cls.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise io.DataError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "(top level)"
            message = {"missing": "missing", "extra_forbidden": "unknown key"}.get(first["type"], first["msg"])
            raise io.DataError(f"{source}: {key}: {message} (written by {cls.WRITER}: run it again)") from None

    @classmethod
    def read(cls, path: Path) -> Self:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            raise io.DataError(f"{path}: file not found (run {cls.WRITER} first)") from None
        return cls.parse(text, path)

    def write(self, path: Path) -> None:
        io.write_json(path, self.model_dump(mode="json", exclude_none=True))


class FeedbackAdded(Record):
    """What people's corrections added to a task's split (`pipeline.split.add_feedback`)."""

    images: int
    added: dict[str, int]  # split → images (never test)
    already_in_sources: int
    conflicting_label_images_dropped: int
    new_classes: list[str]
    new_classes_waiting: dict[str, int]  # class → images so far (fewer than split.min_per_class)


class SplitReport(Record):
    """`split@<task>`: sizes per split, what was dropped, the data's versions and where it came from."""

    WRITER: ClassVar[str] = "split@<task>"
    duplicates_dropped: int
    conflicting_label_images_dropped: int
    feedback: FeedbackAdded
    classes: int
    classes_dropped_too_small: list[str]
    classes_dropped_no_train_or_val: list[str]
    images: dict[str, int]  # split → images
    train_copies_added: int
    val_images_in_train: int
    data_version: str
    test_version: str
    test_fold: str | None = None  # with split.test_fold: which fold is the test split
    data_source: str  # e.g. synthetic, local:set-photos+local:rebrickable-2021 (pipeline.providers.data_source)
    synthetic: bool

    @classmethod
    def of(cls, task: str) -> SplitReport:
        return cls.read(split_report_path(task))


class TrainRun(Record):
    """`train@<task>`: the MLflow run and the files it trained (one per ensemble member)."""

    WRITER: ClassVar[str] = "train@<task>"
    run_id: str
    experiment_id: str
    data_version: str
    weights: list[str]  # relative to the project root
    onnx: list[str]
    epochs_run: int

    @classmethod
    def of(cls, task: str) -> TrainRun:
        return cls.read(train_run_path(task))

    def weight_files(self) -> list[Path]:
        return [paths.PROJECT_ROOT / w for w in self.weights]

    def onnx_files(self) -> list[Path]:
        return [paths.PROJECT_ROOT / m for m in self.onnx]


def split_report_path(task: str) -> Path:
    return paths.REPORTS / "split" / f"{task}.json"


def train_run_path(task: str) -> Path:
    return paths.REPORTS / "train" / task / "run.json"

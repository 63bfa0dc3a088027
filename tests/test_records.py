"""The typed stage hand-offs: a record round-trips through its file, and a stale or hand-edited one fails with one
line naming the file and the key."""

import json

import pytest

from pipeline.io import DataError
from pipeline.records import SplitReport, TrainRun

RUN = {
    "run_id": "43622b7fc383483e915114b61d901200",
    "experiment_id": "1",
    "data_version": "f3619511bc845aad",
    "weights": ["models/minifigure/weights/last.pt"],
    "onnx": ["models/minifigure/weights/last.onnx"],
    "epochs_run": 30,
}
SPLIT = {
    "duplicates_dropped": 0,
    "conflicting_label_images_dropped": 0,
    "feedback": {
        "images": 2,
        "added": {"train": 2, "val": 0, "calibration": 0},
        "already_in_sources": 0,
        "conflicting_label_images_dropped": 0,
        "new_classes": [],
        "new_classes_waiting": {"Batman": 2},
    },
    "classes": 10,
    "classes_dropped_too_small": [],
    "classes_dropped_no_train_or_val": [],
    "images": {"train": 140, "val": 30, "calibration": 20, "test": 60},
    "train_copies_added": 0,
    "val_images_in_train": 30,
    "data_version": "f3619511bc845aad",
    "test_version": "097b4e0ed17b685f",
}
SOURCE = {"data_source": "synthetic", "synthetic": True}  # split@<task> writes these after split.assign's keys


@pytest.mark.parametrize(
    "record, data",
    [(TrainRun, RUN), (SplitReport, SPLIT | SOURCE), (SplitReport, SPLIT | {"test_fold": "2 of 5"} | SOURCE)],
)
def test_a_record_round_trips_through_its_file_byte_for_byte(tmp_path, record, data):
    path = tmp_path / "record.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    loaded = record.read(path)
    loaded.write(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == path.read_text()  # field order and optional keys kept


def test_a_record_from_older_code_names_the_file_and_the_missing_key(tmp_path):
    path = tmp_path / "minifigure.json"
    path.write_text(json.dumps(SPLIT | {"synthetic": True}))
    with pytest.raises(DataError) as error:
        SplitReport.read(path)
    assert str(error.value) == f"{path}: data_source: missing (written by split@<task>: run it again)"


def test_a_wrong_type_or_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RUN | {"epochs_run": "thirty"}))
    with pytest.raises(DataError, match=rf"^{path}: epochs_run: .*integer"):
        TrainRun.read(path)
    path.write_text(json.dumps(RUN | {"weight": "best.pt"}))
    with pytest.raises(DataError, match=rf"^{path}: weight: unknown key"):
        TrainRun.read(path)


def test_a_missing_or_broken_file_is_one_line(tmp_path):
    with pytest.raises(DataError, match=r"run\.json: file not found \(run train@<task> first\)"):
        TrainRun.read(tmp_path / "run.json")
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(DataError, match=r"run\.json: not valid JSON"):
        TrainRun.read(tmp_path / "run.json")

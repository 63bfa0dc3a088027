"""Atomic writes: the target appears whole or not at all, readable like any file the user writes."""

from __future__ import annotations

import os

import pytest

from pipeline.io import atomic_path, progress_chunks, thread_map, write_text


def test_an_atomic_write_has_the_mode_open_would_give(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    write_text(tmp_path / "report.md", "hello")
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_thread_map_keeps_the_order_and_never_takes_more_than_its_window_ahead():
    taken = []

    def items():
        for number in range(50):
            taken.append(number)
            yield number

    results = thread_map(lambda n: n * n, items(), "square", total=50, threads=3, window=4)
    assert next(results) == 0 and len(taken) <= 5  # the first answer came with at most a window of items read
    assert [0, *results] == [n * n for n in range(50)]


def test_thread_map_passes_a_worker_error_on(tmp_path):
    def read(path):
        return path.read_text()

    with pytest.raises(FileNotFoundError, match="missing.txt"):
        list(thread_map(read, [tmp_path / "missing.txt"], "read", total=1))


def test_progress_chunks_label_each_chunk_and_hold_one_at_a_time():
    taken = []

    def items():
        for number in range(7):
            taken.append(number)
            yield number

    chunks = progress_chunks(items(), total=7, size=3, desc="predict")
    assert next(chunks) == ([0, 1, 2], "predict (1-3 of 7)") and len(taken) == 3
    assert list(chunks) == [([3, 4, 5], "predict (4-6 of 7)"), ([6], "predict (7-7 of 7)")]
    assert list(progress_chunks(range(3), total=3, size=3, desc="predict")) == [([0, 1, 2], "predict")]
    assert list(progress_chunks(range(4), total=4, size=3, desc=None)) == [([0, 1, 2], None), ([3], None)]

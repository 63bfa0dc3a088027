"""Atomic writes: the target appears whole or not at all, readable like any file the user writes."""

from __future__ import annotations

import os

import pytest

from pipeline.io import atomic_path, thread_map, write_text


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

"""Atomic writes: the target appears whole or not at all, readable like any file the user writes."""

from __future__ import annotations

import os

import pytest

from pipeline.io import atomic_path, write_text


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

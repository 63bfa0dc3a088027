"""Shared file I/O: atomic writes and content hashes, so an interrupted stage never leaves half a file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain, islice
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from tqdm import tqdm

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


T = TypeVar("T")
R = TypeVar("R")


class DataError(ValueError):
    """A one-line, user-facing error about input data (names the file or key at fault)."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()  # what open() would give; mkstemp's own 0600 would hide outputs from others


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; it replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json(target: Path, data: object) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def write_csv(target: Path, frame: pd.DataFrame) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)


def reset_dir(path: Path) -> Path:
    """An empty output folder (DVC removes outputs before a stage runs; this also covers plain runs)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def iter_files(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, recursively and sorted by path, whatever its name; hidden files and folders
    skipped, linked folders not entered. Walks one folder at a time: a million files are not held at once."""
    with os.scandir(folder) as scan:
        entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from iter_files(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def list_files(folder: Path) -> list[Path]:
    """`iter_files` as a list."""
    return list(iter_files(Path(folder)))


def iter_images(folder: Path) -> Iterator[Path]:
    """Every image file under `folder`, as `iter_files` walks it: sorted, hidden files skipped."""
    return (path for path in iter_files(folder) if path.suffix.lower() in IMAGE_SUFFIXES)


def list_images(folder: Path) -> list[Path]:
    """Every image file under `folder`, sorted, hidden files skipped."""
    return list(iter_images(folder))


def progress_chunks(
    items: Iterable[T], total: int, size: int, desc: str | None
) -> Iterator[tuple[list[T], str | None]]:
    """`items` `size` at a time, each chunk with its progress label: `desc`, plus "(a-b of total)" when there
    is more than one chunk (None stays None: no bar). Holds one chunk, however long `items` runs."""
    items, done = iter(items), 0
    while chunk := list(islice(items, size)):
        part = f" ({done + 1}-{done + len(chunk)} of {total})" if total > size else ""
        yield chunk, desc and desc + part
        done += len(chunk)


def thread_map(
    fn: Callable[[T], R], items: Iterable[T], desc: str, total: int, threads: int = 4, window: int = 1024
) -> Iterator[R]:
    """`fn` over `items` on `threads` threads (hashing and decoding release the GIL), results in order, with a
    progress bar. At most `window` items are in flight: `Executor.map` would hold a future per picture, a
    few KB each at a hundred thousand pictures."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool, tqdm(total=total, desc=desc, unit="img") as bar:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
                bar.update(1)
        while pending:
            yield pending.popleft().result()
            bar.update(1)


def thread_map_chunks(
    fn: Callable[[Any], dict],
    chunks: Iterable[pd.DataFrame],
    columns: Sequence[str],
    desc: str,
    total: int,
    threads: int = 4,
) -> Iterator[tuple[pd.DataFrame, dict[str, list]]]:
    """`fn` over every row (a named tuple) of every chunk, on worker threads straight across chunks under one
    progress bar of `total` rows; yields each chunk with `fn`'s results gathered into `columns`."""
    waiting: deque[pd.DataFrame] = deque()

    def rows() -> Iterator[Any]:
        for chunk in chunks:
            if len(chunk):
                waiting.append(chunk)  # before its first row: its results cannot come back before it is here
                yield from chunk.itertuples(index=False)

    results = thread_map(fn, rows(), desc, total, threads)
    for first in results:
        chunk = waiting.popleft()
        yield chunk, gather(chain([first], islice(results, len(chunk) - 1)), columns)


def gather(records: Iterable[dict], columns: Sequence[str]) -> dict[str, list]:
    """`records` (one dict per picture, as `thread_map` yields them) as lists per column, filled as they come: a
    dict kept per picture costs about a KB at a hundred thousand pictures."""
    gathered: dict[str, list] = {column: [] for column in columns}
    for record in records:
        for column, values in gathered.items():
            values.append(record[column])
    return gathered


def link_or_copy(source: Path, target: Path) -> bool:
    """Hard-link `target` to `source`'s bytes (True), or copy them where the file system cannot link (False).

    A link to a symbolic link links what it points to (DVC's `symlink` cache). Safe because no stage writes into an
    existing file: they write a temp file and rename it (`pipeline.io.atomic_path`; Ultralytics restores a corrupt
    JPEG the same way), and DVC removes a stage's outputs before it runs, so a link is replaced, never written
    through into `source`, or into DVC's cache behind it."""
    try:
        os.link(source, target, follow_symlinks=True)
    except OSError:  # another file system (EXDEV), no hard links there (EPERM), too many links (EMLINK)
        shutil.copyfile(source, target)
        return False
    return True

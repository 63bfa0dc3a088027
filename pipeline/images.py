"""Images judged by what they contain, not by their names, and turned into the classifier's input.

Decoding is OpenCV's, exactly as Ultralytics decodes image files (EXIF orientation applied), so a PNG or WEBP
named `.jpg` is read as what it is, and a file the decoder cannot read (empty, a saved web page, a truncated
download, a format this OpenCV build lacks) is named with its reason instead of stopping a whole batch.
A JPEG much larger than the model input is decoded at 1/2, 1/4 or 1/8 scale by the JPEG decoder itself, never
below twice the input size, so the antialiased resize that follows still has the final say: a 6000×6000 photo costs a
750×750 array, not 108 MB, decodes several times faster, and gets the answer a full decode gets.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ImageInput = Path | bytes | np.ndarray  # a file, encoded bytes, or an already decoded BGR array


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """`items` in consecutive slices of `size` (the last one shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class UnreadableImage(ValueError):
    """Bytes that hold no image the decoder can read; the message says why, in a few words."""


def _reduced_flag(data: bytes, min_side: int) -> int | None:
    """OpenCV's reduced-scale JPEG flag that keeps the short side at twice `min_side` or more, if any applies."""
    import cv2

    if data[:2] != b"\xff\xd8":
        return None
    try:
        short = min(Image.open(io.BytesIO(data)).size)  # reads the header only
    except Exception:  # noqa: BLE001 - a damaged header: leave the verdict to the full decode
        return None
    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if short // factor >= 2 * min_side:
            return flag
    return None


def decode_bgr(data: bytes, min_side: int | None = None) -> np.ndarray:
    """An `(h, w, 3)` BGR array, or `UnreadableImage` with the reason. With `min_side` (the model input), a large
    JPEG is decoded at the smallest DCT scale whose short side is still at least twice `min_side`."""
    import cv2

    if not data:
        raise UnreadableImage("empty file")
    flag = (_reduced_flag(bytes(data), min_side) if min_side else None) or cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(bytes(data), np.uint8), flag)
    if image is None:
        raise UnreadableImage(why_unreadable(bytes(data)))
    return image


def why_unreadable(data: bytes) -> str:
    """What undecodable bytes look like, from their first bytes."""
    head = data[:64]
    if head[4:8] == b"ftyp":  # ISO media files: AVIF, HEIC
        brand = head[8:12].decode("ascii", "replace").strip()
        return f"{brand} image: a format the decoder lacks"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        return "HTML or XML text, not an image"
    for magic, name in ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"RIFF", "WEBP")):
        if head.startswith(magic):
            return f"{name} data that does not decode (truncated or corrupt)"
    return "not an image the decoder recognises"


def read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableImage(f"cannot be read ({exc.strerror})") from None


def classify_input(bgr: np.ndarray, size: int) -> np.ndarray:
    """`(3, size, size)` float32 RGB in [0, 1]: Ultralytics' classify transforms at inference (torchvision's
    `Resize(size)` of the short side, bilinear with antialias on a PIL image, `CenterCrop(size)`, `ToTensor`),
    computed with PIL and numpy alone, pixel for pixel."""
    image = Image.fromarray(np.ascontiguousarray(bgr))  # channel order does not matter to resizing; flipped below
    w, h = image.size
    new_w, new_h = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    crop = np.asarray(image.crop((left, top, left + size, top + size)))[:, :, ::-1]  # BGR → RGB
    return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


def model_input(source: ImageInput, size: int) -> np.ndarray:
    """One source (file, bytes or BGR array) → the classifier's input; `UnreadableImage` if it holds no image."""
    if isinstance(source, np.ndarray):
        return classify_input(source, size)
    data = read_bytes(source) if isinstance(source, Path) else source
    return classify_input(decode_bgr(data, min_side=size), size)


def model_inputs(
    sources: Sequence[ImageInput], size: int, batch: int, threads: int
) -> Iterator[list[np.ndarray | UnreadableImage]]:
    """Batches of inputs in `sources` order, each item the input or the `UnreadableImage` saying why there is none;
    decoding runs on `threads` threads (OpenCV and PIL release the GIL) while the caller runs the model."""

    def load(source: ImageInput) -> np.ndarray | UnreadableImage:
        try:
            return model_input(source, size)
        except UnreadableImage as exc:
            return exc

    with ThreadPoolExecutor(max(1, threads)) as pool:
        pending = None
        for chunk in chunks(list(sources), batch):
            submitted = [pool.submit(load, s) for s in chunk]  # the next batch decodes while this one runs
            if pending is not None:
                yield [f.result() for f in pending]
            pending = submitted
        if pending is not None:
            yield [f.result() for f in pending]

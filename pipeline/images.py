"""Images judged by what they contain, not by their names: a decoded array, or a short reason why there is none.

Decoding is OpenCV's, exactly as Ultralytics decodes image files (EXIF orientation applied), so a PNG or WEBP
named `.jpg` is read as what it is, and a file the decoder cannot read (empty, a saved web page, a truncated
download, a format this OpenCV build lacks) is named with its reason instead of stopping a whole batch.
"""

from __future__ import annotations

import numpy as np


class UnreadableImage(ValueError):
    """Bytes that hold no image the decoder can read; the message says why, in a few words."""


def decode_bgr(data: bytes) -> np.ndarray:
    """An `(h, w, 3)` BGR array, or `UnreadableImage` with the reason."""
    import cv2

    if not data:
        raise UnreadableImage("empty file")
    image = cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_COLOR)
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

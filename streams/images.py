"""Still images pushed by clients (JPEG or PNG bytes) decoded to RGB frames, refusing oversize ones before decoding.

The size is read from the image header first, so a small file that claims a huge picture (a decompression bomb: a
400 KB PNG can hold 12000x12000 pixels, 430 MB decoded) is refused without allocating it.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_IMAGE_PIXELS = 4096 * 4096  # the default limit of what a client may push

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # start-of-frame markers
_JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD9)}  # markers without a length field


class ImageError(ValueError):
    """Bytes that are not a usable JPEG or PNG image; the message says why."""


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG or PNG header; raises ``ImageError`` when there is none."""
    if data.startswith(_PNG):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("the image could not be decoded: PNG header truncated")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(_JPEG):
        raise ImageError("not a JPEG or PNG image")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageError(f"the image could not be decoded: JPEG header corrupt at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                break
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xDA:  # start of scan before any frame header
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    raise ImageError("the image could not be decoded: JPEG frame header missing (truncated?)")


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """JPEG or PNG bytes → RGB uint8 (H, W, 3); raises ``ImageError`` naming the problem."""
    width, height = image_size(data)
    if width * height > max_pixels:
        raise ImageError(f"image is {width}x{height}: over the limit of {max_pixels} pixels")
    if width == 0 or height == 0:
        raise ImageError(f"image is {width}x{height}: empty")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("the image could not be decoded (corrupt or truncated)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

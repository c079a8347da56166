"""The demo's samples, each a clip generated into the cache on first use (deterministic; nothing is committed), with
the questions it suggests.

- ``signs``: ``app.sample``'s clip (three coloured signs, a moving ball, a spoken question at 13 s);
- ``photos``: a reel of real photos from scikit-image (the chelsea cat, a cup of coffee, an astronaut, a printed
  page), each held ``PHOTO_S`` seconds, centred on a grey 640×360 frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from app.sample import sample_clip
from engine.assets import cache_dir
from eval.photos import load_photo
from streams.synth import write_media

REEL = ("chelsea", "coffee", "astronaut", "page")
PHOTO_S = 5.0
REEL_FPS = 5
REEL_VERSION = 1
SIZE = (640, 360)  # (width, height)


class SampleMissing(Exception):
    """A sample that is not known or could not be made; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Sample:
    title: str
    make: Callable[[], Path]
    questions: tuple[str, ...]


def framed(name: str) -> np.ndarray:
    """The photo ``name`` scaled to fit and centred on a grey 640×360 frame."""
    photo = load_photo(name)
    width, height = SIZE
    scale = min(width / photo.shape[1], height / photo.shape[0])
    photo = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), cv2.INTER_AREA)
    frame = np.full((height, width, 3), 40, np.uint8)
    y, x = (height - photo.shape[0]) // 2, (width - photo.shape[1]) // 2
    frame[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
    return frame


def _reel_frames() -> Iterator[np.ndarray]:
    for name in REEL:
        frame = framed(name)
        for _ in range(int(PHOTO_S * REEL_FPS)):
            yield frame


def photo_reel() -> Path:
    """Path of the photo reel, generating it on first use."""
    path = cache_dir("sample") / f"photos-v{REEL_VERSION}.mp4"
    if path.exists():
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}.mp4")
    write_media(tmp, _reel_frames(), REEL_FPS)
    os.replace(tmp, path)
    return path


SAMPLES = {
    "photos": Sample(
        "Real photos: a cat, coffee, an astronaut, a page",
        photo_reel,
        ("What animal do you see?", "What was shown just before the coffee?", "What is written on the page?"),
    ),
    "signs": Sample(
        "Signs: GATE 7, EXIT 42, PLATFORM 3 (with a spoken question)",
        sample_clip,
        ("What is written on the screen right now?", "What colour is the background?", "Is something moving?"),
    ),
}


def sample_path(name: str) -> Path:
    """The clip of sample ``name``, made on first use; ``SampleMissing`` names what went wrong."""
    sample = SAMPLES.get(name)
    if sample is None:
        raise SampleMissing(f"no sample called {name!r}; the samples are {', '.join(SAMPLES)}")
    try:
        path = sample.make()
    except OSError as exc:
        raise SampleMissing(
            f"the {name!r} sample is not in the cache and could not be written to it: "
            f"{exc.strerror or exc}: {exc.filename or 'the cache folder'}"
        ) from exc
    except Exception as exc:
        raise SampleMissing(f"the {name!r} sample could not be made: {type(exc).__name__}: {exc}") from exc
    if not path.is_file():
        raise SampleMissing(f"the {name!r} sample is missing from the cache ({path})")
    return path

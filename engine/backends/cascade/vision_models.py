"""The recognition models perception can use, each optional: what the cascade needs of them, and their schedule.

``VisionModels`` holds whichever of the three loaded (a missing one is None and named in ``missing``);
``load_vision_models`` builds them from the prepared files of ``engine.vision.models``. ``Schedule``
decides for one model and one stream when it runs again: at most every ``interval_s`` of stream time, stretched so
that its measured cost stays within ``core_share`` of one core, and, once the picture has stopped changing, only
every ``refresh_s``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.model_files import ModelFilesError
from engine.vision.types import Box, Detection, Label, Person

WATCH_FLOOR = 0.2  # the detector reports boxes this sure and surer (the lowest ``watch_min_score`` that has effect)

log = logging.getLogger(__name__)


class Detects(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Detection]: ...


class Classifies(Protocol):
    def classify(self, rgb: np.ndarray, box: Box | None = None, top: int = 5) -> tuple[Label, ...]: ...


class FindsPeople(Protocol):
    def find(self, rgb: np.ndarray, detections: Sequence[Detection] | None = None) -> list[Person]: ...


@dataclass(slots=True)
class VisionModels:
    detector: Detects | None = None
    classifier: Classifies | None = None
    people: FindsPeople | None = None
    missing: Sequence[str] = field(default_factory=tuple)  # "what is missing and why", one line per model


def load_vision_models() -> VisionModels:
    """The NanoDet detector, the EfficientNet classifier and the people models (BlazeFace + MoveNet on the
    detector's person boxes), each loaded from its verified file; one that is missing or corrupt is left out, named
    in ``missing`` and logged, and perception goes on with the others."""
    from engine.vision.classifier import ImageClassifier
    from engine.vision.detector import ObjectDetector
    from engine.vision.people import PeopleDetector

    models = VisionModels()
    missing: list[str] = []
    try:
        # each stream keeps what its options ask for from these
        models.detector = ObjectDetector.load(score_threshold=WATCH_FLOOR)
    except ModelFilesError as exc:
        missing.append(f"objects: {exc}")
    try:
        models.classifier = ImageClassifier.load()
    except ModelFilesError as exc:
        missing.append(f"labels: {exc}")
    if isinstance(models.detector, ObjectDetector):
        try:
            models.people = PeopleDetector.load(models.detector)
        except ModelFilesError as exc:
            missing.append(f"people: {exc}")
    else:
        missing.append("people: needs the object detector for body boxes")
    for line in missing:
        log.warning("cascade perception goes on without %s", line)
    models.missing = tuple(missing)
    return models


@dataclass(slots=True)
class Schedule:
    """When one model runs next on one stream (stream seconds; costs in seconds of one core)."""

    interval_s: float
    core_share: float
    refresh_s: float
    last_t: float = float("-inf")
    cost_s: float = 0.0
    grey: np.ndarray | None = None
    runs: int = 0

    def due(self, t: float, changed: bool, cut: bool) -> bool:
        if self.grey is None or cut:
            return True
        since = t - self.last_t
        gap = max(self.interval_s, self.cost_s / self.core_share if self.core_share > 0 else 0.0)
        return since >= gap and (changed or since >= self.refresh_s)

    def ran(self, t: float, grey: np.ndarray, cost_s: float) -> None:
        self.last_t, self.grey, self.runs = t, grey, self.runs + 1
        # a running mean weighted to recent frames: one slow frame does not stall the model for long
        self.cost_s = cost_s if self.runs == 1 else 0.7 * self.cost_s + 0.3 * cost_s

"""Per-frame perception: colours, movement and scene cuts on every frame; OCR and recognition models when due.

OCR costs far more than the rest, so a frame is read only when it is the first one, when the scene cut, when enough
of the picture changed since the last frame that was read, or when ``ocr_interval_s`` has passed since then.
The recognition models (objects, whole-frame labels, people) each run on their own ``Schedule``: at most every
``*_interval_s`` of stream time, within ``model_core_share`` of a core, again on a cut or a changed picture, else
every ``vision_refresh_s``. The classifier also names each new or moved box (at most ``classify_boxes`` a frame).
A model that throws on a frame is skipped for that frame; its first failure in a stream is returned in
``Observation.problems`` (later ones only skip their frames).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

from engine.backends.cascade.colours import ColourRegion, dominant_colours, place
from engine.backends.cascade.objects import SeenObject, seen_objects
from engine.backends.cascade.ocr import TextLine, TextReader
from engine.backends.cascade.people import SeenPerson, seen_people
from engine.backends.cascade.vision_models import WATCH_FLOOR, Schedule, VisionModels
from engine.vision.frames import as_rgb
from engine.vision.types import Box, Detection, Label
from streams.items import VideoFrame

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHANGE_SIZE = (160, 90)  # (width, height) of the grey thumbnail compared between frames


@dataclass(frozen=True, slots=True)
class PerceptionConfig:
    ocr_interval_s: float = 5.0  # read text at least this often, even when the picture looks unchanged
    ocr_change_fraction: float = 0.003  # share of pixels changed since the last read frame that triggers a new read
    ocr_min_interval_s: float = 1.0  # a change (not a scene cut) triggers a read at most this often: motion is cheap
    pixel_delta: int = 24  # grey-level difference that counts as a changed pixel
    motion_fraction: float = 0.02  # share of pixels changed since the previous frame that counts as movement
    scene_distance: float = 0.35  # Bhattacharyya distance of colour histograms that counts as a scene change
    detect_interval_s: float = 0.5  # the object detector runs at most this often (stream seconds)
    classify_interval_s: float = 2.0  # the whole frame is labelled by the image classifier at most this often
    people_interval_s: float = 1.0  # the people models (face, pose) run at most this often
    vision_refresh_s: float = 4.0  # a recognition model reruns this often even when the picture has not changed
    vision_change_fraction: float = 0.01  # share of pixels changed since a model's last run that makes it rerun
    model_core_share: float = 0.25  # each model's interval stretches so its measured cost stays within this share
    classify_boxes: int = 3  # new or moved boxes the classifier names per frame (largest first)
    min_object_score: float = 0.35  # detections less sure than this are not logged
    watch_min_score: float = WATCH_FLOOR  # a thing an instruction waits for counts from this score if steady:
    watch_runs: int = 2  # found at the same place by this many detector runs in a row (never logged or named)
    people_min_score: float = 0.3  # person boxes the people models look into


@dataclass(frozen=True, slots=True)
class Observation:
    """What one frame showed. ``texts`` is None when OCR was skipped (the picture had not changed)."""

    t: float
    colours: tuple[ColourRegion, ...]
    motion: float
    motion_where: str
    scene_change: bool
    texts: tuple[TextLine, ...] | None
    ocr_ms: float
    total_ms: float
    objects: tuple[SeenObject, ...] | None = None  # None: the detector did not run on this frame
    faint: tuple[SeenObject, ...] = ()  # detections from ``watch_min_score`` up to ``min_object_score`` (not logged)
    labels: tuple[Label, ...] | None = None  # the classifier's names for the whole frame; None: it did not run
    people: tuple[SeenPerson, ...] | None = None  # None: the people models did not run
    problems: tuple[tuple[str, str], ...] = ()  # (model, what went wrong): a model's first failure in this stream
    vision_ms: float = 0.0


def _check(frame: VideoFrame) -> np.ndarray:
    """The frame as RGB uint8: grey is repeated to three channels and RGBA loses its alpha; anything else, and a
    frame too small to recognise anything in, is refused naming what was wrong."""
    try:
        return as_rgb(frame.image)
    except ValueError as exc:
        raise ValueError(f"frame at {frame.t:.2f} s: {exc}") from None


class Perceiver:
    """Change-tracking perception for one stream (not thread-safe: one ingest thread per context)."""

    def __init__(
        self, reader: TextReader, config: PerceptionConfig | None = None, models: VisionModels | None = None
    ) -> None:
        self.reader = reader
        self.config = config or PerceptionConfig()
        self.models = models or VisionModels()
        cfg = self.config
        self.schedules = {
            "detector": Schedule(cfg.detect_interval_s, cfg.model_core_share, cfg.vision_refresh_s),
            "classifier": Schedule(cfg.classify_interval_s, cfg.model_core_share, cfg.vision_refresh_s),
            "people": Schedule(cfg.people_interval_s, cfg.model_core_share, cfg.vision_refresh_s),
        }
        self._boxes: list[tuple[Detection, Sequence[Label]]] = []  # last detections and the classifier's names
        self._detections: list[Detection] = []  # the detector's latest output, all scores, and its frame's time
        self._detections_t = float("-inf")
        self._reported: set[str] = set()  # models whose failure was already logged (once per stream)
        self._prev_grey: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._ocr_grey: np.ndarray | None = None
        self._ocr_t = float("-inf")
        self.frames = 0
        self.ocr_runs = 0

    def _changed(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return cv2.absdiff(a, b) > self.config.pixel_delta

    def observe(self, frame: VideoFrame) -> Observation:
        started = time.perf_counter()
        image = _check(frame)
        cfg = self.config
        small = cv2.resize(image, _CHANGE_SIZE, interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256])
        cv2.normalize(hist, hist)

        motion, motion_where, scene_change = 0.0, "", False
        if self._prev_grey is not None and self._prev_hist is not None:
            moved = self._changed(grey, self._prev_grey)
            motion = float(moved.mean())
            if motion >= cfg.motion_fraction:
                motion_where = place(moved)
            distance = cv2.compareHist(self._prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
            scene_change = distance >= cfg.scene_distance
        self._prev_grey, self._prev_hist = grey, hist

        since = frame.t - self._ocr_t
        read = (
            self._ocr_grey is None
            or scene_change
            or since >= cfg.ocr_interval_s
            or (
                since >= cfg.ocr_min_interval_s
                and float(self._changed(grey, self._ocr_grey).mean()) >= cfg.ocr_change_fraction
            )
        )
        texts: tuple[TextLine, ...] | None = None
        ocr_ms = 0.0
        if read:
            ocr_started = time.perf_counter()
            texts = tuple(self.reader.read(image))
            ocr_ms = (time.perf_counter() - ocr_started) * 1000
            self._ocr_grey, self._ocr_t = grey, frame.t
            self.ocr_runs += 1
        self.frames += 1
        vision_started = time.perf_counter()
        vision = self._recognise(frame.t, image, grey, scene_change)
        vision_ms = (time.perf_counter() - vision_started) * 1000
        return Observation(
            t=frame.t,
            colours=tuple(dominant_colours(image)),
            motion=round(motion, 4),
            motion_where=motion_where,
            scene_change=scene_change,
            texts=texts,
            ocr_ms=round(ocr_ms, 2),
            total_ms=round((time.perf_counter() - started) * 1000, 2),
            objects=vision.objects,
            faint=vision.faint,
            labels=vision.labels,
            people=vision.people,
            problems=tuple(vision.problems),
            vision_ms=round(vision_ms, 2),
        )

    def _due(self, name: str, t: float, grey: np.ndarray, cut: bool) -> bool:
        schedule = self.schedules[name]
        if schedule.grey is None:
            return True
        changed = float(self._changed(grey, schedule.grey).mean()) >= self.config.vision_change_fraction
        return schedule.due(t, changed, cut)

    def _run(self, name: str, t: float, grey: np.ndarray | None, call: Callable[[], T], problems: list) -> T | None:
        """``call()``, timed into the model's schedule unless ``grey`` is None (a box named between whole-frame
        runs); None, and the problem noted, when it raised."""
        started = time.perf_counter()
        try:
            result: T | None = call()
        except Exception as exc:  # a model failing on one frame must not end the stream
            message = f"{name} failed on the frame at {t:.2f} s: {type(exc).__name__}: {exc}"
            if name not in self._reported:
                self._reported.add(name)
                log.warning("%s (that frame is skipped; later failures of %s are not logged)", message, name)
                problems.append((name, message))
            return None  # not counted as a run: the model tries again on the next frame
        if grey is not None:
            self.schedules[name].ran(t, grey, time.perf_counter() - started)
        return result

    def _recognise(self, t: float, image: np.ndarray, grey: np.ndarray, cut: bool) -> _Vision:
        models, cfg = self.models, self.config
        vision = _Vision()
        if models.detector is not None and self._due("detector", t, grey, cut):
            found = self._run("detector", t, grey, lambda: models.detector.detect(image), vision.problems)
            if found is not None:
                self._detections, self._detections_t = found, t
                kept = _outer([d for d in found if d.score >= cfg.min_object_score])
                finer = self._name_boxes(t, image, kept, vision.problems)
                vision.objects = seen_objects(image, kept, finer)
                faint = [d for d in found if cfg.watch_min_score <= d.score < cfg.min_object_score]
                vision.faint = seen_objects(image, _outer(faint))
        classifier = models.classifier
        if classifier is not None and self._due("classifier", t, grey, cut):
            vision.labels = self._run("classifier", t, grey, lambda: classifier.classify(image), vision.problems)
        if models.people is not None and self._due("people", t, grey, cut):
            people = models.people
            # the detector's boxes of this very frame give the bodies: it need not run twice
            same_frame = None
            if self._detections_t == t:
                same_frame = [d for d in self._detections if d.score >= cfg.people_min_score]
            found_people = self._run("people", t, grey, lambda: people.find(image, same_frame), vision.problems)
            if found_people is not None:
                vision.people = seen_people(found_people, image.shape[1], image.shape[0])
        return vision

    def _name_boxes(
        self, t: float, image: np.ndarray, kept: list[Detection], problems: list
    ) -> dict[int, Sequence[Label]]:
        """The classifier's names for each detection: reused for a box that barely moved, else computed for the
        ``classify_boxes`` largest new ones."""
        classifier = self.models.classifier
        finer: dict[int, Sequence[Label]] = {}
        fresh = []
        for index, detection in enumerate(kept):
            before = next(
                (n for d, n in self._boxes if d.label == detection.label and iou(d.box, detection.box) > 0.6), None
            )
            if before is not None:
                finer[index] = before
            else:
                fresh.append(index)
        if classifier is not None:
            fresh.sort(key=lambda i: -kept[i].box.width * kept[i].box.height)
            for index in fresh[: self.config.classify_boxes]:
                box = kept[index].box
                labels = self._run("classifier", t, None, lambda box=box: classifier.classify(image, box), problems)
                if labels is None:
                    break
                finer[index] = labels
        self._boxes = [(d, finer.get(i, ())) for i, d in enumerate(kept)]
        return finer


@dataclass(slots=True)
class _Vision:
    objects: tuple[SeenObject, ...] | None = None
    faint: tuple[SeenObject, ...] = ()
    labels: tuple[Label, ...] | None = None
    people: tuple[SeenPerson, ...] | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


def steady_faint(
    faint: Sequence[SeenObject], runs: Sequence[tuple[SeenObject, ...]], sure: Sequence[SeenObject]
) -> list[SeenObject]:
    """The ``faint`` objects of the latest detector run that every one of ``runs`` (each run's objects, faint and
    sure) found at the same place as the same concept, and that are not one of the ``sure`` objects in view."""

    def found(obj: SeenObject, among: Sequence[SeenObject]) -> bool:
        return any(o.concept == obj.concept and iou(Box(*o.box), Box(*obj.box)) >= FAINT_IOU for o in among)

    return [o for o in faint if not found(o, sure) and all(found(o, run) for run in runs)]


FAINT_IOU = 0.3  # a faint box overlapping the previous run's box of the same concept this much is the same thing
NESTED = 0.7  # a box lying this much inside a surer box of the same class is a part of it (a wheel's "motorcycle")


def _outer(detections: list[Detection]) -> list[Detection]:
    """``detections`` (best first) without those nested inside a surer one of the same class: one thing, one box."""
    kept: list[Detection] = []
    for detection in detections:
        box = detection.box
        area = box.width * box.height
        if not any(
            k.label == detection.label and area > 0 and _overlap_area(k.box, box) / area >= NESTED for k in kept
        ):
            kept.append(detection)
    return kept


def _overlap_area(a: Box, b: Box) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    inter = _overlap_area(a, b)
    if inter == 0.0:
        return 0.0
    return inter / (a.width * a.height + b.width * b.height - inter)

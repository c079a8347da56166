"""The object-level scene log: vocabulary, object colour and place, tracks, counts, cuts, people, model schedules.

The recognition models here are small fakes with the real models' methods: a "detector" that finds blobs of given
colours in drawn frames and calls them what it is told, so each timeline knows exactly what was in view. The real
models on real photos are tested in tests/test_vision_*.py, tests/test_cascade_report.py and
tests/test_cascade_answers.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from engine.backends.cascade.objects import object_colours, object_palette, seen_objects, where
from engine.backends.cascade.ocr import TextReader
from engine.backends.cascade.people import pose_facts
from engine.backends.cascade.perception import Perceiver, PerceptionConfig
from engine.backends.cascade.report import PerceptionReport
from engine.backends.cascade.scene_log import SceneLog
from engine.backends.cascade.vision_models import VisionModels
from engine.backends.cascade.vocabulary import concept_of, concepts_in, kinds_in
from engine.events import Error
from engine.vision.types import Box, Detection, Label, Person
from streams.items import VideoFrame

GREEN = (30, 170, 40)
BLUE = (25, 50, 210)
MAGENTA = (220, 30, 200)
YELLOW = (240, 220, 20)
GREY = (60, 60, 60)  # darker than the blobs, so that the grey-level change detector sees them move


class BlobDetector:
    """Finds solid blobs of the given RGB colours and reports each as the given COCO label."""

    def __init__(self, labels: dict[tuple[int, int, int], str]) -> None:
        self.labels = labels
        self.calls = 0

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        self.calls += 1
        found = []
        for colour, label in self.labels.items():
            mask = np.all(np.abs(rgb.astype(int) - colour) < 12, axis=2).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            for x, y, w, h, area in stats[1:count]:
                if area >= 100:
                    found.append(Detection(label, 0.9, Box(x, y, x + w, y + h), "blobs"))
        return found


class FailingOnce:
    """A detector that raises on its first call and then works."""

    def __init__(self, inner: BlobDetector) -> None:
        self.inner = inner
        self.failed = False

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("tensor shape mismatch")
        return self.inner.detect(rgb)


def scene(*blobs: tuple[tuple[int, int, int], tuple[int, int], int], background=GREY) -> np.ndarray:
    """A 640x360 frame of ``background`` with filled circles (colour, centre, radius)."""
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = background
    for colour, centre, radius in blobs:
        cv2.circle(image, centre, radius, colour, -1)
    return image


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def test_vocabulary_maps_model_names_to_concepts_synonyms_and_kinds() -> None:
    assert concept_of("Egyptian cat") == "cat"
    assert concept_of("tabby, tabby cat") == "cat"
    assert concept_of("golden retriever") == "dog"
    assert concept_of("espresso") == "cup"
    assert concept_of("moped") == "motorcycle"
    assert concept_of("bow tie") == "tie"
    assert concept_of("lakeside") is None
    assert concepts_in("Is the kitten on the sofa?") == {"cat", "couch"}
    assert concepts_in("a hot dog next to a teddy bear") == {"hot dog", "teddy bear"}  # not a dog, not a bear
    assert concepts_in("an orange shirt") == set()  # a colour first
    assert concepts_in("an orange", ambiguous=True) == {"orange"}
    assert kinds_in("Which animal is it?") == {"animal"}


def test_object_colour_comes_from_its_own_pixels_not_the_frame() -> None:
    image = scene((BLUE, (320, 180), 100), background=GREEN)  # a blue circle on a green frame
    assert object_colours(object_palette(image, Box(220, 80, 420, 280))) == ("blue",)
    cat = data.chelsea()  # a real photo: the ginger cat's fur, not the grey background
    (seen,) = seen_objects(
        cat, [Detection("cat", 0.8, Box(90, 20, 380, 300), "fake", (Label("tabby, tabby cat", 0.6),))]
    )
    assert seen.concept == "cat" and seen.name == "tabby"
    assert seen.colours[0] in ("orange", "brown")
    # a real cup of coffee seen from above (the box the detector draws on skimage's coffee): the red cup's walls,
    # not the orange crema that fills the middle of its box
    coffee = data.coffee()
    h, w = coffee.shape[:2]
    box = Box(0.319 * w, 0.037 * h, 0.667 * w, 0.718 * h)
    assert object_palette(coffee, box)[0][0] == "orange"  # what the inner part of any other object's box would say
    (cup,) = seen_objects(coffee, [Detection("cup", 0.5, box, "fake")])
    assert cup.colours[0] != "orange" and "red" in dict(cup.palette) and dict(cup.palette)["red"] > 0.2
    assert where(0.1, 0.1) == "top left" and where(0.5, 0.5) == "centre" and where(0.9, 0.5) == "right"


def test_a_sure_classifier_name_of_the_same_kind_replaces_the_detector_class() -> None:
    image = scene((BLUE, (320, 180), 100))
    bear = Detection("bear", 0.6, Box(220, 80, 420, 280), "fake")
    (rabbit,) = seen_objects(image, [bear], {0: (Label("wood rabbit, cottontail", 0.7),)})
    assert rabbit.concept == "rabbit" and rabbit.name == "wood rabbit"
    (still_bear,) = seen_objects(image, [bear], {0: (Label("espresso", 0.9),)})  # a cup is no animal
    assert still_bear.concept == "bear"


def test_tracks_counts_and_cuts_on_a_timeline(reader: TextReader) -> None:
    """0.0 s: a cat (magenta) on the left; 1.0 s: a second cat on the right; 2.0 s: the first cat has gone;
    3.0 s: cut to a blue frame with a yellow cup at the top."""
    detector = BlobDetector({MAGENTA: "cat", YELLOW: "cup"})
    perceiver = Perceiver(reader, PerceptionConfig(), VisionModels(detector=detector))
    log = SceneLog(leave_after_s=0.6)
    left, right = (MAGENTA, (120, 200), 60), (MAGENTA, (520, 200), 60)
    timeline = [(0.0, scene(left)), (0.5, scene(left)), (1.0, scene(left, right)), (1.5, scene(left, right))]
    timeline += [(2.0, scene(right)), (2.5, scene(right))]
    timeline += [
        (3.0, scene((YELLOW, (320, 60), 40), background=BLUE)),
        (3.5, scene((YELLOW, (320, 60), 40), background=BLUE)),
    ]
    for t, image in timeline:
        log.add_observation(perceiver.observe(VideoFrame(t, image)))
    objects = [(e.start, e.end, e.content) for e in log.entries() if e.kind == "object"]
    assert objects == [
        (0.0, 1.5, "cat, pink, left"),
        (1.0, 2.5, "cat, pink, right"),
        (3.0, 3.5, "cup, yellow, top"),
    ]
    counts = [(e.start, e.end, e.content) for e in log.entries() if e.kind == "count"]
    assert counts == [(0.0, 0.5, "1 cat"), (1.0, 1.5, "2 cat"), (2.0, 2.5, "1 cat"), (3.0, 3.5, "1 cup")]
    in_view, _ = log.in_view()
    assert [o.concept for o in in_view] == ["cup"]


def test_models_run_on_their_own_schedule_and_skip_an_unchanged_picture(reader: TextReader) -> None:
    detector = BlobDetector({MAGENTA: "cat"})
    config = PerceptionConfig(detect_interval_s=0.5, vision_refresh_s=4.0)
    perceiver = Perceiver(reader, config, VisionModels(detector=detector))
    still = scene((MAGENTA, (320, 180), 60))
    ran = [perceiver.observe(VideoFrame(i * 0.25, still)).objects is not None for i in range(12)]  # 0.0-2.75 s
    assert ran == [True] + [False] * 11  # the picture never changed: no rerun before the 4 s refresh
    moving = [scene((MAGENTA, (100 + 20 * i, 180), 60)) for i in range(8)]
    ran = [perceiver.observe(VideoFrame(3.0 + i * 0.25, image)).objects is not None for i, image in enumerate(moving)]
    assert ran == [True, False, True, False, True, False, True, False]  # changing: every 0.5 s of stream, no more


def test_a_model_that_throws_skips_that_frame_and_the_others_go_on(reader: TextReader) -> None:
    detector = FailingOnce(BlobDetector({MAGENTA: "cat"}))
    perceiver = Perceiver(reader, PerceptionConfig(), VisionModels(detector=detector))
    first = perceiver.observe(VideoFrame(0.0, scene((MAGENTA, (320, 180), 60))))
    assert first.objects is None and first.colours  # colours and OCR still ran
    assert first.problems == (
        ("detector", "detector failed on the frame at 0.00 s: RuntimeError: tensor shape mismatch"),
    )
    second = perceiver.observe(VideoFrame(0.5, scene((MAGENTA, (330, 180), 60))))
    assert second.problems == () and [o.concept for o in second.objects or ()] == ["cat"]
    log = SceneLog()
    log.add_observation(first)
    (error,) = [e for e in PerceptionReport(log).after(first) if isinstance(e, Error)]
    assert error.source == "perception" and "tensor shape mismatch; that frame is skipped" in error.message
    detector.failed = False  # it fails again: the frame is skipped without another report
    third = perceiver.observe(VideoFrame(1.0, scene((MAGENTA, (340, 180), 60))))
    assert third.objects is None and third.problems == ()


def _person(**points: tuple[float, float]) -> Person:
    return Person(Box(0, 0, 200, 400), 0.9, keypoints={name: (x, y, 0.9) for name, (x, y) in points.items()})


def test_pose_facts_only_where_the_keypoints_support_them() -> None:
    upright = {
        "left_shoulder": (80, 100), "right_shoulder": (120, 100), "left_hip": (85, 200), "right_hip": (115, 200),
        "left_knee": (85, 290), "right_knee": (115, 290), "left_ankle": (85, 380), "right_ankle": (115, 380),
    }  # fmt: skip
    assert pose_facts(_person(**upright, left_wrist=(80, 190), right_wrist=(120, 190))) == ("standing",)
    assert pose_facts(_person(**upright, left_wrist=(70, 40), right_wrist=(120, 190))) == ("raising a hand", "standing")
    seated = {
        **upright,
        "left_knee": (170, 210),
        "right_knee": (190, 215),
        "left_ankle": (170, 300),
        "right_ankle": (190, 300),
    }
    assert pose_facts(_person(**seated)) == ("sitting",)
    assert pose_facts(_person(left_shoulder=(80, 100), left_wrist=(80, 20))) == ()  # no torso: nothing is claimed
    unsure = Person(Box(0, 0, 200, 400), 0.9, keypoints={k: (x, y, 0.2) for k, (x, y) in upright.items()})
    assert pose_facts(unsure) == ()

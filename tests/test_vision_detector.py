"""NanoDet-m on real photos from skimage.data: the right COCO object, boxed in the frame's own pixels."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from engine.vision.detector import ObjectDetector
from tests.vision_support import require


@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    require("detector")
    return ObjectDetector.load()


def labels(found) -> list[str]:
    return [d.label for d in found]


@pytest.mark.parametrize(
    ("photo", "label"),
    [
        (skimage.data.astronaut, "person"),
        (skimage.data.chelsea, "cat"),
        (skimage.data.coffee, "cup"),
        (lambda: skimage.data.stereo_motorcycle()[1], "motorcycle"),
    ],
)
def test_finds_the_object_in_a_real_photo(detector, photo, label):
    image = photo()
    found = detector.detect(image)
    assert label in labels(found)
    best = next(d for d in found if d.label == label)
    h, w = image.shape[:2]
    assert 0 <= best.box.x0 < best.box.x1 <= w and 0 <= best.box.y0 < best.box.y1 <= h
    assert best.source == "nanodet" and 0.3 <= best.score <= 1


def test_the_cat_box_covers_the_cat_not_a_stretched_frame(detector):
    image = skimage.data.chelsea()  # 451 x 300: letterboxed, so the box spans most of the frame in both directions
    cat = next(d for d in detector.detect(image) if d.label == "cat")
    assert cat.box.width > 0.6 * image.shape[1] and cat.box.height > 0.6 * image.shape[0]
    assert "dog" not in labels(detector.detect(image))


def test_grey_and_rgba_frames_are_converted(detector):
    rgb = skimage.data.chelsea()
    grey = (rgb.mean(axis=2)).astype(np.uint8)
    assert "cat" in labels(detector.detect(grey))
    assert "cat" in labels(detector.detect(grey[:, :, None]))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert labels(detector.detect(rgba)) == labels(detector.detect(rgb))


def test_huge_frame_keeps_boxes_in_its_pixels(detector):
    image = np.kron(skimage.data.astronaut(), np.ones((4, 4, 1), np.uint8))  # 2048 x 2048
    person = next(d for d in detector.detect(image) if d.label == "person")
    assert person.box.x1 > 1000 and person.box.y1 > 1500


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((4, 4, 3), np.uint8), r"\(4, 4, 3\) is too small"),
        (np.zeros((64, 64, 2), np.uint8), r"shape \(64, 64, 2\)"),
        (np.zeros((64, 64, 3), np.float32), "must be uint8"),
    ],
)
def test_bad_frames_are_refused_naming_the_shape(detector, frame, message):
    with pytest.raises(ValueError, match=message):
        detector.detect(frame)

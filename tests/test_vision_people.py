"""Faces and body keypoints on real photos from skimage.data."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from engine.vision.people import KEYPOINTS, PeopleDetector
from tests.vision_support import require


@pytest.fixture(scope="module")
def people() -> PeopleDetector:
    for key in ("detector", "face", "pose"):
        require(key)
    return PeopleDetector.load()


def inside(box, x, y) -> bool:
    return box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1


def test_the_astronaut_has_a_face_inside_her_body_box_and_a_plausible_pose(people):
    found = people.find(skimage.data.astronaut())
    assert len(found) == 1
    person = found[0]
    assert person.face is not None and inside(person.box, *person.face.centre)
    assert 60 < person.face.width < 200  # her face is about 100 px wide in the 512 px photo
    assert set(person.keypoints) == set(KEYPOINTS)
    nose, left_eye, right_eye = (person.keypoints[k] for k in ("nose", "left_eye", "right_eye"))
    for x, y, score in (nose, left_eye, right_eye):
        assert score > 0.5 and inside(person.face, x, y)
    assert right_eye[0] < left_eye[0]  # facing the camera: her right eye is on the image's left
    shoulders = [person.keypoints[k] for k in ("left_shoulder", "right_shoulder")]
    assert all(y > person.face.y1 and score > 0.5 for _, y, score in shoulders)


def test_no_people_in_the_cat_photo(people):
    assert people.find(skimage.data.chelsea()) == []


def test_a_grey_frame_still_shows_the_face(people):
    grey = skimage.data.astronaut().mean(axis=2).astype(np.uint8)
    assert any(person.face is not None for person in people.find(grey))


def test_detections_passed_in_are_used_instead_of_running_the_detector(people):
    image = skimage.data.astronaut()
    faces_only = people.find(image, detections=[])
    assert len(faces_only) == 1 and faces_only[0].box == faces_only[0].face and not faces_only[0].keypoints

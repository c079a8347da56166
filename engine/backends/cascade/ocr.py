"""Text in a frame, read by PP-OCRv4 (detection + recognition ONNX models shipped in ``rapidocr-onnxruntime``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.model_files import package_dir

OCR_MODELS = ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx")


def ocr_model_paths() -> list[Path]:
    """The OCR model files inside the installed ``rapidocr-onnxruntime`` package (raises if the package is missing)."""
    root = package_dir("rapidocr_onnxruntime", "rapidocr-onnxruntime") / "models"
    return [root / name for name in OCR_MODELS]


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text found in a frame, with the recogniser's confidence and its box centre (0..1 of the frame)."""

    text: str
    score: float
    x: float
    y: float
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 as shares of the frame (None: not known)


class TextReader:
    """One RapidOCR engine, shared by every context of a backend; calls are serialised (they use every core anyway)."""

    def __init__(self, *, threads: int = 2, max_side: int = 640, min_score: float = 0.6) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.max_side = max_side
        self.min_score = min_score
        self._engine = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            det_limit_type="max",
            det_limit_side_len=max_side,
            use_cls=False,
        )
        self._lock = threading.Lock()

    def read(self, rgb: np.ndarray) -> list[TextLine]:
        """Lines of text in an RGB uint8 frame, top to bottom, left to right."""
        height, width = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if scale < 1.0:
            bgr = cv2.resize(bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        with self._lock:
            result, _ = self._engine(bgr, use_cls=False)
        lines = []
        for box, text, score in result or ():
            text = " ".join(str(text).split())
            if not text or float(score) < self.min_score:
                continue
            points = np.asarray(box, dtype=np.float32)
            cx, cy = points.mean(axis=0)
            w, h = bgr.shape[1], bgr.shape[0]
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            box = (float(x0) / w, float(y0) / h, float(x1) / w, float(y1) / h)
            lines.append(TextLine(text, round(float(score), 3), float(cx) / w, float(cy) / h, box))
        return lines

"""The live preview: the latest frame fed to the tab's session, with what the backend last perceived drawn over it
(labelled boxes for objects, text read and people), as HTML. The frame is kept small; the boxes are shares of it."""

from __future__ import annotations

import base64
import html
from typing import Any

import cv2
import numpy as np

from engine.events import Perception

WIDTH = 480  # the preview frame is shrunk to this width


def shrink(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    if width <= WIDTH:
        return rgb
    return cv2.resize(rgb, (WIDTH, round(height * WIDTH / width)), interpolation=cv2.INTER_AREA)


def _box(kind: str, box: list[float], label: str) -> str:
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) * 100 for v in box)
    style = f"left:{x0:.1f}%;top:{y0:.1f}%;width:{x1 - x0:.1f}%;height:{y1 - y0:.1f}%"
    name = html.escape(label)
    return f'<div class="box {kind}" data-label="{name}" style="{style}"><span>{name}</span></div>'


def _boxes(perception: Perception) -> list[str]:
    drawn = [_box("object", o["box"], f"{o['label']} {o['score']:.2f}") for o in perception.objects]
    drawn += [_box("text", line["box"], line["text"]) for line in perception.texts if line.get("box")]
    drawn += [_box("person", p["box"], ", ".join(["person", *p["facts"]])) for p in perception.people if p["box"]]
    return drawn


def render(frame: np.ndarray | None, perception: Perception | None) -> str:
    if frame is None:
        return '<div class="empty">No video yet: start the camera, replay a file or try a sample.</div>'
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
    src = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else ""
    drawn = _boxes(perception) if perception is not None else []
    seen: list[Any] = [] if perception is None else [o["label"] for o in perception.objects]
    caption = f"perceived at {perception.t:.1f} s: {', '.join(seen) or 'no objects'}" if perception else ""
    return (
        f'<div class="preview"><img src="{src}" alt="latest frame">{"".join(drawn)}</div>'
        f'<div class="t">{html.escape(caption)}</div>'
    )

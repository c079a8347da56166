"""What a cascade stream reports it perceived (``perception`` and ``noticed`` events), with the real vision models
and OCR on real photos: skimage's chelsea cat, then a cut to a page of printed text."""

from __future__ import annotations

import json

import pytest

from app.samples import framed
from engine.backends.cascade.ocr import TextReader
from engine.backends.cascade.perception import Perceiver
from engine.backends.cascade.report import PerceptionReport
from engine.backends.cascade.scene_log import SceneLog
from engine.backends.cascade.vision_models import load_vision_models
from engine.events import Event, Noticed, Perception, event_from_dict
from streams.items import VideoFrame
from tests.vision_support import require


@pytest.fixture(scope="module")
def reported() -> list[Event]:
    require("detector")
    log = SceneLog()
    perceiver = Perceiver(TextReader(threads=1), models=load_vision_models())
    report = PerceptionReport(log)
    events: list[Event] = []
    frames = [(t / 2, framed("chelsea")) for t in range(6)] + [(3.0 + t / 2, framed("page")) for t in range(6)]
    for t, image in frames:
        observation = perceiver.observe(VideoFrame(t, image))
        log.add_observation(observation)
        events += report.after(observation)
    return events


def test_the_cat_is_reported_as_a_labelled_box_around_it(reported: list[Event]) -> None:
    on_cat = [e for e in reported if isinstance(e, Perception) and e.t < 3.0]
    assert on_cat, "no perception event while the cat was shown"
    cats = [o for e in on_cat for o in e.objects if o["label"] == "cat"]
    assert cats, f"no cat box: {[e.objects for e in on_cat]}"
    x0, y0, x1, y1 = cats[0]["box"]
    assert 0 <= x0 < 0.5 < x1 <= 1 and 0 <= y0 < 0.5 < y1 <= 1  # the cat fills the middle of the frame
    assert 0 < cats[0]["score"] <= 1


def test_the_timeline_notices_the_cat_the_cut_the_text_read_and_the_cat_leaving(reported: list[Event]) -> None:
    noticed = [e for e in reported if isinstance(e, Noticed)]
    kinds = [(e.kind, e.t) for e in noticed]
    appeared = next(e for e in noticed if e.kind == "object" and e.text.startswith("cat"))
    assert appeared.t < 3.0
    assert any(kind == "scene" and t == 3.0 for kind, t in kinds), kinds
    left = [e for e in noticed if e.kind == "left" and e.text == "cat left the view"]
    assert left and left[0].t >= 3.0
    read = [e.text for e in noticed if e.kind == "text" and e.t >= 3.0]
    assert read and all(text.startswith("read '") for text in read)
    on_page = [e for e in reported if isinstance(e, Perception) and e.t >= 3.0 and e.texts]
    assert on_page and all(line["box"] is not None for line in on_page[-1].texts)
    # each new thing is noticed once
    assert len([e for e in noticed if e.kind == "scene"]) == 1


def test_reported_events_round_trip_through_json(reported: list[Event]) -> None:
    for event in reported:
        assert event_from_dict(json.loads(event.to_json())) == event

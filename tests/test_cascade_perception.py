"""Cascade perception and scene log on synthetic frames drawn with OpenCV, read by the real PP-OCR models."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from engine.backends.cascade.colours import ColourRegion, dominant_colours
from engine.backends.cascade.ocr import TextLine, TextReader
from engine.backends.cascade.perception import Observation, Perceiver
from engine.backends.cascade.scene_log import SceneLog
from streams.items import VideoFrame

BLUE = (25, 50, 210)
GREEN = (30, 170, 40)
RED = (210, 30, 30)


def card(background: tuple[int, int, int], text: str = "", size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """An RGB frame of one colour with large white text in the middle."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = background
    if text:
        cv2.putText(image, text, (size[0] // 5, size[1] // 2 + 30), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 8)
    return image


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def test_ocr_reads_large_text_and_names_the_background(reader: TextReader) -> None:
    obs = Perceiver(reader).observe(VideoFrame(0.0, card(BLUE, "EXIT 42")))
    assert obs.texts is not None
    assert [line.text for line in obs.texts] == ["EXIT 42"]
    assert obs.texts[0].score > 0.8
    assert 0.3 < obs.texts[0].x < 0.7
    assert obs.colours[0].name == "blue"
    assert obs.colours[0].fraction > 0.9
    assert obs.colours[0].where == "whole frame"


def test_colour_names_and_places() -> None:
    image = card((0, 0, 0))
    image[:, 320:] = RED
    regions = {r.name: r for r in dominant_colours(image)}
    assert set(regions) == {"black", "red"}
    assert regions["black"].where == "left"
    assert regions["red"].where == "right"
    assert regions["red"].fraction == pytest.approx(0.5, abs=0.02)
    checks = {(250, 250, 250): "white", (128, 128, 128): "gray", (240, 220, 20): "yellow", (250, 140, 0): "orange"}
    for rgb, name in checks.items():
        assert dominant_colours(card(rgb))[0].name == name, rgb
    assert dominant_colours(card((120, 30, 170)))[0].name == "purple"


def test_timeline_scene_change_motion_and_ocr_only_on_change(reader: TextReader) -> None:
    perceiver = Perceiver(reader)
    gate = card(BLUE, "GATE 7")
    moved = gate.copy()
    cv2.rectangle(moved, (20, 20), (120, 120), (250, 250, 0), -1)
    timeline = [
        (0.0, gate),  # first frame: read
        (0.5, gate),  # identical: nothing changed, OCR skipped
        (1.0, moved),  # a box appears at the top left: movement there, enough change to read again
        (1.5, card(GREEN)),  # different scene
        (2.0, card(GREEN)),
    ]
    obs = [perceiver.observe(VideoFrame(t, image)) for t, image in timeline]
    assert [o.scene_change for o in obs] == [False, False, False, True, False]
    assert obs[1].motion == 0.0 and obs[1].texts is None and obs[1].ocr_ms == 0.0
    assert obs[2].motion_where == "top left" and obs[2].texts is not None
    assert obs[3].texts == ()
    assert obs[4].texts is None and obs[4].motion == 0.0
    assert perceiver.ocr_runs == 3


def test_a_moving_picture_is_read_at_most_once_a_second(reader: TextReader) -> None:
    perceiver = Perceiver(reader)
    frames = []
    for i in range(6):  # a box sliding across a sign, 2 frames per second
        image = card(BLUE, "GATE 7")
        cv2.rectangle(image, (20 + 30 * i, 20), (60 + 30 * i, 60), (250, 250, 0), -1)
        frames.append(perceiver.observe(VideoFrame(i * 0.5, image)))
    assert [o.texts is not None for o in frames] == [True, False, True, False, True, False]
    assert not any(o.scene_change for o in frames)  # the reads are throttled changes, not scene cuts


def test_ocr_rereads_after_interval_even_without_change(reader: TextReader) -> None:
    perceiver = Perceiver(reader)
    image = card(BLUE, "GATE 7")
    reads = [perceiver.observe(VideoFrame(t, image)).texts is not None for t in (0.0, 2.0, 4.9, 5.0, 6.0)]
    assert reads == [True, False, False, True, False]


def test_grey_and_rgba_frames_are_seen_and_bad_frames_are_refused_with_the_reason(reader: TextReader) -> None:
    perceiver = Perceiver(reader)
    rgb = card(BLUE, "GATE 7")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    assert [line.text for line in perceiver.observe(VideoFrame(0.0, grey)).texts or ()] == ["GATE 7"]
    assert perceiver.observe(VideoFrame(5.0, rgba)).colours[0].name == "blue"
    with pytest.raises(ValueError, match=r"frame at 6\.00 s: frame must be uint8, got float32"):
        perceiver.observe(VideoFrame(6.0, np.zeros((90, 160, 3), np.float32)))
    with pytest.raises(ValueError, match=r"frame at 7\.00 s: frame of shape \(90, 160, 2\) is not grey"):
        perceiver.observe(VideoFrame(7.0, np.zeros((90, 160, 2), np.uint8)))
    with pytest.raises(ValueError, match="too small"):
        perceiver.observe(VideoFrame(8.0, np.zeros((4, 4, 3), np.uint8)))


def _observations(reader: TextReader, timeline: list[tuple[float, np.ndarray]]) -> list[Observation]:
    perceiver = Perceiver(reader)
    return [perceiver.observe(VideoFrame(t, image)) for t, image in timeline]


def test_scene_log_keeps_one_entry_per_text_and_colour_span(reader: TextReader) -> None:
    log = SceneLog()
    timeline = [(t / 2, card(BLUE, "GATE 7")) for t in range(6)] + [(3.0 + t / 2, card(GREEN)) for t in range(4)]
    for obs in _observations(reader, timeline):
        log.add_observation(obs)
    log.add_speech(4.0, 5.5, "  boarding   now ")
    lines = [e.line() for e in log.entries()]
    assert lines == [
        "[0.0-2.5s] text on screen (centre): 'GATE 7'",
        "[0.0-2.5s] colours: blue 98% whole frame",
        "[3.0s] scene change: the picture cut to a different view",
        "[3.0-4.5s] colours: green 100% whole frame",
        "[4.0-5.5s] heard: 'boarding now'",
    ]


def observed(
    t: float,
    texts: tuple[str, ...] | None = None,
    colours: tuple[ColourRegion, ...] = (),
    moved: str = "",
) -> Observation:
    lines = None if texts is None else tuple(TextLine(text, 0.9, 0.5, 0.5) for text in texts)
    return Observation(t, colours, 0.1 if moved else 0.0, moved, False, lines, 0.0, 0.0)


def test_scene_log_spans_survive_jitter_and_restart_after_gaps() -> None:
    log = SceneLog()
    red, blue = ColourRegion("red", 0.5, "left"), ColourRegion("blue", 0.4, "right")
    timeline = [
        observed(0.0, ("GATE 7",), (red, blue), moved="left"),
        observed(0.5, ("GATE7",), (blue, red), moved="right"),  # OCR jitter, colour order flips: same entries
        observed(1.0, None, (red, blue)),  # OCR skipped: the sign is still there
        observed(1.5, (), (red, blue)),  # the sign is gone
        observed(5.0, ("GATE 7",), (red, blue), moved="centre"),  # back again, movement after a gap
    ]
    for obs in timeline:
        log.add_observation(obs)
    assert [e.line() for e in log.entries()] == [
        "[0.0-1.0s] text on screen (centre): 'GATE 7'",
        "[0.0-5.0s] colours: red 50% left, blue 40% right",
        "[0.0-0.5s] movement: something moved (left, right)",
        "[5.0s] text on screen (centre): 'GATE 7'",
        "[5.0s] movement: something moved (centre)",
    ]


def test_retrieval_window_ranking_and_bad_arguments() -> None:
    log = SceneLog()
    log.add_speech(0.0, 2.0, "the gate number is seven")
    log.add_speech(50.0, 52.0, "coffee is served in the lounge")
    log.add_speech(95.0, 97.0, "please keep your luggage with you")
    asked_at = 100.0
    everything = log.retrieve("What gate number was announced?", asked_at, None, limit=2)
    assert [e.content for e in everything] == ["the gate number is seven", "please keep your luggage with you"]
    recent = log.retrieve("What gate number was announced?", asked_at, 60.0)
    assert [e.content for e in recent] == [
        "coffee is served in the lounge",
        "please keep your luggage with you",
    ]
    with pytest.raises(ValueError, match="context_seconds must be positive"):
        log.window(asked_at, 0.0)
    with pytest.raises(ValueError, match="ends"):
        log.add_speech(3.0, 1.0, "backwards")


def test_scene_log_is_safe_to_read_while_it_is_written() -> None:
    log = SceneLog()
    done = threading.Event()
    seen: list[int] = []

    def reader_thread() -> None:
        while not done.is_set():
            seen.append(len(log.retrieve("what was said", 1e9, None)))

    thread = threading.Thread(target=reader_thread)
    thread.start()
    for i in range(2000):
        log.add_speech(float(i), float(i) + 0.5, f"line {i}")
    done.set()
    thread.join()
    assert len(log) == 2000
    assert seen and max(seen) <= 12

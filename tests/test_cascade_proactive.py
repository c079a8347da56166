"""Standing instructions end to end on the real cascade backend: OCR reads a scoreboard, the instruction fires."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.backends.cascade.colours import ColourRegion
from engine.backends.cascade.conditions import check
from engine.events import Error, InstructionRemoved, Proactive
from engine.runtime import EngineConfig, open_session
from streams.clock import ReplayClock
from streams.synth import write_media
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource
from tests.timeline import run_collect


def test_condition_kinds():
    def run(condition: str, **kw):
        base = {"visible_texts": [], "colours": (), "moving": False, "new_speech": []}
        return check(condition, **{**base, **kw})

    assert run("the scoreboard shows 3", visible_texts=["HOME 3 AWAY 1"]).met
    assert not run("the scoreboard shows 3", visible_texts=["HOME 2 AWAY 1"]).met
    assert run("the light turns red", colours=(ColourRegion("red", 0.5, "centre"),)).met
    assert not run("the light turns red", colours=(ColourRegion("red", 0.1, "top left"),)).met
    assert run("something moves", moving=True).met
    assert run("someone says goodbye", new_speech=["ok goodbye then"]).met
    assert run("someone enters") is None  # people are beyond what the cascade sees


def scoreboard_clip(path) -> None:
    def frames():
        for i in range(10 * 5):
            t = i / 5
            frame = np.full((240, 320, 3), (30, 30, 30), np.uint8)
            cv2.putText(
                frame, f"SCORE {min(3, int(t // 2))}", (30, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 4
            )
            yield frame

    write_media(path, frames(), 5)


@pytest.mark.e2e
async def test_scoreboard_instruction_fires_after_the_score_reaches_3_and_never_before(tmp_path):
    clip = tmp_path / "score.mp4"
    scoreboard_clip(clip)
    session = await open_session(EngineConfig(backend="cascade", speech=False), ReplayClock("fast"))
    events = await run_collect(
        session,
        [
            VideoFileSource(str(clip)),
            ScheduledTextSource(
                [(1.0, "Tell me when the scoreboard shows 3"), (1.5, "let me know when someone enters")]
            ),
        ],
    )
    fired = [e for e in events if isinstance(e, Proactive)]
    assert len(fired) == 1 and fired[0].condition == "the scoreboard shows 3"
    # the score becomes 3 at 6.0 s; checks run every second of stream time
    assert 6.0 <= fired[0].t <= 8.0
    removed = {e.reason for e in events if isinstance(e, InstructionRemoved)}
    assert removed == {"fired", "cannot be checked"}
    assert any(isinstance(e, Error) and "someone enters" in e.message for e in events)

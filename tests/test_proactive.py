"""Standing instructions on replayed time: kept, checked as the stream goes on, fired once, cancellable."""

from __future__ import annotations

import re

import numpy as np
import pytest

from engine.backends.base import Capabilities, ConditionCheck
from engine.events import Error, InstructionAdded, InstructionRemoved, Proactive, ResponseDone
from engine.proactive import parse_cancel, parse_instruction
from engine.session import Session
from streams.clock import ReplayClock
from streams.items import VideoFrame
from streams.text import ScheduledTextSource
from tests.fakes import ScriptedBackendContext
from tests.timeline import ScriptedSource, run_collect


class ScoreboardContext(ScriptedBackendContext):
    """Each frame's pixel value is the number on a scoreboard; conditions 'shows N' are checked on the last frame."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: int | None = None
        self.checks: list[float] = []

    def ingest_frame(self, frame: VideoFrame) -> None:
        super().ingest_frame(frame)
        self.shown = int(frame.image[0, 0, 0])

    capabilities = Capabilities(checks_conditions=True)

    def check_condition(self, condition: str, t: float) -> ConditionCheck | None:
        self.checks.append(t)
        m = re.search(r"shows (\d+)", condition)
        if m is None:
            return None
        return ConditionCheck(met=self.shown == int(m.group(1)), score=1.0)


def scoreboard(seconds: float) -> ScriptedSource:
    # the score goes up by one every 2 s: 0 at 0–2 s, 1 at 2–4 s, 2 at 4–6 s, 3 from 6 s
    frames = [
        VideoFrame(t=i * 0.5, image=np.full((2, 2, 3), int(i * 0.5 // 2), np.uint8)) for i in range(int(seconds * 2))
    ]
    return ScriptedSource("scoreboard", "video", frames)


@pytest.mark.parametrize(
    ("text", "condition", "say"),
    [
        ("When the scoreboard shows 3, say 3", "the scoreboard shows 3", "3"),
        ("tell me when someone enters", "someone enters", "Now: someone enters."),
        ("Let me know if the light turns red.", "the light turns red", "Now: the light turns red."),
        ("say goal when the score changes", "the score changes", "goal"),
    ],
)
def test_instructions_are_recognised(text, condition, say):
    instruction = parse_instruction(text)
    assert instruction is not None and (instruction.condition, instruction.say) == (condition, say)


@pytest.mark.parametrize("text", ["what is on the screen?", "when did he leave?", "tell me what you see"])
def test_questions_are_not_instructions(text):
    assert parse_instruction(text) is None


def test_cancel_requests():
    assert parse_cancel("Stop the alerts") and parse_cancel("cancel all reminders please")
    assert not parse_cancel("stop talking") and not parse_cancel("what alerts are there?")


async def test_fires_once_within_a_check_interval_of_the_true_moment_and_never_before():
    ctx = ScoreboardContext()
    session = Session(ctx, clock=ReplayClock("fast"))
    events = await run_collect(
        session, [scoreboard(10.0), ScheduledTextSource([(1.0, "When the scoreboard shows 3, say 3")])]
    )
    added = next(e for e in events if isinstance(e, InstructionAdded))
    assert (added.t, added.condition, added.say) == (1.0, "the scoreboard shows 3", "3")
    ack = next(e for e in events if isinstance(e, ResponseDone))
    assert ack.text == "OK, I'll tell you when the scoreboard shows 3." and ack.status == "completed"
    fired = [e for e in events if isinstance(e, Proactive)]
    assert len(fired) == 1
    assert 6.0 <= fired[0].t <= 7.0 and fired[0].text == "3"
    removed = next(e for e in events if isinstance(e, InstructionRemoved))
    assert removed.reason == "fired" and session.instructions == {}
    assert ctx.checks[0] == pytest.approx(2.0)  # first check one interval after the instruction
    assert session.history[-1].text == "3"


async def test_an_instruction_the_backend_cannot_check_is_dropped_with_an_error():
    ctx = ScoreboardContext()
    session = Session(ctx, clock=ReplayClock("fast"))
    events = await run_collect(session, [scoreboard(4.0), ScheduledTextSource([(0.5, "tell me when someone enters")])])
    removed = next(e for e in events if isinstance(e, InstructionRemoved))
    assert removed.reason == "cannot be checked"
    assert any(isinstance(e, Error) and e.source == "proactive" and "someone enters" in e.message for e in events)
    assert not any(isinstance(e, Proactive) for e in events)


async def test_a_backend_without_condition_checks_refuses_instructions():
    session = Session(ScriptedBackendContext(), clock=ReplayClock("fast"))
    events = await run_collect(session, [ScheduledTextSource([(0.0, "tell me when the door opens")])])
    assert not any(isinstance(e, InstructionAdded) for e in events)
    reply = next(e for e in events if isinstance(e, ResponseDone))
    assert reply.text == "Sorry, I can't watch for that with the backend backend."
    assert any(isinstance(e, Error) and e.source == "proactive" for e in events)


async def test_instructions_can_be_cancelled_by_asking():
    ctx = ScoreboardContext()
    session = Session(ctx, clock=ReplayClock("fast"))
    events = await run_collect(
        session,
        [
            scoreboard(10.0),
            ScheduledTextSource([(0.5, "tell me when the scoreboard shows 3"), (3.0, "stop the alerts")]),
        ],
    )
    removed = next(e for e in events if isinstance(e, InstructionRemoved))
    assert removed.reason == "cancelled by the user" and removed.t == 3.0
    assert not any(isinstance(e, Proactive) for e in events)
    replies = [e.text for e in events if isinstance(e, ResponseDone)]
    assert replies[-1] == "OK, I stopped 1 standing instruction."


def test_an_instruction_is_one_sentence_so_a_question_about_it_is_not_one():
    assert (
        parse_instruction('When the word "DRAGON" appears, output "dragon". Is it the right time? Answer yes or no.')
        is None
    )
    assert parse_instruction("tell me when the price drops below 2.5 dollars").condition == (
        "the price drops below 2.5 dollars"
    )

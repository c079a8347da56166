"""The cascade backend end to end: frames and transcripts in, grounded answers out, alone and through a real Session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.backends.base import AnswerRequest, Backend, BackendContext, Turn
from engine.backends.cascade import prompt
from engine.backends.cascade.backend import CascadeBackend, CascadeContext
from engine.backends.cascade.mcq import evidence_match, evidence_words
from engine.backends.cascade.scene_log import Entry
from engine.backends.registry import get_backend
from engine.cancel import CancelToken
from engine.choices import split_choices
from engine.events import Event, QueryAccepted, ResponseDone, ResponseStarted, Transcript
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams import synth
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.items import VideoFrame
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource

BLUE = (25, 50, 210)
GREEN = (30, 170, 40)
GATE_QUESTION = "What number is shown on the gate sign? A. 3 B. 7 C. 12 D. 9"


def card(background: tuple[int, int, int], text: str = "") -> np.ndarray:
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = background
    if text:
        cv2.putText(image, text, (150, 210), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 8)
    return image


@pytest.fixture(scope="session")
def backend() -> CascadeBackend:
    """The process-wide cascade backend, loaded once and shared with the other cascade tests."""
    loaded = get_backend("cascade")
    assert isinstance(loaded, CascadeBackend)
    return loaded


def ask(context: CascadeContext, query: str, t: float, context_seconds: float | None = None) -> str:
    request = AnswerRequest(query, t, context_seconds=context_seconds, choices=split_choices(query)[1])
    return "".join(context.answer(request, CancelToken()))


def test_it_implements_the_backend_protocols(backend: CascadeBackend) -> None:
    assert isinstance(backend, Backend)
    context = backend.open_context()
    assert isinstance(context, BackendContext)
    context.close()
    with pytest.raises(RuntimeError, match="closed"):
        context.ingest_frame(VideoFrame(0.0, card(BLUE)))


def test_multiple_choice_reads_the_gate_sign(backend: CascadeBackend) -> None:
    context = backend.open_context()
    for i in range(6):  # 0.0-2.5 s: a blue screen with a gate sign
        context.ingest_frame(VideoFrame(i / 2, card(BLUE, "GATE 7")))
    answer = ask(context, GATE_QUESTION, 3.0)
    assert answer == "B. 7"
    colour = ask(context, "What colour is the screen?\nA. red\nB. green\nC. blue\nD. yellow", 3.0)
    assert colour.startswith("C")


def test_option_evidence_counts_words_not_percentages() -> None:
    supported = evidence_words(
        [
            Entry("text", "EXIT42", 0.0, 1.0),  # OCR dropped the space
            Entry("colour", "blue 97% whole frame, white 3% centre", 0.0, 1.0),
            Entry("speech", "turn left at the bakery", 0.5, 1.5),
            Entry("scene", "the picture cut to a different view", 1.0, 1.0),
        ]
    )
    assert evidence_match("42", supported) == 1.0
    assert evidence_match("exit 42", supported) == 1.0
    assert evidence_match("97", supported) == 0.0
    assert evidence_match("a blue car", supported) == 0.5
    assert evidence_match("the bakery on the left", supported) == 1.0
    assert evidence_match("a different view", supported) == 0.0
    assert evidence_match("none of the above", supported) == 0.0


def test_context_window_bounds_the_evidence(backend: CascadeBackend) -> None:
    context = backend.open_context()
    for t in (0.0, 0.5, 1.0):  # the sign is shown 100 s before the question...
        context.ingest_frame(VideoFrame(t, card(BLUE, "GATE 7")))
    for t in (1.5, 2.0, 98.0, 99.0, 100.0):  # ...then only a green screen
        context.ingest_frame(VideoFrame(t, card(GREEN)))
    question = "What is written on the sign?"
    window_60 = context.log.retrieve(question, 100.0, 60.0)
    everything = context.log.retrieve(question, 100.0, None)
    assert "GATE 7" not in [e.content for e in window_60]
    assert "GATE 7" in [e.content for e in everything]
    assert ask(context, question, 100.0, 60.0) == "I don't see any text on the screen."
    assert "GATE 7" in ask(context, question, 100.0, None)
    assert ask(context, GATE_QUESTION, 100.0, None) == "B. 7"
    assert ask(context, GATE_QUESTION, 100.0, 60.0).endswith("(a guess: nothing I observed matches any option)")


def test_answers_honestly_when_nothing_was_observed(backend: CascadeBackend) -> None:
    context = backend.open_context()
    assert ask(context, "What is on the screen?", 5.0) == prompt.NOTHING_OBSERVED
    context.ingest_transcript(1.0, 2.5, "welcome aboard the morning ferry")
    assert ask(context, "What is on the screen?", 5.0) == "I don't see anything I can name right now."
    assert ask(context, "What did you hear?", 5.0) == 'I heard "welcome aboard the morning ferry" from 1.0 to 2.5 s.'
    assert ask(context, "Is there a dog?", 5.0) == "No, I don't see a dog."


def test_speech_is_evidence(backend: CascadeBackend) -> None:
    context = backend.open_context()
    context.ingest_transcript(10.0, 12.0, "the train to Boston leaves from platform nine")
    assert "Boston" in ask(context, "Where does the train go?", 15.0)
    assert ask(context, "Where does the train go? A. Denver B. Chicago C. Boston D. Miami", 15.0) == "C. Boston"


def test_options_pull_old_evidence_into_a_long_log(backend: CascadeBackend) -> None:
    context = backend.open_context()
    for i in range(30):
        text = "a child called Maria is waiting at the desk" if i == 1 else f"announcement {i}: please stand clear"
        context.ingest_transcript(2.0 * i, 2.0 * i + 1.0, text)
    question = "Which name was announced? A. Anna B. Maria C. Sofia D. Laura"
    assert "Maria" not in prompt.notes(context.log.retrieve("Which name was announced?", 60.0, None))
    assert ask(context, question, 60.0) == "B. Maria"


def test_prompt_quotes_recent_history_and_marks_interrupted_turns() -> None:
    history = [
        Turn("user", "what colour is the sign?", 3.0),
        Turn("assistant", "The sign is", 3.4, interrupted=True),
        Turn("user", "and now?", 5.0),
        Turn("assistant", "", 5.1, interrupted=True),
    ]
    messages = prompt.open_question("What does it say?", 6.0, [], history, max_turns=3)
    assert [m["role"] for m in messages] == ["system", "user"]  # no worked examples whose facts could leak
    assert messages[-1]["content"] == (
        "Earlier conversation:\n"
        "[3.4s] assistant: The sign is [interrupted]\n"
        "[5.0s] user: and now?\n"
        "[5.1s] assistant: [interrupted before answering]\n\n"
        "Notes (up to 6.0s):\n(no observations)\n\n"
        "Question at 6.0s: What does it say?"
    )


def test_cancelling_an_answer_stops_decoding(backend: CascadeBackend) -> None:
    context = backend.open_context()
    context.ingest_frame(VideoFrame(0.0, card(BLUE, "GATE 7")))
    token = CancelToken()
    before = backend.lm.steps
    pieces = context.answer(AnswerRequest("Tell me a long story about a sailor.", 1.0, max_new_tokens=64), token)
    next(pieces)  # the first sentence: the model is decoding the next one
    assert backend.lm.steps > before
    at_cancel = backend.lm.steps
    token.cancel("interrupted")
    assert list(pieces) == []
    assert backend.lm.steps == at_cancel
    cancelled = CancelToken()
    cancelled.cancel()
    assert (
        list(context.answer(AnswerRequest(GATE_QUESTION, 1.0, choices=split_choices(GATE_QUESTION)[1]), cancelled))
        == []
    )


def test_assets_and_bad_arguments(tmp_path: Path) -> None:
    status = CascadeBackend().check_assets()
    assert status.backend == "cascade" and status.ready, status.detail
    assert "PP-OCRv4" in status.detail and "SmolLM2" in status.detail
    with pytest.raises(ValueError, match="not a local Hugging Face model folder"):
        CascadeBackend(model=str(tmp_path))
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda'"):
        CascadeBackend(device="tpu")
    with pytest.raises(RuntimeError, match="load"):
        CascadeBackend().open_context()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        CascadeBackend(device="cuda").load()


@pytest.mark.e2e
async def test_session_replays_a_clip_with_speech_and_answers_from_it(tmp_path: Path) -> None:
    """Timeline (fast replay of a 12 s clip, 4 fps video + speech):

    0-5 s  blue screen, sign "GATE 7"       4.0 s  typed: the gate multiple-choice question
    5-12 s green screen                      5.5 s  spoken: "the train to Boston leaves from platform nine" (Whisper
                                                    is unsure of "9", so the turn waits the long 1.5 s of silence)
                                            11.5 s  typed: where does the train go?
    """
    fps = 4
    frames = [card(BLUE, "GATE 7") if i < 5 * fps else card(GREEN) for i in range(12 * fps)]
    speech = synth.speak("The train to Boston leaves from platform nine.")
    clip = synth.write_media(tmp_path / "clip.mp4", frames, fps, audio=synth.place(12.0, [(5.5, speech)]))
    options = SessionOptions(response=ResponseOptions(max_new_tokens=32))
    session = await open_session(EngineConfig(backend="cascade", options=options), ReplayClock("fast"))
    events = session.subscribe()
    sources = [
        VideoFileSource(str(clip), fps=2),
        AudioFileSource(str(clip)),
        ScheduledTextSource([(4.0, GATE_QUESTION), (11.5, "Where does the train go?")]),
    ]
    assert await session.run(sources)
    seen: list[Event] = [event async for event in events]

    queries = {e.query_id: e.text for e in seen if isinstance(e, QueryAccepted)}
    asked = {e.response_id: queries[e.query_id] for e in seen if isinstance(e, ResponseStarted)}
    by_query = {asked[e.response_id]: e for e in seen if isinstance(e, ResponseDone)}
    transcripts = [e for e in seen if isinstance(e, Transcript)]
    assert any("boston" in e.text.lower() for e in transcripts)
    gate = by_query[GATE_QUESTION]
    assert gate.status == "completed" and gate.text == "B. 7"
    train = by_query["Where does the train go?"]
    assert train.status == "completed" and "Boston" in train.text
    context = session.context
    assert isinstance(context, CascadeContext)
    assert [e.content for e in context.log.entries() if e.kind == "text"] == ["GATE 7"]

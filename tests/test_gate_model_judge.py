"""The ``model`` gate mode: the session's own omni/vlm model judges whether an utterance was said to it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from app.cli import add_engine_arguments, engine_config
from engine.backends.base import Capabilities
from engine.backends.omni.backend import OmniBackend
from engine.backends.omni.context import JUDGE_QUESTION
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.tiny import cached_tiny
from engine.events import QueryAccepted, QueryIgnored, ResponseStarted, Transcript
from engine.gate import UtteranceFeatures
from engine.gate_policies import ModelJudge, make_policy
from engine.options import GateOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from streams import synth
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.items import SAMPLE_RATE, AudioChunk, VideoFrame
from tests.timeline import run_collect

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Judge:
    """A scripted judge: returns the next probability and records what it was asked."""

    capabilities = Capabilities(judges_addressing=True)

    def __init__(self, *answers: float) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, float, float]] = []

    def judge_addressed(self, text: str, start: float, end: float) -> float:
        self.asked.append((text, start, end))
        return self.answers.pop(0)


def test_the_threshold_decides_and_the_reason_names_the_model() -> None:
    judge = Judge(0.8, 0.3)
    policy = ModelJudge(judge)
    accepted = policy.decide("[Music] what is on the table?", start=1.0, end=2.5)
    ignored = policy.decide("and then we drove home", start=4.0, end=5.0)
    assert (accepted.accepted, accepted.score) == (True, 0.8)
    assert accepted.reason == "the model judged it said to the assistant (p=0.80)"
    assert (ignored.accepted, ignored.score) == (False, 0.3)
    assert judge.asked == [("what is on the table?", 1.0, 2.5), ("and then we drove home", 4.0, 5.0)]
    strict = ModelJudge(Judge(0.8), GateOptions(threshold=0.9))
    assert not strict.decide("what is on the table?", start=0.0, end=1.0).accepted


def test_echo_and_wordless_transcripts_are_refused_without_asking_the_model() -> None:
    judge = Judge()
    policy = ModelJudge(judge)
    echo = UtteranceFeatures(level_dbfs=-20.0, playback_overlap_s=1.8)
    assert "assistant's own playback" in policy.decide("what is that", start=0.0, end=2.0, features=echo).reason
    assert not policy.decide("[Music]", start=0.0, end=2.0).accepted
    assert judge.asked == []


def test_a_backend_that_cannot_judge_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"gate mode .model. needs a backend whose model can judge .*; object cannot"):
        ModelJudge(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="built per session"):
        make_policy("model")
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    with pytest.raises(SystemExit, match=r"--gate model needs the omni, vlm or remote backend .*not cascade"):
        engine_config(parser.parse_args(["--backend", "cascade", "--gate", "model"]))


def test_the_omni_model_judges_on_a_fork_by_its_yes_and_no_logits(omni: OmniBackend) -> None:
    ctx = omni.open_context()
    rng = np.random.default_rng(3)
    for i in range(4):
        ctx.ingest_frame(VideoFrame(i * 0.5, rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
        ctx.ingest_audio(AudioChunk(i * 0.5, (0.1 * rng.standard_normal(8000)).astype(np.float32)))
    kv = ctx._stream()
    before = (kv.length, kv.next_pos, len(kv.segments))

    p = ctx.judge_addressed("what is on the table?", 1.0, 2.0)

    assert before == (kv.length, kv.next_pos, len(kv.segments))  # the stream holds no trace of the question
    question = ctx.adapter.text(ctx.adapter.chat.question(JUDGE_QUESTION.format(text="what is on the table?")))
    mark = kv.mark()
    logits = kv.append("query", 2.0, 2.0, question.input_ids, question.positions, question.inputs)
    kv.rollback(mark)
    yes, no = omni.yes_no_ids
    expected = torch.sigmoid(torch.logsumexp(logits[yes], 0) - torch.logsumexp(logits[no], 0))
    assert 0.0 < p < 1.0 and p == pytest.approx(float(expected), abs=1e-5)
    assert ctx.judge_addressed("what is on the table?", 1.0, 2.0) == pytest.approx(p, abs=1e-6)
    assert not set(yes.tolist()) & set(no.tolist())
    ctx.close()


@pytest.mark.e2e
async def test_a_spoken_question_is_judged_by_the_omni_model_in_a_real_session(tmp_path: Path) -> None:
    """Silero VAD and Whisper find and transcribe the utterance; the tiny omni model, which heard it, decides. Its
    random weights make the verdict arbitrary but fixed, so the test follows whichever it is."""
    clip = synth.speak("what colour is the car on the screen")
    wav = synth.write_wav(tmp_path / "talk.wav", synth.place(1.0 + len(clip) / SAMPLE_RATE + 1.5, [(1.0, clip)]))
    config = EngineConfig(
        backend="omni",
        model=str(cached_tiny("omni")),
        device="cpu",
        options=SessionOptions(gate_mode="model"),
        backend_options=OmniOptions(window_seconds=5.0),
    )
    session = await open_session(config, ReplayClock("fast"))
    assert isinstance(session.policy, ModelJudge) and session.policy.judge is session.context

    events = await run_collect(session, [AudioFileSource(str(wav))])

    transcripts = [e for e in events if isinstance(e, Transcript)]
    assert len(transcripts) == 1 and "car" in transcripts[0].text.lower()
    decisions = [e for e in events if isinstance(e, (QueryAccepted, QueryIgnored)) and e.source == "speech"]
    assert len(decisions) == 1 and decisions[0].reason.startswith("the model judged it")
    assert decisions[0].score is not None and 0.0 < decisions[0].score < 1.0
    answered = any(isinstance(e, ResponseStarted) for e in events)
    assert answered == isinstance(decisions[0], QueryAccepted)

"""End to end through the real audio front end: a WAV replayed into a session with Silero VAD and Whisper base."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.asr import WhisperTranscriber
from engine.events import QueryAccepted, ResponseDone, SessionEnded, SpeechStarted, SpeechStopped, Transcript
from engine.options import AsrOptions
from engine.session import Session
from engine.vad import SileroVadModel
from streams import synth
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.items import SAMPLE_RATE
from tests.fakes import ScriptedBackendContext
from tests.timeline import run_collect, types

FIRST = "what colour is the car on the screen"
SECOND = "how many people are sitting at the table"


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower().replace("color", "colour")))


def heard(said: str, text: str) -> bool:
    return len(words(said) & words(text)) >= 0.7 * len(words(said))


def audible_end(clip: np.ndarray) -> float:
    """Seconds into the clip of its last audible sample (espeak-ng pads its output with silence)."""
    return float(np.nonzero(np.abs(clip) > 0.02)[0][-1]) / SAMPLE_RATE


@pytest.mark.e2e
async def test_two_spoken_questions_are_transcribed_and_answered_in_order(tmp_path: Path) -> None:
    first, second = synth.speak(FIRST), synth.speak(SECOND)
    first_end, second_end = 1.0 + audible_end(first), 5.0 + audible_end(second)
    track = synth.place(5.0 + len(second) / SAMPLE_RATE + 1.0, [(1.0, first), (5.0, second)])
    wav = synth.write_wav(tmp_path / "talk.wav", track)
    ctx = ScriptedBackendContext()
    session = Session(
        ctx,
        clock=ReplayClock("fast"),
        backend_name="scripted",
        vad=SileroVadModel.load().detector(),
        transcriber=WhisperTranscriber(AsrOptions()),
    )

    events = await run_collect(session, [AudioFileSource(str(wav))])

    turn = ["speech.started", "speech.stopped", "transcript", "query.accepted", "response.started"]
    kinds = types(events)
    first_done = kinds.index("response.done")
    assert kinds[:6] == ["session.started", *turn]
    assert set(kinds[6:first_done]) == {"response.delta"}
    assert kinds[first_done + 1 : first_done + 6] == turn
    assert set(kinds[first_done + 6 : -2]) == {"response.delta"}
    assert kinds[-2:] == ["response.done", "session.ended"]

    started = [e for e in events if isinstance(e, SpeechStarted)]
    stopped = [e for e in events if isinstance(e, SpeechStopped)]
    transcripts = [e for e in events if isinstance(e, Transcript)]
    queries = [e for e in events if isinstance(e, QueryAccepted)]
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [e.t for e in started] == pytest.approx([1.0, 5.0], abs=0.3)
    for stop, onset, end in zip(stopped, started, [first_end, second_end], strict=True):
        assert stop.start == pytest.approx(onset.t, abs=0.05)
        assert stop.t == pytest.approx(stop.start + stop.duration, abs=1e-3)  # stamped at the end of the voice
        assert stop.t == pytest.approx(end, abs=0.2)
    for transcript, stop, said in zip(transcripts, stopped, [FIRST, SECOND], strict=True):
        assert heard(said, transcript.text), transcript.text
        assert (transcript.start, transcript.end) == pytest.approx((stop.start, stop.t), abs=1e-3)
        # the utterance closes after 500 ms of silence; fast replay holds the stream time while ASR runs
        assert stop.t + 0.45 <= transcript.t <= stop.t + 0.7
        assert transcript.asr_ms > 0
    assert [q.text for q in queries] == [t.text for t in transcripts]
    assert all(q.source == "speech" for q in queries)
    assert [d.status for d in done] == ["completed", "completed"]
    assert [d.text for d in done] == [f"answer to {t.text}" for t in transcripts]
    assert [text for _, _, text in ctx.transcripts] == [t.text for t in transcripts]
    times = [e.t for e in events if e.type != "metrics"]
    assert times == sorted(times)
    assert isinstance(events[-1], SessionEnded) and events[-1].reason == "sources exhausted"

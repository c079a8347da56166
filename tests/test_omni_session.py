"""Both transformers backends driven through the real Session, as ``cascade`` is: a replayed mp4 (and wav), a typed
question, response events out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
import torch

from engine.backends.omni.backend import OmniBackend, VlmBackend
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.tiny import cached_tiny
from engine.events import Error, QueryAccepted, ResponseDelta, ResponseDone, ResponseStarted
from engine.session import Session
from streams.audio import AudioFileSource
from streams.clock import ReplayClock
from streams.text import ScheduledTextSource
from streams.video import VideoFileSource
from tests.timeline import run_collect

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Six seconds of a white square moving 20 px/s (10 fps, 96×96 mp4) and of a 440 Hz tone (16 kHz wav)."""
    folder = tmp_path_factory.mktemp("omni-media")
    video = folder / "square.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (96, 96))
    for i in range(60):
        image = np.zeros((96, 96, 3), dtype=np.uint8)
        x = (4 + 2 * i) % 70
        cv2.rectangle(image, (x, 30), (x + 24, 54), (255, 255, 255), -1)
        writer.write(image)
    writer.release()
    wav = folder / "tone.wav"
    t = np.arange(6 * 16_000) / 16_000
    sf.write(wav, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000)
    return video, wav


@pytest.mark.parametrize(
    "backend_cls, kind",
    [
        (OmniBackend, "omni"),
        (VlmBackend, "vl"),
        (VlmBackend, "smolvlm"),
        (VlmBackend, "idefics3"),
        (VlmBackend, "llava_onevision"),
    ],
)
async def test_backend_answers_a_question_about_a_replayed_video(backend_cls, kind, media):
    video, wav = media
    backend = backend_cls(str(cached_tiny(kind)), "cpu", OmniOptions(window_seconds=3.0))
    backend.load()
    ctx = backend.open_context()
    session = Session(ctx, clock=ReplayClock("fast"), backend_name=backend.name)
    sources = [
        VideoFileSource(str(video), fps=2.0),
        AudioFileSource(str(wav)),
        ScheduledTextSource([(4.0, "what is moving?")]),
    ]
    events = await run_collect(session, sources)
    assert not [e for e in events if isinstance(e, Error)]
    accepted = [e for e in events if isinstance(e, QueryAccepted)]
    assert [(e.t, e.text) for e in accepted] == [(4.0, "what is moving?")]
    started = [e for e in events if isinstance(e, ResponseStarted)]
    deltas = [e for e in events if isinstance(e, ResponseDelta)]
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert len(started) == 1 and len(done) == 1
    assert done[0].status == "completed" and done[0].text == "".join(d.text for d in deltas)
    assert all(d.t == 4.0 for d in deltas)  # answered at the question's stream time
    assert ctx.kv is None  # the session closed the context (and freed its cache) at the end
    assert ctx.deduper.dropped == 0  # the square moves enough for every frame to count
    assert ctx.chunks_prefilled >= 5  # six seconds of 1 s chunks, the last flushed by the question or pending


async def test_out_of_memory_during_ingest_shrinks_the_window_and_the_session_goes_on(media):
    """CPU cannot run out of GPU memory, so the third chunk's prefill raises it instead (the retry succeeds)."""
    video, wav = media
    backend = OmniBackend(str(cached_tiny("omni")), "cpu", OmniOptions(window_seconds=8.0, dedupe_threshold=0.0))
    backend.load()
    ctx = backend.open_context()
    prefills = []

    def fail_the_third(module: object, args: object) -> None:
        prefills.append(1)
        if len(prefills) == 3:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    hook = backend.model.model.register_forward_pre_hook(fail_the_third)
    try:
        session = Session(ctx, clock=ReplayClock("fast"), backend_name="omni")
        question = ScheduledTextSource([(5.0, "what?")])
        sources = [VideoFileSource(str(video), fps=2.0), AudioFileSource(str(wav)), question]
        events = await run_collect(session, sources)
    finally:
        hook.remove()
    errors = [e for e in events if isinstance(e, Error)]
    assert [(e.source, e.fatal) for e in errors] == [("backend", False)]
    assert "out of memory while prefilling the stream at 2.0-3.0 s" in errors[0].message
    assert "media window shrunk from 8 s to 4 s; the stream continues" in errors[0].message
    done = [e for e in events if isinstance(e, ResponseDone)]
    assert [d.status for d in done] == ["completed"]  # the question after the OOM was answered
    assert errors[0].t < done[0].t
    assert ctx.window.window_seconds == 4.0 and ctx.chunks_prefilled >= 5  # no chunk was lost

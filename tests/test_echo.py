"""Echo suppression with real synthetic speech: the assistant's voice coming back is not the user."""

from __future__ import annotations

import numpy as np
import pytest

from engine.echo import EchoGuard
from engine.events import ResponsePaused, SpeechStarted
from engine.session import Session
from streams.clock import ReplayClock
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk
from streams.synth import place, speak
from streams.text import ScheduledTextSource
from tests.fakes import ScriptedBackendContext, ScriptedTranscriber, ScriptedVad
from tests.timeline import ScriptedSource, run_collect


@pytest.fixture(scope="module")
def voices() -> tuple[np.ndarray, np.ndarray]:
    assistant = speak("The red car is parked next to the blue door on the left side of the street.")
    user = speak("Wait, stop, what about the truck?", voice="en-gb", pitch=20)
    return assistant, user


def windows(signal: np.ndarray):
    for i in range(0, len(signal) - CHUNK_SAMPLES + 1, CHUNK_SAMPLES):
        yield i / SAMPLE_RATE, signal[i : i + CHUNK_SAMPLES]


def voiced(signal: np.ndarray) -> list[tuple[float, np.ndarray]]:
    return [(t, w) for t, w in windows(signal) if np.sqrt(np.mean(w**2)) > 0.05]


def test_delayed_attenuated_playback_is_echo_and_other_speech_is_not(voices):
    assistant, user = voices
    guard = EchoGuard()
    guard.add_playback(1.0, assistant)
    delay = int(0.12 * SAMPLE_RATE)
    mic = place(6.0, [(1.0 + delay / SAMPLE_RATE, 0.6 * assistant)]) + np.random.default_rng(0).normal(0, 0.003, 96000)
    echo_windows = voiced(mic.astype(np.float32))
    assert echo_windows
    share = np.mean([guard.is_echo(t, w) for t, w in echo_windows])
    assert share > 0.9
    user_track = place(6.0, [(1.5, user)])
    user_windows = voiced(user_track)
    assert np.mean([guard.is_echo(t, w) for t, w in user_windows]) < 0.1
    # the user talking over the echo, louder than it, is not suppressed
    both = (0.3 * mic + user_track).astype(np.float32)
    over = [(t, both[round(t * SAMPLE_RATE) : round(t * SAMPLE_RATE) + CHUNK_SAMPLES]) for t, _ in user_windows]
    assert np.mean([guard.is_echo(t, w) for t, w in over]) < 0.2


def test_nothing_played_means_no_echo(voices):
    assert not EchoGuard().is_echo(0.0, voices[0][:CHUNK_SAMPLES])


def mic_source(signal: np.ndarray) -> ScriptedSource:
    chunks = [AudioChunk(t=round(t, 5), samples=w.astype(np.float32)) for t, w in windows(signal)]
    return ScriptedSource("mic", "audio", chunks)


async def test_the_assistants_own_voice_does_not_barge_in_but_the_user_does(voices):
    assistant, user = voices
    delay = 0.1
    echo_only = place(5.0, [(0.2 + delay, 0.6 * assistant[: 4 * SAMPLE_RATE])])

    async def run(mic: np.ndarray) -> list:
        ctx = ScriptedBackendContext(words_per_answer=60, seconds_per_word=0.05)
        session = Session(ctx, clock=ReplayClock("realtime"), vad=ScriptedVad(), transcriber=ScriptedTranscriber([]))
        session.note_playback(0.2, assistant)  # the reply is being spoken from 0.2 s
        return await run_collect(session, [mic_source(mic), ScheduledTextSource([(0.0, "describe the street")])])

    events = await run(echo_only)
    assert not any(isinstance(e, SpeechStarted | ResponsePaused) for e in events)
    with_user = (echo_only + place(5.0, [(1.5, user)])).astype(np.float32)
    events = await run(with_user)
    paused = [e for e in events if isinstance(e, ResponsePaused)]
    assert paused and paused[0].t == pytest.approx(1.5, abs=0.3)

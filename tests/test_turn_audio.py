"""Manual turns' audio buffer: commits and clears by stream position, the length cap, and resets."""

from __future__ import annotations

import numpy as np

from engine.turn_audio import TurnAudio
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk

CHUNK_S = CHUNK_SAMPLES / SAMPLE_RATE


def chunk(k: int) -> AudioChunk:
    return AudioChunk(t=k * CHUNK_S, samples=np.full(CHUNK_SAMPLES, k, np.float32))


def test_a_commit_takes_the_audio_up_to_its_position_even_if_it_is_still_arriving() -> None:
    audio: TurnAudio[str] = TurnAudio(max_seconds=30.0)
    for k in range(3):
        audio.add(chunk(k), keep=True)
    audio.mark("first", through=5)  # the client sent 5 chunks; 2 are still on their way
    assert list(audio.due()) == [] and audio.waiting
    for k in range(3, 7):
        audio.add(chunk(k), keep=True)
    ((turn, commit),) = audio.due()
    assert commit == "first" and [c.t for c in turn] == [k * CHUNK_S for k in range(5)]
    audio.mark(None)  # a clear of what arrived since: chunk 5 and 6
    audio.add(chunk(7), keep=True)
    audio.mark("second")
    assert [(len(turn), commit) for turn, commit in audio.due()] == [(2, None), (1, "second")]
    assert not audio.waiting


def test_only_kept_audio_is_held_but_every_chunk_counts_as_a_position() -> None:
    audio: TurnAudio[str] = TurnAudio(max_seconds=30.0)
    audio.add(chunk(0), keep=False)
    audio.add(chunk(1), keep=True)
    audio.mark("c")
    ((turn, _),) = audio.due()
    assert audio.received == 2 and [c.t for c in turn] == [CHUNK_S]


def test_the_cap_drops_the_oldest_audio_and_says_so_once_per_turn() -> None:
    audio: TurnAudio[str] = TurnAudio(max_seconds=4 * CHUNK_S)
    reports = [audio.add(chunk(k), keep=True) for k in range(8)]
    assert reports == [False] * 4 + [True] + [False] * 3
    audio.mark("c")
    ((turn, _),) = audio.due()
    assert [round(c.t / CHUNK_S) for c in turn] == [4, 5, 6, 7]
    assert [audio.add(chunk(k), keep=True) for k in range(8, 13)] == [False] * 4 + [True]


def test_reset_drops_audio_and_marks_and_returns_the_commits_that_will_not_happen() -> None:
    audio: TurnAudio[str] = TurnAudio(max_seconds=30.0)
    audio.add(chunk(0), keep=True)
    audio.mark("a", through=3)
    audio.mark(None, through=4)
    audio.mark("b", through=5)
    assert audio.reset() == ["a", "b"] and not audio.waiting
    audio.mark("c")
    ((turn, commit),) = audio.due()
    assert (turn, commit) == ([], "c")

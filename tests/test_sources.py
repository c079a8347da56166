"""File sources: resampling, timestamps and clear errors for bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import soundfile as sf

from streams.audio import AudioFileSource, ChunkAssembler
from streams.items import CHUNK_SAMPLES, SAMPLE_RATE
from streams.source import SourceError
from streams.video import VideoFileSource


def write_video(path, seconds: float, fps: int = 10, size=(64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(int(seconds * fps)):
        frame = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
        frame[:, :, 2] = 200  # red in BGR
        writer.write(frame)
    writer.release()


async def collect(source):
    source.open()
    try:
        return [item async for item in source.items(lambda: 0.0)]
    finally:
        source.close()


async def test_video_file_is_resampled_to_the_target_fps_with_media_timestamps(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, seconds=3.0, fps=10)
    source = VideoFileSource(str(path), fps=2.0)
    frames = await collect(source)
    assert [f.t for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].image[0, 0, 0] > 150  # converted to RGB: red first
    assert source.frames_decoded == 30


async def test_video_fps_higher_than_native_keeps_every_frame(tmp_path):
    path = tmp_path / "slow.mp4"
    write_video(path, seconds=1.0, fps=5)
    frames = await collect(VideoFileSource(str(path), fps=30))
    assert [f.t for f in frames] == [0.0, 0.2, 0.4, 0.6, 0.8]


def test_missing_and_unreadable_video_name_the_source(tmp_path):
    with pytest.raises(SourceError, match=r"video:nope.mp4: file not found"):
        VideoFileSource(str(tmp_path / "nope.mp4")).open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match=r"video:junk.mp4: (cannot open as video|no decodable video frames)"):
        VideoFileSource(str(junk)).open()
    with pytest.raises(ValueError, match="fps must be positive"):
        VideoFileSource(str(junk), fps=0)


@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (8_000, 1), (48_000, 6)])
async def test_audio_of_any_rate_and_channel_count_becomes_16k_mono_chunks(tmp_path, rate, channels):
    seconds = 1.5
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / f"a{rate}_{channels}.wav"
    sf.write(path, data, rate)
    chunks = await collect(AudioFileSource(str(path)))
    assert all(len(c.samples) == CHUNK_SAMPLES and c.samples.dtype == np.float32 for c in chunks)
    total = sum(len(c.samples) for c in chunks)
    assert abs(total - seconds * SAMPLE_RATE) <= CHUNK_SAMPLES + 64
    assert [c.t for c in chunks[:3]] == [0.0, 0.032, 0.064]
    level = np.sqrt(np.mean(np.concatenate([c.samples for c in chunks[2:-2]]) ** 2))
    assert level == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # mono downmix keeps the level


async def test_empty_audio_and_video_without_audio_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16_000)
    with pytest.raises(SourceError, match=r"audio:empty\.wav: the audio track is empty"):
        await collect(AudioFileSource(str(empty)))
    silent_video = tmp_path / "v.mp4"
    write_video(silent_video, 0.5)
    with pytest.raises(SourceError, match="no audio track"):
        AudioFileSource(str(silent_video)).open()
    with pytest.raises(SourceError, match="file not found"):
        AudioFileSource(str(tmp_path / "missing.wav")).open()


def test_chunk_assembler_keeps_remainders_and_pads_the_tail():
    asm = ChunkAssembler(4)
    assert asm.push(np.arange(3, dtype=np.float32)) == []
    out = asm.push(np.arange(3, 9, dtype=np.float32))
    assert [list(c) for c in out] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(asm.flush()) == [8, 0, 0, 0]
    assert asm.flush() is None

"""The transformers backends on tiny random-weight Qwen2.5-Omni thinker and Qwen2.5-VL models built offline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.backends.base import AnswerRequest, Turn
from engine.backends.omni.backend import OmniBackend, VlmBackend
from engine.backends.omni.context import StreamContext
from engine.backends.omni.errors import DeviceUnavailable, ModelLoadError, WindowShrunk
from engine.backends.omni.eviction import FrameDeduper
from engine.backends.omni.kv_stream import KvStream
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.tiny import cached_tiny
from engine.cancel import CancelToken
from streams.items import AudioChunk, VideoFrame

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEEP_ALL = OmniOptions(dedupe_threshold=0.0)


@pytest.fixture(scope="module")
def vlm() -> VlmBackend:
    backend = VlmBackend(str(cached_tiny("vl")), "cpu", KEEP_ALL)
    backend.load()
    return backend


def frame(t: float, seed: int) -> VideoFrame:
    return VideoFrame(t, np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8))


def audio(t: float, seconds: float, seed: int) -> AudioChunk:
    rng = np.random.default_rng(seed)
    return AudioChunk(t, (0.1 * rng.standard_normal(int(16_000 * seconds))).astype(np.float32))


def stream(ctx: StreamContext, seconds: float, *, with_audio: bool = True) -> list[int]:
    """Feed ``seconds`` of 2 fps frames and 0.5 s audio chunks; returns the KV size after each item."""
    sizes = []
    for i in range(int(seconds * 2)):
        t = i * 0.5
        ctx.ingest_frame(frame(t, i))
        if with_audio:
            ctx.ingest_audio(audio(t, 0.5, 1000 + i))
        sizes.append(ctx.kv_tokens)
    return sizes


def stream_from(ctx: StreamContext, start: float, end: float) -> list[int]:
    """Like ``stream`` from ``start`` to ``end`` seconds."""
    sizes = []
    for i in range(int(start * 2), int(end * 2)):
        ctx.ingest_frame(frame(i * 0.5, i))
        ctx.ingest_audio(audio(i * 0.5, 0.5, 1000 + i))
        sizes.append(ctx.kv_tokens)
    return sizes


def question_logits(ctx: StreamContext, text: str, hidden: list[int]) -> torch.Tensor:
    """First-token logits for ``text`` on a fork, with the segments at indices ``hidden`` masked out."""
    q = ctx.adapter.text(f"<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")
    kv = ctx._stream()
    mask = torch.cat([kv.key_mask(hidden), torch.ones(q.length, dtype=torch.long)])[None]
    mark = kv.mark()
    logits = kv.append("query", 9.0, 9.0, q.input_ids, q.positions, q.inputs, attention_mask=mask)
    kv.rollback(mark)
    return logits


def test_omni_incremental_prefill_gives_the_one_shot_logits(omni):
    ctx = omni.open_context()
    parts = [ctx.adapter.text(f"<|im_start|>system\n{KEEP_ALL.system_prompt}<|im_end|>\n<|im_start|>user\n")]
    kv = KvStream(omni.model, omni.inv_freq, omni.model.config.get_text_config())
    kv.append("prompt", 0, 0, parts[0].input_ids, parts[0].positions, {})
    for second in range(3):
        frames = [frame(second, 10 * second).image, frame(second + 0.5, 10 * second + 1).image]
        part = ctx.adapter.media(f"\n{second}s:", frames, audio(second, 1.0, second).samples, "", 1.0)
        kv.append("media", second, second + 1, part.input_ids, part.positions, part.inputs)
        parts.append(part)
    question = ctx.adapter.text("<|im_end|>\n<|im_start|>user\nwhat colour is the ball?<|im_end|>\n")
    incremental = kv.append("query", 3, 3, question.input_ids, question.positions, {})
    parts.append(question)

    media = parts[1:-1]
    ids = torch.cat([p.input_ids for p in parts], dim=1)
    with torch.inference_mode():
        full = omni.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values_videos=torch.cat([p.inputs["pixel_values_videos"] for p in media]),
            video_grid_thw=torch.cat([p.inputs["video_grid_thw"] for p in media]),
            input_features=torch.cat([p.inputs["input_features"] for p in media]),
            feature_attention_mask=torch.cat([p.inputs["feature_attention_mask"] for p in media]),
            use_audio_in_video=True,
            video_second_per_grid=torch.ones(len(media)),
        )
        official, _ = omni.model.get_rope_index(
            ids,
            video_grid_thw=torch.cat([p.inputs["video_grid_thw"] for p in media]),
            attention_mask=torch.ones_like(ids),
            use_audio_in_video=True,
            audio_seqlens=torch.cat([p.inputs["feature_attention_mask"].sum(-1) for p in media]),
            second_per_grids=torch.ones(len(media)),
        )
    assert kv.length == ids.shape[1]
    assert kv.next_pos == int(official.max()) + 1
    torch.testing.assert_close(incremental, full.logits[0, -1].float(), atol=1e-4, rtol=1e-4)
    ctx.close()


def test_omni_video_and_audio_share_time_aligned_positions(omni):
    """Four seconds at 2 fps with their audio: each pair of frames is one temporal patch whose tokens sit at the
    temporal position of its second (25 per second), the audio advances 25 per second from the same start, and the
    two are interleaved in the model's 2 s runs."""
    ctx = omni.open_context()
    adapter = ctx.adapter
    frames = [frame(i / 2, i).image for i in range(8)]
    part = adapter.media("\n0s:", frames, audio(0.0, 4.0, 7).samples, "", 4.0)
    ids, temporal = part.input_ids[0], part.positions[0, 0]
    video, heard = ids == adapter.video_token_id, ids == adapter.audio_token_id
    start = int(temporal[video | heard].min())
    assert part.inputs["video_grid_thw"].tolist() == [[4, 4, 4]]
    assert sorted(set((temporal[video] - start).tolist())) == [0, 25, 50, 75]
    assert (temporal[heard] - start).tolist() == list(range(int(heard.sum())))
    assert int(heard.sum()) == 100
    runs = ((temporal[video | heard] - start) // 50).tolist()
    assert runs == sorted(runs) and set(runs) == {0, 1}
    assert ids[: int(torch.nonzero(video | heard)[0])].tolist()[-2:] == [adapter.vision_bos, adapter.audio_bos]
    ctx.close()


def test_frames_of_one_chunk_become_one_clip_with_half_the_tokens(omni):
    """Two frames share one temporal patch, each patch holding one frame in each temporal slot; a frame alone is
    repeated to fill it (which is exactly its image input). Frames that differ in size go in as images."""
    ctx = omni.open_context()
    adapter = ctx.adapter
    first, second = frame(0, 1).image, frame(0.5, 2).image
    pair = adapter.media("\n0s:", [first, second], None, "", 1.0)
    single = adapter.media("\n0s:", [first], None, "", 1.0)
    as_image = [adapter._images([f])[0]["pixel_values"] for f in (first, second)]

    assert pair.inputs["video_grid_thw"].tolist() == single.inputs["video_grid_thw"].tolist() == [[1, 4, 4]]
    assert int((pair.input_ids == adapter.video_token_id).sum()) == 4  # 4×4 patches merged 2×2, both frames
    slots = pair.inputs["pixel_values_videos"].view(16, 3, 2, 14 * 14)
    torch.testing.assert_close(slots[:, :, 0], as_image[0].view(16, 3, 2, 14 * 14)[:, :, 0])
    torch.testing.assert_close(slots[:, :, 1], as_image[1].view(16, 3, 2, 14 * 14)[:, :, 0])
    torch.testing.assert_close(single.inputs["pixel_values_videos"], as_image[0])

    mixed = adapter.media("\n0s:", [first, np.zeros((96, 64, 3), np.uint8)], None, "", 1.0)
    assert "pixel_values_videos" not in mixed.inputs
    grids = mixed.inputs["image_grid_thw"]
    assert grids.shape[0] == 2
    assert int((mixed.input_ids == adapter.image_token_id).sum()) == int(grids.prod(-1).sum()) // 4
    ctx.close()


def test_vlm_incremental_prefill_gives_the_one_shot_logits(vlm):
    ctx = vlm.open_context()
    prompt = ctx.adapter.text("<|im_start|>system\nwatch<|im_end|>\n<|im_start|>user\n")
    parts = [prompt]
    kv = KvStream(vlm.model, vlm.inv_freq, vlm.model.config.get_text_config())
    kv.append("prompt", 0, 0, prompt.input_ids, prompt.positions, {})
    for second in range(3):
        frames = [frame(second, 10 * second).image, frame(second + 0.5, 10 * second + 1).image]
        part = ctx.adapter.media(f"\n{second}s:", frames, None, f" (heard {second} s: hello world)", 1.0)
        kv.append("media", second, second + 1, part.input_ids, part.positions, part.inputs)
        parts.append(part)
    question = ctx.adapter.text("<|im_end|>\n<|im_start|>user\nwhat is on the table?<|im_end|>\n")
    incremental = kv.append("query", 3, 3, question.input_ids, question.positions, {})
    parts.append(question)
    media = parts[1:-1]
    ids = torch.cat([p.input_ids for p in parts], dim=1)
    with torch.inference_mode():
        full = vlm.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            mm_token_type_ids=2 * (ids == ctx.adapter.video_token_id).int(),
            pixel_values_videos=torch.cat([p.inputs["pixel_values_videos"] for p in media]),
            video_grid_thw=torch.cat([p.inputs["video_grid_thw"] for p in media]),
            second_per_grid_ts=torch.ones(len(media)),
        )
    torch.testing.assert_close(incremental, full.logits[0, -1].float(), atol=1e-4, rtol=1e-4)
    ctx.close()


def test_vlm_clip_places_each_temporal_patch_at_its_second(vlm):
    ctx = vlm.open_context()
    adapter = ctx.adapter
    part = adapter.media("\n0s:", [frame(i / 2, i).image for i in range(8)], None, "", 4.0)
    video = part.input_ids[0] == adapter.video_token_id
    temporal = part.positions[0, 0, video]
    per_second = vlm.model.config.vision_config.tokens_per_second
    assert part.inputs["video_grid_thw"].tolist() == [[4, 4, 4]]
    assert sorted(set((temporal - temporal.min()).tolist())) == [per_second * k for k in range(4)]
    assert bool(part.vision[video].all()) and int(part.vision.sum()) == 16
    ctx.close()


def test_shifted_keys_equal_keys_computed_at_the_shifted_position(omni):
    ctx = omni.open_context()
    seg = ctx.adapter.text("the quick brown fox jumps over the lazy dog")
    config = omni.model.config.get_text_config()
    near, far = (KvStream(omni.model, omni.inv_freq, config) for _ in range(2))
    far.next_pos = 5000
    near.next_pos = 37
    for kv in (near, far):
        kv.append("dialogue", 0, 0, seg.input_ids, seg.positions, {})
    from engine.backends.omni.rope import shift_keys

    moved = shift_keys(far.layers()[0].keys, torch.full((seg.length,), 5000 - 37), omni.inv_freq)
    torch.testing.assert_close(moved, near.layers()[0].keys, atol=2e-4, rtol=1e-4)
    ctx.close()


def test_window_keeps_the_kv_cache_bounded_with_contiguous_positions(omni):
    ctx = omni.open_context(OmniOptions(window_seconds=3.0, dedupe_threshold=0.0))
    sizes = stream(ctx, 10.0)
    kv = ctx._stream()
    reserved = kv.reserved_bytes
    sizes += stream_from(ctx, 10.0, 20.0)
    assert kv.reserved_bytes == reserved  # the KV buffers stopped growing once the window was full
    media = [s for s in kv.segments if s.kind == "media"]
    assert [s.t0 for s in media] == [17.0, 18.0, 19.0]  # a 3 s window; the last chunk's audio completed it
    assert max(sizes[12:]) == max(sizes[-12:])  # flat once the window is full
    assert kv.segments[0].kind == "prompt" and kv.segments[0].pos_start == 0
    for before, after in zip(kv.segments, kv.segments[1:], strict=False):
        assert after.pos_start == before.pos_end
    assert kv.next_pos == kv.segments[-1].pos_end
    assert all(layer.keys.shape[-2] == sum(s.length for s in kv.segments) for layer in kv.layers())
    assert kv.next_pos < 110 + 4 * 45  # positions are compacted, not growing with the stream
    assert "".join(ctx.answer(AnswerRequest("what happened?", 20.0, max_new_tokens=4), CancelToken())) is not None
    ctx.close()


def test_max_kv_tokens_caps_the_cache_keeping_prompt_and_dialogue(omni):
    ctx = omni.open_context(OmniOptions(max_kv_tokens=260, dedupe_threshold=0.0))
    stream(ctx, 3.0)
    list(ctx.answer(AnswerRequest("first?", 3.0, max_new_tokens=2), CancelToken()))
    history = (Turn("user", "first?", 3.0), Turn("assistant", "yes", 3.1))
    list(ctx.answer(AnswerRequest("second?", 3.2, history=history, max_new_tokens=2), CancelToken()))
    sizes = stream(ctx, 12.0)
    kinds = [s.kind for s in ctx._stream().segments]
    assert max(sizes) <= 260 + 44  # at most one chunk over the cap before eviction
    assert kinds[0] == "prompt" and "dialogue" in kinds
    ctx.close()


def test_text_prior_compression_keeps_a_share_of_old_vision_entries(omni):
    opts = OmniOptions(dedupe_threshold=0.0, compress_after_seconds=2.0, compress_keep_ratio=0.25)
    ctx = omni.open_context(opts)
    stream(ctx, 8.0)
    segments = ctx._stream().segments
    old = [s for s in segments if s.kind == "media" and s.t1 <= 5.0]
    new = [s for s in segments if s.kind == "media" and s.t1 > 6.0]
    per_second = 4  # one clip of two 64×64 frames: 4×4 patches merged 2×2
    assert old and all(s.compressed and int(s.vision.sum()) == math.ceil(0.25 * per_second) for s in old)
    assert new and all(not s.compressed and int(s.vision.sum()) == per_second for s in new)
    assert sum(s.length for s in segments) == ctx.kv_tokens
    assert "".join(ctx.answer(AnswerRequest("and now?", 8.0, max_new_tokens=3), CancelToken())) is not None
    ctx.close()


def test_near_duplicate_frames_are_dropped_before_encoding():
    deduper = FrameDeduper(0.02)
    still = np.full((64, 64, 3), 120, dtype=np.uint8)
    noisy = still.copy()
    noisy[0, 0] = 0  # one pixel: a near duplicate
    moved = np.roll(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3)), 8, axis=1)
    assert [deduper.keep(x) for x in (still, noisy, still, moved, moved)] == [True, False, False, True, False]
    assert deduper.dropped == 3
    assert FrameDeduper(0.0).keep(still) and FrameDeduper(0.0).keep(still)
    refreshing = FrameDeduper(0.02, refresh_seconds=5.0)
    kept = [refreshing.keep(still, t) for t in (0.0, 1.0, 4.5, 5.0, 6.0, 10.0)]
    assert kept == [True, False, False, True, False, True]  # a still scene is re-sent every 5 s


def test_answers_reuse_the_kv_buffers_instead_of_copying_the_cache(omni):
    ctx = omni.open_context()
    stream(ctx, 3.0)
    list(ctx.answer(AnswerRequest("warm up", 3.0, max_new_tokens=6), CancelToken()))  # flushes the pending chunk
    kv = ctx._stream()
    layer = kv.layers()[0]
    buffer, reserved, before = layer.keys.data_ptr(), kv.reserved_bytes, kv.length
    for _ in range(3):
        assert list(ctx.answer(AnswerRequest("what is it?", 3.0, max_new_tokens=6), CancelToken()))
    assert layer.keys.data_ptr() == buffer and kv.reserved_bytes == reserved and kv.length == before
    assert layer.keys.shape[-2] == before < layer._keys.shape[-2]  # a view of the filled part of a larger buffer
    ctx.close()


def test_cancel_stops_decoding_within_one_step(omni):
    ctx = omni.open_context()
    stream(ctx, 2.0)
    calls = []
    hook = omni.model.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        before = ctx.kv_tokens
        token = CancelToken()
        pieces = ctx.answer(AnswerRequest("describe it", 2.0, max_new_tokens=50), token)
        first = next(pieces)
        assert first
        calls_at_cancel = len(calls)
        token.cancel("barge-in")
        assert list(pieces) == []
        assert len(calls) == calls_at_cancel  # no decoding step ran after the cancel
        kinds = [s.kind for s in ctx._stream().segments]
        assert "query" not in kinds and ctx.kv_tokens == before  # the fork was cropped back
        assert ctx._lock.acquire(blocking=False)
        ctx._lock.release()
    finally:
        hook.remove()
    ctx.close()


def test_answer_tokens_do_not_stay_in_the_stream_context(omni):
    ctx = omni.open_context()
    stream(ctx, 3.0)
    list(ctx.answer(AnswerRequest("warm up", 3.0, max_new_tokens=1), CancelToken()))
    before = [(s.kind, s.length) for s in ctx._stream().segments]
    pieces = list(ctx.answer(AnswerRequest("what is it?", 3.0, max_new_tokens=12), CancelToken()))
    assert pieces
    assert [(s.kind, s.length) for s in ctx._stream().segments] == before
    history = (Turn("user", "what is it?", 3.0), Turn("assistant", "".join(pieces), 3.5, interrupted=False))
    list(ctx.answer(AnswerRequest("and then?", 4.0, history=history, max_new_tokens=1), CancelToken()))
    kinds = [s.kind for s in ctx._stream().segments]
    assert kinds[-1] == "dialogue" and kinds.count("dialogue") == 1
    list(ctx.answer(AnswerRequest("again?", 4.5, history=history, max_new_tokens=1), CancelToken()))
    assert [s.kind for s in ctx._stream().segments].count("dialogue") == 1  # turns are added once
    ctx.close()


@pytest.mark.parametrize("failures, dropped, kept", [(1, False, [7.0, 8.0, 9.0, 10.0]), (2, True, [7.0, 8.0, 9.0])])
def test_out_of_memory_during_ingest_shrinks_the_window_and_goes_on(omni, failures, dropped, kept):
    """CPU cannot run out of GPU memory, so the next prefills after the hook is armed raise it instead."""
    ctx = omni.open_context(OmniOptions(window_seconds=8.0, dedupe_threshold=0.0))
    stream(ctx, 10.0)
    remaining = [failures]

    def fail(module: object, args: object) -> None:
        if remaining[0]:
            remaining[0] -= 1
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    hook = omni.model.model.register_forward_pre_hook(fail)
    try:
        with pytest.raises(WindowShrunk, match=r"window shrunk from 8 s to 4 s.*; the stream continues") as info:
            ctx.ingest_audio(audio(10.0, 1.5, 99))  # completes the chunk 10-11 s, whose prefill fails
    finally:
        hook.remove()
    assert info.value.window_seconds == 4.0 and info.value.dropped is dropped
    kv = ctx._stream()
    assert [s.t0 for s in kv.segments if s.kind == "media"] == kept
    assert all(layer.keys.shape[-2] == kv.length == sum(s.length for s in kv.segments) for layer in kv.layers())
    assert sum(len(a) for a in ctx._audio) == 8000  # the audio after 11 s was still taken in
    stream(ctx, 2.0)  # keeps going
    ctx.close()


def test_context_seconds_hides_older_media_from_the_answer(omni):
    ctx = omni.open_context()
    stream(ctx, 6.0)
    full = list(ctx.answer(AnswerRequest("what?", 6.0, max_new_tokens=6), CancelToken()))
    list(ctx.answer(AnswerRequest("what?", 6.0, context_seconds=2.0, max_new_tokens=6), CancelToken()))
    assert list(ctx.answer(AnswerRequest("what?", 6.0, max_new_tokens=6), CancelToken())) == full
    segments = ctx._stream().segments
    old = [i for i, s in enumerate(segments) if s.kind == "media" and s.t1 <= 4.0]
    assert old and ctx._stream().key_mask(old).tolist().count(0) == sum(segments[i].length for i in old)
    torch.testing.assert_close(question_logits(ctx, "what?", []), question_logits(ctx, "what?", []))
    assert not torch.allclose(question_logits(ctx, "what?", old), question_logits(ctx, "what?", []), atol=1e-5)
    ctx.close()


def test_contexts_share_one_loaded_model(omni):
    a, b = omni.open_context(), omni.open_context()
    stream(a, 2.0)
    assert b.kv_tokens == b._stream().segments[0].length  # b saw only its prompt
    assert a.backend.model is b.backend.model
    a.close()
    with pytest.raises(RuntimeError, match="closed"):
        a.ingest_frame(frame(5.0, 1))
    b.close()


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="neither a local directory nor in the local Hugging Face cache"):
        OmniBackend(str(tmp_path / "nowhere"), "cpu").load()
    status = OmniBackend(str(tmp_path / "nowhere"), "cpu").check_assets()
    assert not status.ready and "not found locally" in status.detail


def test_incompatible_model_is_a_clear_error():
    with pytest.raises(ModelLoadError, match=r"is a 'qwen2_5_vl' model; this backend supports qwen2_5_omni_thinker"):
        OmniBackend(str(cached_tiny("vl")), "cpu").load()
    with pytest.raises(ModelLoadError, match=r"'qwen2_5_omni_thinker' model; this backend supports qwen2_vl"):
        VlmBackend(str(cached_tiny("omni")), "cpu").load()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceUnavailable, match="CUDA is not available"):
        OmniBackend(str(cached_tiny("omni")), "cuda").load()


def test_bad_options_are_named():
    with pytest.raises(ValueError, match=r"window_seconds=0.*dedupe_threshold=1.5"):
        OmniOptions(window_seconds=0, dedupe_threshold=1.5)


def test_registry_resolves_both_backends():
    from engine.backends.registry import backend_class

    assert backend_class("omni") is OmniBackend and backend_class("vlm") is VlmBackend
    assert not backend_class("omni")(model=None, device="auto").check_assets().ready  # nothing is downloaded


def test_audio_that_completes_a_chunk_flushes_it_and_the_rest_waits(omni):
    ctx = omni.open_context()
    ctx.ingest_frame(frame(0.0, 1))
    ctx.ingest_audio(audio(0.0, 1.5, 2))  # 0-1 s completes the first chunk; 1-1.5 s starts the next
    media = [s for s in ctx._stream().segments if s.kind == "media"]
    assert [(s.t0, s.t1) for s in media] == [(0.0, 1.0)]
    stamp = len(ctx.adapter.ids("\n0s:"))
    assert media[0].length == stamp + 2 + int(media[0].vision.sum()) + 1 + 25 + 1  # 1 s of audio = 25 tokens
    assert sum(len(a) for a in ctx._audio) == 8000
    list(ctx.answer(AnswerRequest("now?", 1.5, max_new_tokens=1), CancelToken()))  # the question sees 1-1.5 s
    assert [(s.t0, s.t1) for s in ctx._stream().segments if s.kind == "media"][-1][0] == 1.0
    assert not ctx._audio
    ctx.close()


def test_sampling_is_seeded_per_context(omni):
    opts = OmniOptions(dedupe_threshold=0.0, temperature=0.9, top_p=0.9, seed=7)
    answers = []
    for _ in range(2):
        ctx = omni.open_context(opts)
        stream(ctx, 2.0)
        answers.append("".join(ctx.answer(AnswerRequest("say something", 2.0, max_new_tokens=8), CancelToken())))
        ctx.close()
    greedy = omni.open_context()
    stream(greedy, 2.0)
    assert answers[0] == answers[1]
    assert answers[0] != "".join(greedy.answer(AnswerRequest("say something", 2.0, max_new_tokens=8), CancelToken()))
    greedy.close()

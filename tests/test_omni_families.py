"""The ``vlm`` backend on families with 1-D positions (SmolVLM2, Idefics3, LLaVA-OneVision), as tiny random-weight
models built offline and loaded through ``from_pretrained``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.backends.base import AnswerRequest, Turn
from engine.backends.omni.backend import VlmBackend
from engine.backends.omni.errors import ModelLoadError
from engine.backends.omni.kv_stream import KvStream
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.processor_adapter import ProcessorAdapter
from engine.backends.omni.tiny import cached_tiny
from engine.cancel import CancelToken
from streams.items import VideoFrame

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAMILIES = ["smolvlm", "idefics3", "llava_onevision"]


@pytest.fixture(scope="module", params=FAMILIES)
def family(request: pytest.FixtureRequest) -> tuple[str, VlmBackend]:
    backend = VlmBackend(str(cached_tiny(request.param)), "cpu", OmniOptions(dedupe_threshold=0.0))
    backend.load()
    return request.param, backend


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 80, 3), dtype=np.uint8)


def merged(kind: str, parts: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The encoder inputs of several chunks as one prompt would carry them."""
    out = {}
    for key in parts[0]:
        if key == "batch_num_images":
            out[key] = sum(p[key] for p in parts)
        else:
            dim = 1 if kind in ("smolvlm", "idefics3") else 0  # these batch images as [prompt, image, ...]
            out[key] = torch.cat([p[key] for p in parts], dim=dim)
    return out


def test_the_family_processor_expands_the_image_tokens(family):
    kind, backend = family
    adapter = backend.adapter
    assert isinstance(adapter, ProcessorAdapter) and adapter.position_rows == 1
    seg = adapter.media("\n0s:", [image(1), image(2)], None, " (heard 0.0-1.0 s: hello)", 1.0)
    # Idefics3 style: a 2×2 pixel-shuffled tile; LLaVA-OneVision: 4×4 patches and a newline
    per_frame = {"smolvlm": 4, "idefics3": 4, "llava_onevision": 17}[kind]
    assert int(seg.vision.sum()) == 2 * per_frame
    assert seg.positions.tolist() == [list(range(seg.length))]
    tokens = adapter.tokenizer.convert_ids_to_tokens(seg.input_ids[0].tolist())
    if kind in ("smolvlm", "idefics3"):
        assert tokens.count("<fake_token_around_image>") == 4 and tokens.count("<global-img>") == 2


def test_incremental_prefill_gives_the_one_shot_logits(family):
    kind, backend = family
    adapter = backend.adapter
    model = backend.model
    prompt = adapter.text(adapter.chat.prompt("watch the stream"))
    kv = KvStream(model, backend.inv_freq, model.config.get_text_config(), position_rows=1)
    kv.append("prompt", 0, 0, prompt.input_ids, prompt.positions, {})
    parts = [prompt]
    for second in range(3):
        frames = [image(10 * second), image(10 * second + 1)]
        part = adapter.media(f"\n{second}s:", frames, None, f" (heard {second} s: hello world)", 1.0)
        kv.append("media", second, second + 1, part.input_ids, part.positions, part.inputs)
        parts.append(part)
    question = adapter.text(adapter.chat.question("what is on the table?"))
    incremental = kv.append("query", 3, 3, question.input_ids, question.positions, {})
    parts.append(question)

    ids = torch.cat([p.input_ids for p in parts], dim=1)
    with torch.inference_mode():
        full = model(
            input_ids=ids, attention_mask=torch.ones_like(ids), **merged(kind, [p.inputs for p in parts[1:-1]])
        )
    assert kv.length == ids.shape[1] and kv.next_pos == ids.shape[1]
    torch.testing.assert_close(incremental, full.logits[0, -1].float(), atol=1e-4, rtol=1e-4)


def test_window_and_answers_work_with_one_dimensional_positions(family):
    _, backend = family
    ctx = backend.open_context(OmniOptions(window_seconds=2.0, dedupe_threshold=0.0))
    sizes = []
    for i in range(16):
        ctx.ingest_frame(VideoFrame(i * 0.5, image(i)))
        if i % 2:
            ctx.ingest_transcript(i * 0.5 - 0.5, i * 0.5, "hello world")
        sizes.append(ctx.kv_tokens)
    kv = ctx._stream()
    assert [s.t0 for s in kv.segments if s.kind == "media"] == [5.0, 6.0]
    assert max(sizes[8:]) == max(sizes[-4:])  # flat once the window is full
    for before, after in zip(kv.segments, kv.segments[1:], strict=False):
        assert after.pos_start == before.pos_end
    history = (Turn("user", "what is it?", 7.0), Turn("assistant", "a box", 7.2))
    answer = list(ctx.answer(AnswerRequest("and now?", 8.0, history=history, max_new_tokens=6), CancelToken()))
    assert all(isinstance(piece, str) for piece in answer)
    # the pending chunk (7-7.5 s) was flushed, 5-6 s is still within 2 s of it, the turns were added once and the
    # answer's fork was cropped back
    media = [(s.t0, s.t1) for s in kv.segments if s.kind == "media"]
    assert media == [(5.0, 6.0), (6.0, 7.0), (7.0, pytest.approx(7.5))]
    assert [s.kind for s in kv.segments] == ["prompt", "media", "media", "media", "dialogue"]
    assert all(layer.keys.shape[-2] == kv.length == sum(s.length for s in kv.segments) for layer in kv.layers())
    ctx.close()


def test_an_unknown_family_is_refused_naming_the_supported_ones():
    with pytest.raises(ModelLoadError) as info:
        VlmBackend(str(cached_tiny("omni")), "cpu").load()
    message = str(info.value)
    assert "'qwen2_5_omni_thinker' model" in message
    for supported in ("qwen2_vl", "qwen2_5_vl", "smolvlm", "idefics3", "llava_onevision"):
        assert supported in message

"""The cascade's language model: SmolLM2-135M from the shipped GGUF, cached, streamed token by token, cancellable."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from engine.backends.cascade.llm import LocalLM, smollm2_cache, smollm2_cached, smollm2_gguf
from engine.backends.registry import get_backend
from engine.cancel import CancelToken

QUESTION = [
    {"role": "system", "content": "You answer questions about a video using only the notes."},
    {"role": "user", "content": "Notes:\n[12.0-20.0s] text on screen: 'EXIT 4'\n\nQuestion: What does the sign say?"},
]


@pytest.fixture(scope="session")
def lm() -> LocalLM:
    """The process-wide cascade LM (the registry shares one loaded backend with the other cascade tests)."""
    return get_backend("cascade").lm  # type: ignore[attr-defined, no-any-return]


def test_second_load_comes_from_the_dequantised_cache(lm: LocalLM) -> None:
    gguf = smollm2_gguf()
    assert smollm2_cached(gguf)
    assert (smollm2_cache(gguf) / "model.safetensors").is_file()
    again = LocalLM()
    again.load()
    assert again.loaded_from == "cache"
    assert again.load_s < 30
    reply = "".join(again.stream(QUESTION, max_new_tokens=12, cancel=CancelToken()))
    assert reply == "".join(lm.stream(QUESTION, max_new_tokens=12, cancel=CancelToken()))


def test_a_prompt_sharing_the_previous_ones_beginning_reuses_its_cache_exactly(lm: LocalLM) -> None:
    notes = "Notes:\n[1.0-2.0s] colours: red 90% whole frame\n\nQuestion: Colour?"
    other = [QUESTION[0], {"role": "user", "content": notes}]
    lm.warm(QUESTION)
    before = lm.reused_tokens
    reused_logits, _ = lm._prefill(lm.encode(other))
    assert lm.reused_tokens - before >= 16  # the system message and the start of the user turn
    fresh_logits, _ = lm._forward(lm.encode(other), None, last_only=True)
    assert torch.allclose(reused_logits, fresh_logits, atol=1e-3)


def test_streams_an_answer_grounded_in_the_prompt(lm: LocalLM) -> None:
    pieces = list(lm.stream(QUESTION, max_new_tokens=24, cancel=CancelToken()))
    assert len(pieces) > 1
    assert "EXIT 4" in "".join(pieces)


def test_multi_token_characters_come_out_whole(lm: LocalLM) -> None:
    before = lm.steps
    pieces = list(
        lm.stream([{"role": "user", "content": "Repeat exactly: 日本語"}], max_new_tokens=16, cancel=CancelToken())
    )
    text = "".join(pieces)
    assert "日本語" in text
    assert all("\ufffd" not in piece for piece in pieces)
    assert lm.steps - before - 1 > len(pieces)  # some tokens were held back until their character was complete


def test_cancel_stops_decoding_within_one_step(lm: LocalLM) -> None:
    token = CancelToken()
    pieces = lm.stream(QUESTION, max_new_tokens=64, cancel=token)
    next(pieces)
    at_cancel = lm.steps
    token.cancel("interrupted")
    assert list(pieces) == []
    assert lm.steps == at_cancel

    # From another thread, while the decoder is running: at most the forward pass in flight completes.
    token = CancelToken()
    first_piece = threading.Event()
    received: list[str] = []

    def decode() -> None:
        for piece in lm.stream(QUESTION, max_new_tokens=64, cancel=token):
            received.append(piece)
            first_piece.set()

    thread = threading.Thread(target=decode)
    thread.start()
    assert first_piece.wait(60)
    at_cancel = lm.steps
    token.cancel("interrupted")
    thread.join(60)
    assert not thread.is_alive()
    assert lm.steps - at_cancel in (0, 1)
    assert len(received) < 64


def test_score_prefers_the_likely_continuation(lm: LocalLM) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    paris, banana = lm.score(messages, ["The capital of France is Paris.", "Banana spaceship purple quickly."])
    assert paris > banana
    token = CancelToken()
    token.cancel()
    assert lm.score(messages, ["Paris."], token) == []
    with pytest.raises(ValueError, match="empty continuation"):
        lm.score(messages, [""])


def test_a_local_model_folder_replaces_smollm2(lm: LocalLM, tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(lm.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        eos_token_id=lm.tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    tiny = LocalLM(str(tmp_path))
    tiny.load()
    assert tiny.loaded_from == "path"
    list(tiny.stream(QUESTION, max_new_tokens=5, cancel=CancelToken()))
    assert 1 <= tiny.steps <= 5


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a local Hugging Face model folder"):
        LocalLM(str(tmp_path))
    with pytest.raises(ValueError, match="device must be"):
        LocalLM(device="tpu")
    with pytest.raises(ValueError, match="max_new_tokens"):
        next(LocalLM().stream(QUESTION, max_new_tokens=0, cancel=CancelToken()))

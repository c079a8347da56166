"""Omni backend speed and memory: ingest frames/s at 448×448, question → first token latency and peak memory per
stream length, decode tokens/s.

Usage: python -m benchmarks.omni_bench [--config tiny|omni-3b|omni-7b|PATH] [--device cpu|cuda]
       [--stream-seconds 10,60,600] [--window-seconds 10] [--repeats 5] [--threads N] [--layers N] [--json OUT]

``omni-3b`` / ``omni-7b`` build the Qwen2.5-Omni thinker with the official layer sizes and random weights (compute
does not depend on weight values, so nothing is downloaded); ``tiny`` is the offline test model; a path loads a
local checkpoint. Each stream length runs on a fresh context: 2 fps frames of changing noise (never
deduplicated) and 16 kHz audio, then the same question ``--repeats`` times (medians); ``peak_mem_mb`` is peak GPU
memory on CUDA and the peak size of the KV-cache buffers (their capacity, not just the filled entries) on CPU.
Run from the repository root: ``python -m benchmarks.omni_bench …``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoTokenizer, WhisperFeatureExtractor

from engine.backends.base import AnswerRequest
from engine.backends.omni.backend import OmniBackend
from engine.backends.omni.device import dtype_for, resolve_device
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.tiny import cached_tiny
from engine.cancel import CancelToken
from streams.items import AudioChunk, VideoFrame

FRAME = 448
QUESTION = "What is happening in the video right now, and what can you hear?"

# Qwen2.5-Omni thinker sizes as published in the official config.json files.
OFFICIAL = {
    "omni-3b": {"text": (151936, 2048, 11008, 36, 16, 2), "out": 2048},
    "omni-7b": {"text": (152064, 3584, 18944, 28, 28, 4), "out": 3584},
}


def _random_thinker(name: str, device: torch.device, layers_override: int = 0) -> Any:
    """The full-size thinker with random weights, token ids taken from the tiny tokenizer (the tokenizer only
    shapes the prompt; sequence lengths match the real model's). ``layers_override`` cuts every tower to that many
    layers at full width: a smoke run of the full-size code path on a machine without the memory for all of it."""
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    vocab, hidden, ffn, layers, heads, kv_heads = OFFICIAL[name]["text"]
    out = OFFICIAL[name]["out"]
    vision_depth, audio_depth = 32, 32
    if layers_override:
        layers = vision_depth = audio_depth = layers_override
    full_attention = [i for i in (7, 15, 23, 31) if i < vision_depth] or [vision_depth - 1]
    tiny = Qwen2_5OmniThinkerConfig.from_pretrained(cached_tiny("omni"))
    config = Qwen2_5OmniThinkerConfig(
        text_config={
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": ffn,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [16, 24, 24]},
            "eos_token_id": tiny.text_config.eos_token_id,
        },
        vision_config={
            "depth": vision_depth,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": out,
            "fullatt_block_indexes": full_attention,
        },
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": audio_depth,
            "encoder_attention_heads": 20,
            "encoder_ffn_dim": 5120,
            "d_model": 1280,
            "output_dim": out,
        },
        audio_token_index=tiny.audio_token_id,
        image_token_index=tiny.image_token_id,
        video_token_index=tiny.video_token_id,
        audio_start_token_id=tiny.audio_start_token_id,
        audio_end_token_id=tiny.audio_end_token_id,
        vision_start_token_id=tiny.vision_start_token_id,
        vision_end_token_id=tiny.vision_end_token_id,
    )
    config._attn_implementation = "sdpa"
    with torch.device(device):
        model = Qwen2_5OmniThinkerForConditionalGeneration(config)
    return model.to(dtype_for(device))


def build(config: str, device: torch.device, options: OmniOptions, layers: int = 0) -> OmniBackend:
    if config in OFFICIAL:
        parts = cached_tiny("omni")
        return OmniBackend.from_loaded(
            _random_thinker(config, device, layers),
            AutoTokenizer.from_pretrained(parts),
            AutoImageProcessor.from_pretrained(parts),
            WhisperFeatureExtractor.from_pretrained(parts),
            options,
        )  # type: ignore[return-value]
    path = str(cached_tiny("omni")) if config == "tiny" else config
    backend = OmniBackend(path, str(device), options)
    backend.load()
    return backend


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def ask(
    ctx: Any, backend: OmniBackend, t: float, device: torch.device, max_new_tokens: int
) -> tuple[float, float, float]:
    """One question: (ms to the first token's logits, CPU ms of this process until then, decode tokens/s after it).

    Tokens are timed where the model produces them (each ``lm_head`` call: the question's prefill, then one per
    decoding step), not where text comes out: the full-size configs pair random weights with the tiny tokenizer,
    so most of their tokens decode to no text. The CPU time is what the question cost this process; unlike the wall
    time it does not grow when other jobs share the cores."""
    produced: list[tuple[float, float]] = []

    def record(module: Any, args: Any, output: Any) -> None:
        _sync(device)
        produced.append((time.perf_counter(), time.process_time()))

    hook = backend.model.lm_head.register_forward_hook(record)
    try:
        asked, asked_cpu = time.perf_counter(), time.process_time()
        for _ in ctx.answer(AnswerRequest(QUESTION, t, max_new_tokens=max_new_tokens), CancelToken()):
            pass
    finally:
        hook.remove()
    if not produced:
        raise RuntimeError("the question produced no token")
    (first, first_cpu), (last, _) = produced[0], produced[-1]
    rate = (len(produced) - 1) / (last - first) if len(produced) > 1 else 0.0
    return (first - asked) * 1000, (first_cpu - asked_cpu) * 1000, rate


def run_stream(
    backend: OmniBackend, seconds: int, device: torch.device, max_new_tokens: int, repeats: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seconds)
    ctx = backend.open_context()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    frames = 0
    kv_peak = 0
    kv_timeline: list[tuple[int, int, float]] = []  # (stream second, KV entries, KV buffer MB)
    _sync(device)
    started = time.perf_counter()
    for second in range(seconds):
        for half in (0.0, 0.5):
            image = rng.integers(0, 256, (FRAME, FRAME, 3), dtype=np.uint8)
            ctx.ingest_frame(VideoFrame(second + half, image))
            frames += 1
        samples = (0.1 * rng.standard_normal(16_000)).astype(np.float32)
        ctx.ingest_audio(AudioChunk(float(second), samples))
        kv_peak = max(kv_peak, ctx._stream().reserved_bytes)
        if (second + 1) % max(1, seconds // 10) == 0:
            kv_timeline.append((second + 1, ctx.kv_tokens, round(ctx._stream().reserved_bytes / 2**20, 2)))
    _sync(device)
    ingest_s = time.perf_counter() - started

    ttfts, cpu_ttfts, rates = [], [], []
    for _ in range(repeats):  # the same question on the same state: the fork is cropped back after each answer
        ttft, cpu_ttft, rate = ask(ctx, backend, float(seconds), device, max_new_tokens)
        ttfts.append(ttft)
        cpu_ttfts.append(cpu_ttft)
        rates.append(rate)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else kv_peak
    ctx.close()
    return {
        "frames": frames,
        "ingest_fps": frames / ingest_s,
        "ttft_ms": statistics.median(ttfts),
        "ttft_cpu_ms": statistics.median(cpu_ttfts),
        "decode_tok_s": statistics.median(rates),
        "peak_mem_mb": peak / 2**20,
        "kv_tokens": kv_timeline[-1][1] if kv_timeline else 0,
        "kv_timeline": kv_timeline,
    }


def summary(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The result keys over the stream lengths measured so far; ingest and decode from the longest."""
    longest = runs[max(runs)]
    shortest = runs[min(runs)]
    result: dict[str, Any] = {
        "ingest_fps": round(longest["ingest_fps"], 2),
        "ttft_ms": {str(s): round(r["ttft_ms"], 1) for s, r in runs.items()},
        "ttft_cpu_ms": {str(s): round(r["ttft_cpu_ms"], 1) for s, r in runs.items()},
        "decode_tok_s": round(longest["decode_tok_s"], 1),
        "peak_mem_mb": {str(s): round(r["peak_mem_mb"], 1) for s, r in runs.items()},
        "kv_tokens": {str(s): r["kv_tokens"] for s, r in runs.items()},
        "kv_timeline": longest["kv_timeline"],
    }
    if len(runs) > 1:
        result["ttft_ratio_longest_shortest"] = round(longest["ttft_ms"] / max(shortest["ttft_ms"], 1e-9), 3)
        result["ttft_cpu_ratio_longest_shortest"] = round(
            longest["ttft_cpu_ms"] / max(shortest["ttft_cpu_ms"], 1e-9), 3
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", help="tiny, omni-3b, omni-7b or a local checkpoint path")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--stream-seconds", default="10,60,600", help="comma-separated stream lengths")
    parser.add_argument("--window-seconds", type=float, default=OmniOptions().window_seconds)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="questions per stream length (medians reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument(
        "--layers",
        type=int,
        default=0,
        help="cut every tower of omni-3b/omni-7b to this many layers at full width (0 = official depth): a smoke "
        "run of the full-size path where memory is short; its timings are not the model's",
    )
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    try:
        lengths = [int(x) for x in args.stream_seconds.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--stream-seconds must be comma-separated integers, got {args.stream_seconds!r}")
    if not lengths or min(lengths) < 1:
        parser.error("--stream-seconds needs at least one length of 1 s or more")
    if args.config not in ("tiny", *OFFICIAL) and not os.path.isdir(args.config):
        parser.error(f"--config must be tiny, omni-3b, omni-7b or an existing directory, got {args.config!r}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.layers < 0 or (args.layers and args.config not in OFFICIAL):
        parser.error("--layers must be 0 or more, and only applies to omni-3b / omni-7b")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    options = OmniOptions(window_seconds=args.window_seconds, dedupe_threshold=0.0)

    loaded = time.perf_counter()
    backend = build(args.config, device, options, args.layers)
    load_s = time.perf_counter() - loaded
    run_stream(backend, 2, device, 4, 1)  # warm-up
    setup = {
        "config": args.config,
        "layers": args.layers or "official",
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "window_seconds": args.window_seconds,
        "frame": f"{FRAME}x{FRAME}",
        "load_s": round(load_s, 2),
        "peak_mem_kind": "GPU max_memory_allocated" if device.type == "cuda" else "KV cache buffers, peak",
    }
    runs: dict[int, dict[str, Any]] = {}
    for seconds in lengths:
        runs[seconds] = run_stream(backend, seconds, device, args.max_new_tokens, args.repeats)
        result = setup | summary(runs) | {"complete": len(runs) == len(lengths)}
        if args.json:  # written after every stream length: a run cut short by its time limit keeps what it measured
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""The cascade's language model on two runtimes, side by side on this machine: transformers (what ``LocalLM`` runs:
the shipped SmolLM2-135M GGUF dequantised to fp32) and llama.cpp (``llama-cpp-python``, the same GGUF as shipped).

Per runtime: load time; first token of a chat request on a fresh prompt (the cascade's system text and worked
exchanges, then a new request: medians over the requests, each after a different one so only the shared beginning
can be reused); decoding speed over a long reply (tokens per second after the first). Both use 2 threads, greedy.
The point is the choice of runtime for ``cascade`` (issue H): numbers, not a timed test.

python -m benchmarks.bench_lm [--tokens 96] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.backends.cascade import prompt
from engine.backends.cascade.llm import LocalLM, smollm2_gguf
from engine.cancel import CancelToken

REQUESTS = (
    "Say hello in one short sentence.",
    "What can you do?",
    "Tell me a joke about a cat.",
    "Count to five.",
    "Give me one tip for a rainy day.",
)
LONG = "Tell me a long story about a robot who learns to paint."
THREADS = 2

Stream = Callable[[list[dict[str, str]], int], Iterator[str]]


def transformers_runtime() -> tuple[float, Stream]:
    started = time.perf_counter()
    lm = LocalLM(threads=THREADS)
    lm.load()
    load_s = time.perf_counter() - started

    def stream(messages: list[dict[str, str]], tokens: int) -> Iterator[str]:
        return lm.stream(messages, max_new_tokens=tokens, cancel=CancelToken())

    return load_s, stream


def llama_cpp_runtime() -> tuple[float, Stream]:
    from llama_cpp import Llama

    started = time.perf_counter()
    llm = Llama(model_path=str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS, n_threads_batch=THREADS, verbose=False)
    load_s = time.perf_counter() - started

    def stream(messages: list[dict[str, str]], tokens: int) -> Iterator[str]:
        chunks = llm.create_chat_completion(messages, max_tokens=tokens, temperature=0.0, stream=True)
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
            if piece:
                yield piece

    return load_s, stream


def measure(make: Callable[[], tuple[float, Stream]], tokens: int) -> dict[str, Any]:
    load_s, stream = make()
    for _ in stream(prompt.chat(REQUESTS[-1], ()), 4):  # warm: the shared beginning is now cached, as in a session
        pass
    first = []
    for request in REQUESTS:
        started = time.perf_counter()
        next(iter(stream(prompt.chat(request, ()), 8)), None)
        first.append(time.perf_counter() - started)
    started = time.perf_counter()
    pieces = 0
    first_piece = None
    for _ in stream(prompt.chat(LONG, ()), tokens):
        pieces += 1
        if first_piece is None:
            first_piece = time.perf_counter()
    end = time.perf_counter()
    rate = (pieces - 1) / (end - first_piece) if first_piece is not None and pieces > 1 else None
    return {
        "load_s": round(load_s, 2),
        "first_token_ms_median": round(1000 * statistics.median(first), 1),
        "first_token_ms": [round(1000 * f, 1) for f in first],
        "decode_pieces": pieces,
        "decode_pieces_per_s": round(rate, 1) if rate is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=96, help="tokens of the long reply")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    result = {
        "benchmark": "cascade LM runtime",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}",
        "load_1min_at_start": round(load, 2),
        "threads": THREADS,
        "transformers": measure(transformers_runtime, args.tokens),
        "llama.cpp": measure(llama_cpp_runtime, args.tokens),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

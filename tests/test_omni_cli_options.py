"""The omni / vlm stream options on the command line: parsed, validated with clear errors, and reaching the session's
backend context through ``EngineConfig``."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

from app.cli import add_engine_arguments, engine_config, main
from engine.backends.omni.context import StreamContext
from engine.backends.omni.options import OmniOptions
from engine.backends.omni.tiny import cached_tiny
from engine.options import ResponseOptions, SessionOptions
from engine.runtime import EngineConfig, open_session
from eval.replay import ALL_CONTEXT_WINDOW_S
from eval.replay import engine_config as eval_config
from streams.clock import ReplayClock


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="omnistream")
    add_engine_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_become_backend_options():
    args = parse(
        "--backend",
        "omni",
        "--window-seconds",
        "30",
        "--max-kv-tokens",
        "8192",
        "--dedupe-threshold",
        "0",
        "--compress-after",
        "5",
        "--temperature",
        "0.7",
        "--top-p",
        "0.9",
    )
    options = engine_config(args).backend_options
    assert options == OmniOptions(
        window_seconds=30.0,
        max_kv_tokens=8192,
        dedupe_threshold=0.0,
        compress_after_seconds=5.0,
        temperature=0.7,
        top_p=0.9,
    )


def test_no_flags_keep_the_documented_defaults():
    assert engine_config(parse("--backend", "vlm")).backend_options is None
    assert engine_config(parse("--backend", "omni", "--compress-after", "off")).backend_options is None
    defaults = OmniOptions()
    assert (defaults.window_seconds, defaults.max_kv_tokens, defaults.dedupe_threshold) == (10.0, 24_576, 0.02)
    assert (defaults.compress_after_seconds, defaults.temperature, defaults.top_p) == (None, 0.0, 1.0)


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--window-seconds", "0", "expected a positive number, got 0"),
        ("--window-seconds", "soon", "expected a number, got 'soon'"),
        ("--max-kv-tokens", "1.5", "expected a whole number, got '1.5'"),
        ("--max-kv-tokens", "-4", "expected a positive whole number, got -4"),
        ("--dedupe-threshold", "1", r"expected a number in \[0, 1\), got 1"),
        ("--compress-after", "later", "expected a number, got 'later'"),
        ("--temperature", "-0.1", "expected a number >= 0, got -0.1"),
        ("--top-p", "1.5", r"expected a number in \(0, 1\], got 1.5"),
    ],
)
def test_bad_values_are_refused_naming_the_flag(capsys, flag, value, message):
    with pytest.raises(SystemExit) as info:
        parse("--backend", "omni", flag, value)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err
    assert re.search(message, err)


def test_omni_flags_with_another_backend_are_refused():
    with pytest.raises(SystemExit, match=r"--window-seconds, --top-p only apply to the omni and vlm backends"):
        engine_config(parse("--backend", "cascade", "--window-seconds", "5", "--top-p", "0.5"))


async def test_options_reach_the_session_context():
    config = EngineConfig(
        backend="omni",
        model=str(cached_tiny("omni")),
        device="cpu",
        speech=False,
        backend_options=OmniOptions(window_seconds=3.0, max_kv_tokens=4096),
    )
    session = await open_session(config, ReplayClock("fast"))
    context = session.context
    assert isinstance(context, StreamContext)
    assert (context.window.window_seconds, context.window.max_kv_tokens) == (3.0, 4096)
    context.close()


@pytest.mark.parametrize(
    "extra, cause",
    [
        (["--model", "{missing}"], "ModelLoadError: omni: model '.*nowhere' is neither a local directory nor in"),
        (["--model", "{vl}"], r"ModelLoadError: omni: '.*' is a 'qwen2_5_vl' model; this backend supports"),
        (["--model", "{omni}", "--device", "cuda"], "DeviceUnavailable: device 'cuda' requested but CUDA is not"),
    ],
)
def test_bad_model_or_device_on_the_command_line_is_a_clear_error(capsys, tmp_path, extra, cause):
    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    paths = {"missing": str(tmp_path / "nowhere"), "vl": str(cached_tiny("vl")), "omni": str(cached_tiny("omni"))}
    argv = ["run", "--backend", "omni", *(a.format(**paths) for a in extra), "--text", "hi", "--no-speech"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert re.search(f"error: cannot start the omni backend: {cause}", err)


def test_the_media_window_always_covers_the_context_a_question_may_use():
    def window(config: EngineConfig) -> float | None:
        options = config.stream_options()
        return None if options is None else options.window_seconds

    context_60 = SessionOptions(response=ResponseOptions(context_seconds=60.0))
    assert window(EngineConfig(backend="omni")) == OmniOptions().window_seconds
    assert window(EngineConfig(backend="vlm", options=context_60)) == 60.0
    wide = OmniOptions(window_seconds=120.0)
    assert window(EngineConfig(backend="omni", options=context_60, backend_options=wide)) == 120.0
    assert window(EngineConfig(backend="cascade", options=context_60)) is None
    assert window(eval_config("omni", model=None, device="cpu", context=60.0, fps=2.0, speech=False)) == 60.0
    everything = eval_config("vlm", model=None, device="cpu", context=None, fps=2.0, speech=False)
    assert window(everything) == ALL_CONTEXT_WINDOW_S

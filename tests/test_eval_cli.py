"""The ``bench`` and ``gen-bench`` subcommands as registered by ``eval.cli.add_commands``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from eval.cli import add_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnistream")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_bench_defaults_are_the_leaderboard_setting(tmp_path: Path) -> None:
    args = _parser().parse_args(["bench", "--data", "a.json", "--data", "b.json", "--videos", "v", "--out", "o"])
    assert args.data == [Path("a.json"), Path("b.json")]
    defaults = (args.context, args.pace, args.workers, args.proactive, args.backend)
    assert defaults == (60.0, "fast", 1, "events", "cascade")
    assert (
        _parser().parse_args(["bench", "--data", "a", "--videos", "v", "--out", "o", "--context", "all"]).context
        is None
    )


@pytest.mark.parametrize("bad", [["--context", "0"], ["--context", "soon"], ["--workers", "0"], ["--limit", "x"]])
def test_bad_values_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "--data", "a", "--videos", "v", "--out", "o", *bad])
    assert bad[0] in capsys.readouterr().err


def test_bench_reports_missing_files_and_unknown_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["bench", "--videos", str(tmp_path), "--out", str(tmp_path / "o")]
    args = _parser().parse_args([*base, "--data", str(tmp_path / "nope.json")])
    assert args.func(args) == 2 and "annotation file not found" in capsys.readouterr().err
    (tmp_path / "q.json").write_text("[]")
    args = _parser().parse_args([*base, "--data", str(tmp_path / "q.json"), "--tasks", "OP,juggling"])
    assert args.func(args) == 2 and "unknown task 'juggling'" in capsys.readouterr().err
    args = _parser().parse_args([*base, "--data", str(tmp_path / "q.json"), "--spoken", "--no-speech"])
    assert args.func(args) == 2 and "--spoken needs speech recognition" in capsys.readouterr().err


def test_bench_refuses_files_without_usable_questions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cut.json").write_text('[{"video_path": "a.mp4", "questions": [')
    (tmp_path / "empty.json").write_text("[]")
    base = ["bench", "--videos", str(tmp_path), "--out", str(tmp_path / "o")]
    args = _parser().parse_args([*base, "--data", str(tmp_path / "cut.json"), "--data", str(tmp_path / "empty.json")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'cut.json'}: no usable questions (cut.json (file): cannot read annotations" in err
    assert f"warning: {tmp_path / 'empty.json'}: no usable questions (the file lists no questions)" in err
    assert "error: no usable questions in" in err
    assert not (tmp_path / "o").exists()


def test_gen_bench_writes_a_suite(tmp_path: Path) -> None:
    args = _parser().parse_args(["gen-bench", "--out", str(tmp_path), "--videos", "1", "--seconds", "30",
                                 "--width", "128", "--height", "96"])  # fmt: skip
    assert args.func(args) == 0
    assert (tmp_path / "questions_real.json").exists() and (tmp_path / "videos" / "gen_000_real.mp4").exists()


def test_gen_bench_real_writes_a_suite_and_refuses_a_too_short_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["gen-bench-real", "--out", str(tmp_path), "--videos", "1", "--width", "128", "--height", "96"]
    args = _parser().parse_args([*base, "--seconds", "10"])
    assert args.func(args) == 2 and "seconds must be at least 24" in capsys.readouterr().err
    args = _parser().parse_args([*base, "--seconds", "24", "--fps", "1"])
    assert args.func(args) == 0
    assert "questions_real.json, questions_open.json, scenes.json" in capsys.readouterr().out
    assert (tmp_path / "videos" / "real_000_sequence.mp4").stat().st_size > 1000

"""The configuration reference (``docs/configuration.md``), generated from the code so that it cannot drift.

Every command-line flag comes from the real argument parser; every option group from its dataclass, with the
default and the comment written beside the field; every environment variable the code reads must be listed in
``ENVIRONMENT``. ``python -m app.config_reference > docs/configuration.md`` rewrites the file, and a test fails when
the committed file is not what this module prints.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import io
import re
import sys
import textwrap
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "engine", "streams", "eval")

# (module, class) of every option group, in the order the reference shows them, under a section title.
OPTION_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Engine (`engine/options.py`, bundled in `SessionOptions`)",
        (
            ("engine.options", "SessionOptions"),
            ("engine.options", "VadOptions"),
            ("engine.options", "AsrOptions"),
            ("engine.options", "IngestOptions"),
            ("engine.options", "ResponseOptions"),
            ("engine.options", "TurnOptions"),
            ("engine.options", "GateOptions"),
            ("engine.options", "ProactiveOptions"),
            ("engine.runtime", "EngineConfig"),
        ),
    ),
    (
        "Backends",
        (
            ("engine.backends.cascade.options", "CascadeOptions"),
            ("engine.backends.cascade.perception", "PerceptionConfig"),
            ("engine.backends.omni.options", "OmniOptions"),
            ("engine.backends.remote.options", "RemoteOptions"),
        ),
    ),
    (
        "Interfaces",
        (
            ("app.ws_server", "ServerOptions"),
            ("app.speech_options", "SpeechOptions"),
            ("app.mqtt_bridge", "BridgeOptions"),
            ("app.mqtt_bridge", "TlsOptions"),
            ("app.limits", "RateLimits"),
        ),
    ),
    (
        "Evaluation",
        (
            ("eval.bench", "BenchConfig"),
            ("eval.generator", "GenConfig"),
        ),
    ),
)

ENVIRONMENT: dict[str, str] = {
    "OMNISTREAM_API_KEY": "access key of `omnistream serve` and `demo` (instead of `--api-key`, which shows in `ps`); "
    "required beyond loopback unless `--allow-unauthenticated`; see [security.md](security.md)",
    "OMNISTREAM_MQTT_PASSWORD": "broker password of `omnistream mqtt` (instead of `--password`); see "
    "[security.md](security.md)",
    "OMNISTREAM_REMOTE_API_KEY": "API key `--backend remote` sends to its server as a bearer token (none when "
    "unset); see [scaling.md](scaling.md)",
    "OMNISTREAM_CACHE": "folder for prepared model files (the joined Whisper model, the dequantised SmolLM2, "
    "tiny test models); default `~/.cache/omnistream`",
    "OMNISTREAM_SHARED": "folder holding `streamingbench/` (the official annotation files); default `shared/` beside "
    "the repository",
}

_ENV_READ = re.compile(
    r"""(?:environ\.get\(|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']"""  # os.environ.get("X") / os.getenv("X")
    r"""|environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""  # os.environ["X"], but not an assignment to it
)


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    kind: str
    default: str
    meaning: str


def field_comments(cls: type) -> dict[str, str]:
    """The comment written after each field of a dataclass (``name: type = default  # comment``)."""
    lines, _ = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            end = node.end_lineno or node.lineno
            text = comments.get(end) or comments.get(node.lineno)
            if text and not text.startswith("type:"):
                found[node.target.id] = text
    return found


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
        return "required" if value is Ellipsis else f"`{value!r}`"
    if f.default_factory is not dataclasses.MISSING:
        factory = f.default_factory
        name = getattr(factory, "__name__", repr(factory))
        return f"`{name}()`"
    return "required"


def _kind(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return f"`{text}`"


def option_rows(cls: type) -> list[Row]:
    comments = field_comments(cls)
    return [
        Row(f.name, _kind(f.type), _default(f), comments.get(f.name, ""))
        for f in dataclasses.fields(cls)
        if not f.name.startswith("_")
    ]


def _option_classes() -> Iterator[tuple[str, type]]:
    for _, groups in OPTION_GROUPS:
        for module, name in groups:
            yield f"{module}.{name}", getattr(importlib.import_module(module), name)


def undocumented_fields() -> list[str]:
    """``module.Class.field`` of every option without a comment beside it."""
    return [
        f"{qualified}.{row.name}" for qualified, cls in _option_classes() for row in option_rows(cls) if not row.meaning
    ]


def environment_read_by_code() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.resolve() == Path(__file__).resolve():
                continue
            for match in _ENV_READ.finditer(path.read_text(encoding="utf-8")):
                names.add(match.group(1) or match.group(2))
    return names


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _flag_rows(parser: argparse.ArgumentParser) -> list[Row]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = ", ".join(action.option_strings) if action.option_strings else action.dest
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            kind = " | ".join(str(c) for c in action.choices)
        elif action.nargs == 0:
            kind = "switch"
        else:
            named = action.metavar if isinstance(action.metavar, str) else getattr(action.type, "__name__", "text")
            kind = named.strip("_").replace("_", " ")
        default = action.default
        shown = "—" if default in (None, argparse.SUPPRESS, []) or action.nargs == 0 else f"`{default!r}`"
        if isinstance(action, argparse._AppendAction):
            kind += " (repeatable)"
        rows.append(Row(f"`{name}`", kind or "text", shown, action.help or ""))
    return rows


def _commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in sorted(action.choices.items()):
                yield name, helps.get(name, ""), sub


def _table(header: tuple[str, str, str, str], rows: list[Row]) -> list[str]:
    out = [f"| {' | '.join(header)} |", "|---|---|---|---|"]
    out += [f"| {r.name} | {_cell(r.kind)} | {_cell(r.default)} | {_cell(r.meaning)} |" for r in rows]
    return [*out, ""]


def render() -> str:
    from app.cli import build_parser

    parser = build_parser()
    out = [
        "# Configuration reference",
        "",
        "Generated by `python -m app.config_reference > docs/configuration.md` from the argument parser and the",
        "option dataclasses; `tests/test_config_reference.py` fails when this file is out of date. Interfaces build",
        "the option groups below from their flags (websocket clients also through `session.update`, see",
        "[realtime_api.md](realtime_api.md)); library users pass them to `engine.runtime.open_session`.",
        "",
        "## Commands",
        "",
    ]
    top = [r for r in _flag_rows(parser) if r.name != "`command`"]
    out += ["### `omnistream` (before the command)", ""]
    out += _table(("flag", "value", "default", "meaning"), top)
    for name, summary, sub in _commands(parser):
        out += [f"### `omnistream {name}`", "", f"{summary[:1].upper()}{summary[1:]}.", ""]
        out += _table(("flag", "value", "default", "meaning"), _flag_rows(sub))
    out += ["## Option groups", ""]
    for title, groups in OPTION_GROUPS:
        out += [f"### {title}", ""]
        for module, name in groups:
            cls = getattr(importlib.import_module(module), name)
            doc = inspect.getdoc(cls)
            out += [f"#### `{name}` (`{module}`)", ""]
            if doc and not doc.startswith(f"{name}("):
                out += [doc.splitlines()[0], ""]
            out += _table(("option", "type", "default", "meaning"), option_rows(cls))
    out += ["## Environment variables", "", "| variable | meaning |", "|---|---|"]
    out += [f"| `{k}` | {_cell(v)} |" for k, v in sorted(ENVIRONMENT.items())]
    return "\n".join(out) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

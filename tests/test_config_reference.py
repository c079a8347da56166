"""docs/configuration.md is generated from the code; these tests keep it complete and current."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.cli import build_parser
from app.config_reference import (
    ENVIRONMENT,
    ROOT,
    _commands,
    _flag_rows,
    environment_read_by_code,
    field_comments,
    option_rows,
    render,
    undocumented_fields,
)


@dataclass(frozen=True)
class _Example:
    plain: int = 3  # a plain value
    multi_line: tuple[int, ...] = (
        1,
        2,
    )  # written after the closing bracket
    factory: list[str] = field(default_factory=list)
    bare: str = "x"


def test_field_comments_are_read_beside_each_field() -> None:
    assert field_comments(_Example) == {"plain": "a plain value", "multi_line": "written after the closing bracket"}
    rows = {row.name: row for row in option_rows(_Example)}
    assert rows["plain"].default == "`3`"
    assert rows["factory"].default == "`list()`"
    assert rows["bare"].meaning == ""


def test_committed_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    stale = "docs/configuration.md is stale: python -m app.config_reference > docs/configuration.md"
    assert committed == render(), stale


def test_every_option_has_a_meaning() -> None:
    assert undocumented_fields() == []


def test_every_flag_has_help() -> None:
    parser = build_parser()
    missing = [f"{name} {row.name}" for name, _, sub in _commands(parser) for row in _flag_rows(sub) if not row.meaning]
    assert missing == []


def test_every_environment_variable_read_is_documented() -> None:
    assert environment_read_by_code() == set(ENVIRONMENT)

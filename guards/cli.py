"""The ``ombud`` command line: built-in guard commands plus sub-commands that other packages contribute.

Sub-commands from ``audit``, ``dashboards`` and the proxy are found through the ``ombud.commands`` entry
points, so that ``guards`` never imports the packages that build on it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from guards.commands import register_builtin
from guards.errors import GuardError

COMMAND_ENTRY_POINT_GROUP = "ombud.commands"
logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, plugins included."""
    parser = argparse.ArgumentParser(
        prog="ombud", description="Guard model calls, audit every decision, report fairness."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and warnings to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register_builtin(subparsers)
    for ep in sorted(entry_points(group=COMMAND_ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:  # a plugin whose package is not installed must not break the others
            logger.debug("ombud plugin %s unavailable: %s", ep.name, exc)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ombud``; returns the exit code (errors print one clear line, no traceback)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into head or similar: not an error
        return 141
    except GuardError as exc:
        print(f"ombud: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"ombud: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

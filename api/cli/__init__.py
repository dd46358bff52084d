"""The ``pxl`` command: one entry point, one module per group of subcommands.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds the
subcommands listed beside it and sets ``func`` (taking the parsed args, returning the exit
status).  Start-up time counts for one-shot commands such as ``pxl prove``, so only the module
of the chosen subcommand is imported (all of them for ``pxl --help`` or an unknown command),
and heavy imports (FastAPI, Celery, the settings, the prover) happen inside the handlers.
Measured with ``python -X importtime``: docs/benchmarks.md, "Per-call and start-up cost".
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

# module -> the subcommands its register() adds (tests/unit/test_jobs_cli.py keeps them in step)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "prove": ("prove", "check"),
    "service": ("serve", "worker", "up"),
    "token": ("token",),
    "flower": ("flower",),
    "remote": ("submit", "job", "events", "ping"),
    "coq": ("coq-check",),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``pxl`` parser; with ``command``, only that subcommand's module is registered."""
    parser = argparse.ArgumentParser(prog="pxl", description="LOGOS PXL Core: S5 proof service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = [m for m, commands in COMMAND_MODULES.items() if command in commands]
    for name in chosen or COMMAND_MODULES:
        importlib.import_module(f"api.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``pxl ARGV`` (default: the command line); return the exit status."""
    return _dispatch(argv)[1]


def run() -> None:
    """The ``pxl`` console script.  A one-shot command whose defaults set ``exit_at_once``
    (``pxl prove``, ``pxl check``) leaves with ``os._exit`` once its output is flushed: the
    interpreter's clean-up (tearing down every imported module) would add about 6 ms to a
    `pxl prove` of about 45 ms (docs/benchmarks.md), and such a command has nothing to
    clean up (no atexit work, no open files, only the prover's daemon watcher thread)."""
    args, status = _dispatch(sys.argv[1:])
    if getattr(args, "exit_at_once", False):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    sys.exit(status)


def _dispatch(argv: list[str] | None) -> tuple[argparse.Namespace, int]:
    argv = sys.argv[1:] if argv is None else argv
    # The first word names the subcommand (``pxl`` itself has no options but -h).
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return args, 2
    try:
        return args, int(args.func(args) or 0)
    except ValueError as exc:
        # An invalid PXL_* value: one line, not a traceback.  Only the settings module raises
        # ConfigError, so when a command never imported it (pxl prove) there is none to catch.
        settings = sys.modules.get("workers.settings")
        if settings is None or not isinstance(exc, settings.ConfigError):
            raise
        print(f"pxl {args.command}: {exc}", file=sys.stderr)
        return args, 2


if __name__ == "__main__":
    run()

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

# The status when the output cannot be written (a full disk): the interpreter's own when it
# cannot flush standard output at exit, which os._exit (run) skips.
EXIT_OUTPUT_FAILED = 120

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
    clean up (no atexit work, no open files, only the prover's daemon watcher thread).
    The flush is ``write_output``'s: output that cannot be written is an error, not a 0."""
    args, status = _dispatch(sys.argv[1:])
    if getattr(args, "exit_at_once", False):
        if not write_output(args.command):
            status = EXIT_OUTPUT_FAILED
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def write_output(command: str, text: str = "") -> bool:
    """Write ``text`` to standard output and flush it; False (said on stderr) when it cannot
    be written, e.g. a full disk: the caller exits EXIT_OUTPUT_FAILED, never with an answer
    nobody got.  A closed pipe (`pxl prove … | head`) is not a failure: the answer is in the
    exit status.  Either way standard output then points at /dev/null, so that no later
    flush (the interpreter's at exit) fails again."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_output()
    except OSError as exc:
        _discard_output()
        reason = exc.strerror or str(exc)
        print(f"pxl {command}: cannot write the output: {reason}", file=sys.stderr)
        return False
    except ValueError:  # standard output was closed: nothing can be written or lost
        pass
    return True


def _discard_output() -> None:
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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

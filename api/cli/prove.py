"""`pxl prove` (decide a formula locally) and `pxl check` (verify a saved result document).

Exit status of `pxl prove`: 0 valid, 1 invalid, 2 unknown, 3 bad input (also for
usage errors, so that 2 always means "unknown").  `pxl check`: 0 the document
holds, 1 it does not (the reason is printed), 3 the file cannot be read.  Both: 120
when the output cannot be written (api.cli.write_output; a closed pipe is not that).
"""

from __future__ import annotations

import argparse
import json
import sys

from api.cli import EXIT_OUTPUT_FAILED, write_output

EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_BAD_INPUT = 0, 1, 2, 3
EXIT_BY_VERDICT = {"valid": EXIT_VALID, "invalid": EXIT_INVALID, "unknown": EXIT_UNKNOWN}
CHECK_OK, CHECK_FAILED = 0, 1


def register(subparsers) -> None:
    prove = subparsers.add_parser(
        "prove",
        help="decide whether a PXL (S5) formula is valid",
        description=(
            "Decide S5 validity of a formula in PXL text syntax (or its JSON form).\n"
            "Exit status: 0 valid, 1 invalid, 2 unknown, 3 bad input."
        ),
        epilog=(
            "example:\n  pxl prove '[](p -> q) -> ([]p -> []q)'\nsyntax: docs/formula-language.md"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = prove.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "formula",
        nargs="?",
        metavar="FORMULA",
        help="the formula; '-' reads it from standard input",
    )
    source.add_argument("--file", "-f", metavar="F", help="read the formula from file F")
    prove.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="give up with 'unknown' after this long (default: PXL_DEFAULT_JOB_TIMEOUT, 30)",
    )
    prove.add_argument(
        "--json", action="store_true", help="print the result document the API returns"
    )
    prove.add_argument(
        "--coq",
        metavar="FILE.v",
        help="for a valid verdict, write a Coq proof of it to FILE.v (check: pxl coq-check FILE.v)",
    )
    prove.set_defaults(func=run_prove, exit_at_once=True)
    _bad_usage_exits_with(prove, EXIT_BAD_INPUT)

    check = subparsers.add_parser(
        "check",
        help="verify a saved result document (its proof or countermodel)",
        description=(
            "Re-check the certificate of a 'valid' or the countermodel of an 'invalid' result "
            "document (as printed by `pxl prove --json` or returned by the API), without "
            "trusting the prover. Exit status: 0 it holds, 1 it does not, 3 a file that cannot be read or is not JSON."
        ),
    )
    check.add_argument("file", metavar="FILE", help="the result document; '-' for standard input")
    check.set_defaults(func=run_check, exit_at_once=True)
    _bad_usage_exits_with(check, EXIT_BAD_INPUT)


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {value!r}")
    return seconds


def _bad_usage_exits_with(parser: argparse.ArgumentParser, status: int) -> None:
    """Make usage errors of this subcommand exit with ``status`` instead of argparse's 2."""

    def error(message: str):
        parser.print_usage(sys.stderr)
        parser.exit(status, f"{parser.prog}: error: {message}\n")

    parse_known_args = parser.parse_known_args

    def parse_known_args_strict(args=None, namespace=None):
        # Unknown options would otherwise be reported by the top-level parser (status 2).
        namespace, extras = parse_known_args(args, namespace)
        if extras:
            error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    parser.error = error
    parser.parse_known_args = parse_known_args_strict


def _read_source(name: str) -> str:
    """Text of a file, or of standard input for '-'; OSError/UnicodeDecodeError on failure."""
    if name == "-":
        return sys.stdin.buffer.read().decode("utf-8")
    with open(name, "rb") as handle:
        return handle.read().decode("utf-8")


def read_cli_formula(text: str):
    """A formula from command-line text: PXL syntax, or the JSON form when it starts with '{'."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip().startswith("{"):
        from workers.prover.jsonform import formula_from_json_text

        return formula_from_json_text(text)
    from workers.prover.parser import parse_formula

    return parse_formula(text)


def run_prove(args: argparse.Namespace) -> int:
    from workers.prover.errors import FormulaError

    if args.file is not None:
        origin, source = args.file, args.file
    elif args.formula == "-":
        origin, source = "<stdin>", "-"
    else:
        origin, source = None, None
    try:
        text = _read_source(source) if source else args.formula
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pxl prove: cannot read {origin}: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        formula = read_cli_formula(text)
    except FormulaError as exc:
        where = f"{origin}: " if origin else ""
        print(f"pxl prove: bad formula: {where}{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from workers.prover.search import prove

    timeout = args.timeout if args.timeout is not None else _default_timeout()
    try:
        # --json writes the service's result document, readable forms included; the
        # human report shows neither, so it does not pay for them.
        result = prove(formula, timeout=timeout, explain=args.json)
    except KeyboardInterrupt:
        print("pxl prove: interrupted", file=sys.stderr)
        return 130
    if args.json:
        written = write_output("prove", json.dumps(result.to_document(), indent=2,
                                                   ensure_ascii=False) + "\n")
    else:
        written = write_output("prove", format_result(result))
    if args.coq:
        _write_coq_proof(result, args.coq)
    return EXIT_BY_VERDICT[result.verdict] if written else EXIT_OUTPUT_FAILED


def _write_coq_proof(result, path: str) -> None:
    """Write the Coq proof of a valid result to ``path``; say on stderr why there is none."""
    from workers.prover.coq import CoqExportError, export_certificate

    if result.verdict != "valid" or not result.certificate:
        why = result.certificate_omitted or "no certificate"
        print(f"pxl prove: no Coq proof written ({result.verdict}; {why})", file=sys.stderr)
        return
    try:
        text = export_certificate(result.formula, result.certificate)
    except CoqExportError as exc:
        print(f"pxl prove: no Coq proof written: {exc}", file=sys.stderr)
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        print(f"pxl prove: cannot write {path}: {_os_reason(exc)}", file=sys.stderr)
        return
    print(f"pxl prove: Coq proof written to {path} (check: pxl coq-check {path})", file=sys.stderr)


def _default_timeout() -> float:
    """The service's default job timeout, from its code: `pxl prove` reads no PXL_* setting."""
    from workers.prover.limits import DEFAULT_TIMEOUT_SECONDS

    return DEFAULT_TIMEOUT_SECONDS


def _os_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    return getattr(exc, "strerror", None) or str(exc)


def format_result(result) -> str:
    """The human-readable report of a ProofResult."""
    from workers.prover.printer import to_text
    from workers.prover.wording import count

    lines = [f"{result.verdict} (SZS status: {result.szs_status})"]
    if result.formula is not None:
        lines.append(f"formula: {to_text(result.formula)}")
    if result.verdict == "invalid" and result.countermodel:
        lines.extend(_countermodel_lines(result.countermodel))
    if result.verdict == "valid":
        if result.certificate:
            steps = result.stats.get("proof_steps")
            size = f", {count(steps, 'step')}" if steps is not None else ""
            lines.append(
                f"proof: certificate {result.certificate_format}{size}, "
                f"{len(result.certificate)} bytes base64 (see --json; verify with `pxl check`)"
            )
        else:
            lines.append(f"proof: none ({result.certificate_omitted or 'not produced'})")
    if result.error:
        lines.append(f"error: {result.error}")
    if result.trace:
        lines.append("trace:")
        lines.extend(f"  {step}" for step in result.trace)
    if result.stats:
        stats = ", ".join(f"{k}={v}" for k, v in result.stats.items() if k != "elapsed_ms")
        lines.append(f"stats: {stats}" if stats else "stats:")
    lines.append(f"elapsed: {result.elapsed_ms:.1f} ms")
    return "\n".join(lines) + "\n"


def _countermodel_lines(model: dict) -> list[str]:
    from workers.prover.wording import count

    worlds = model.get("worlds") or []
    actual = model.get("actual_world")
    lines = [
        f"countermodel: {count(len(worlds), 'world')}, "
        f"{model.get('relation', 'universal')} relation; the formula is false at {actual}"
    ]
    for world in worlds:
        true_atoms = world.get("true_atoms") or []
        shown = ", ".join(true_atoms) if true_atoms else "(no atom true)"
        mark = "  <- actual" if world.get("id") == actual else ""
        lines.append(f"  {world.get('id')}: {shown}{mark}")
    return lines


def run_check(args: argparse.Namespace) -> int:
    origin = "<stdin>" if args.file == "-" else args.file
    try:
        text = _read_source(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"pxl check: cannot read {origin}: {_os_reason(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:  # not a result document at all: bad input, as documented
        print(f"pxl check: {origin} is not a JSON document (line {exc.lineno}, column "
              f"{exc.colno}: {exc.msg})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RecursionError:
        print(f"pxl check: {origin}: JSON nested too deeply", file=sys.stderr)
        return EXIT_BAD_INPUT

    from workers.prover.check import check_result_document

    report = check_result_document(doc)
    if report.ok:
        return CHECK_OK if write_output("check", f"ok: {report.reason}\n") else EXIT_OUTPUT_FAILED
    return _rejected(report.reason)


def _rejected(reason: str) -> int:
    print(f"rejected: {reason}", file=sys.stderr)
    return CHECK_FAILED

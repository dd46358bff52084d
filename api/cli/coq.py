"""`pxl coq-check`: build the Coq kernel, check it with coqchk, stamp the result; compile proofs.

Without files: copy ``coq/*.v`` into the build directory (default ``build/coq``, gitignored),
compile them with ``coqc`` (library ``PXL``), run ``coqchk`` on the compiled library, print the
assumptions of the exported theorems, and write the stamp ``coqchk.json`` there: Coq and coqchk
versions, SHA-256 of every source and ``.vo`` file, the assumptions, the verdict and the time.
``api/provenance.py`` reads the stamp for ``X-PXL-Coqchk``, ``/v1/health`` and the
``pxl_coqchk_status`` metric.  The verdict is ``passed`` only when everything compiled, coqchk
accepted the library and no exported theorem depends on an axiom other than ``ALLOWED_AXIOMS``.

With files (``pxl coq-check proof.v …``, as written by ``pxl prove --coq``): make sure the kernel
is built and passed (building it first if its stamp is missing or stale), then compile each
file against it in a scratch directory and check that its theorem ``formula_valid`` rests on
no axiom beyond ``ALLOWED_AXIOMS``.  Exit status: 0 all passed, 1 something failed,
3 bad usage or Coq missing.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from api.provenance import SOURCE_ROOT, coqchk_status, file_digests

COQ_SOURCES = SOURCE_ROOT / "coq"
BUILD_DIR = SOURCE_ROOT / "build" / "coq"
STAMP_NAME = "coqchk.json"
LIBRARY = "PXL"
MODULES = ("Kernel", "Checker", "Worlds", "Cuts")  # in dependency order
# Theorems whose assumptions are checked; the statement users rely on is check_sound.
EXPORTED = (
    "Kernel.universal_valid_s5_valid",
    "Checker.check_universal",
    "Checker.check_sound",
    "Worlds.check_worlds_universal",
    "Worlds.check_worlds_sound",
    "Cuts.check_cuts_universal",
    "Cuts.check_cuts_sound",
)
ALLOWED_AXIOMS = frozenset({"Classical_Prop.classic"})
# the same axiom as coqchk names it in its context summary (over the whole checked library)
ALLOWED_COQCHK_AXIOMS = frozenset({"Coq.Logic.Classical_Prop.classic"})
PROOF_THEOREM = "formula_valid"  # the theorem of an exported proof (workers/prover/coq.py)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 3


class CoqMissing(RuntimeError):
    pass


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "coq-check",
        help="build and coqchk the Coq kernel (writes the X-PXL-Coqchk stamp); compile proofs",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILE.v", help="exported proofs to compile")
    parser.add_argument(
        "--build-dir", default=str(BUILD_DIR), help="where the kernel is built and stamped"
    )
    parser.add_argument(
        "--sources", default=str(COQ_SOURCES), help="the kernel's .v files (default: coq/)"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed per proof file (default 60)"
    )
    parser.set_defaults(func=run_coq_check)


def _run(cmd: list[str], cwd: Path, timeout: float | None = None) -> tuple[int, str]:
    try:
        out = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise CoqMissing(f"{cmd[0]} not found (Debian package 'coq')") from None
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:g} s"
    return out.returncode, (out.stdout + out.stderr).strip()


def _version(tool: str) -> str:
    code, out = _run([tool, "--version"], Path.cwd())
    match = re.search(r"version ([0-9][0-9A-Za-z.+~-]*)", out)
    return match.group(1) if code == 0 and match else "unknown"


def axioms_of(printed: str) -> set[str]:
    """Axiom names in the output of ``Print Assumptions`` (empty when closed)."""
    names: set[str] = set()
    in_axioms = False
    for line in printed.splitlines():
        if line.startswith("Axioms:"):
            in_axioms = True
        elif in_axioms and line and not line[0].isspace():
            names.add(line.split(" :", 1)[0].strip())
    return names


def coqchk_axioms(summary: str) -> set[str]:
    """Axiom names listed under ``* Axioms:`` in coqchk's context summary (``-o``)."""
    names: set[str] = set()
    lines = iter(summary.splitlines())
    for line in lines:
        if line.strip() == "* Axioms:":
            for item in lines:
                if not item.strip():
                    break
                names.add(item.strip())
    return names


def build_kernel(build_dir: Path, sources: Path = COQ_SOURCES) -> dict:
    """Compile and coqchk the kernel in ``build_dir``; write and return the stamp."""
    started = time.monotonic()
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    for module in MODULES:
        shutil.copy2(sources / f"{module}.v", build_dir / f"{module}.v")
    log: list[str] = []
    status = "passed"
    axioms: set[str] = set()
    for module in MODULES:
        code, out = _run(["coqc", "-q", "-Q", ".", LIBRARY, f"{module}.v"], build_dir)
        if code != 0:
            status = "failed"
            log.append(f"coqc {module}.v: {out}")
            break
    if status == "passed":
        code, out = _run(
            ["coqchk", "-silent", "-o", "-Q", ".", LIBRARY, *(f"{LIBRARY}.{m}" for m in MODULES)],
            build_dir,
        )
        log.append(f"coqchk: {out}")
        if code != 0 or coqchk_axioms(out) - ALLOWED_COQCHK_AXIOMS:
            status = "failed"
    if status == "passed":
        probe = build_dir / "Assumptions.v"
        probe.write_text(
            f"From {LIBRARY} Require {' '.join(MODULES)}.\n"
            + "".join(f"Print Assumptions {LIBRARY}.{name}.\n" for name in EXPORTED)
        )
        code, out = _run(["coqc", "-q", "-Q", ".", LIBRARY, probe.name], build_dir)
        for suffix in (".v", ".vo", ".vok", ".vos", ".glob"):
            probe.with_suffix(suffix).unlink(missing_ok=True)
        axioms = axioms_of(out)
        if code != 0 or axioms - ALLOWED_AXIOMS:
            status = "failed"
            log.append(f"Print Assumptions: {out}")
    files = [f"{m}{ext}" for m in MODULES for ext in (".v", ".vo")]
    stamp = {
        "status": status,
        "library": LIBRARY,
        "coq_version": _version("coqc"),
        "coqchk_version": _version("coqchk"),
        "sources_sha256": file_digests(build_dir, [f"{m}.v" for m in MODULES])[0],
        "files": file_digests(build_dir, [f for f in files if (build_dir / f).exists()])[1],
        "assumptions": sorted(axioms),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 2),
        "log": "\n".join(log)[-4000:],
    }
    (build_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
    return stamp


def ensure_kernel(build_dir: Path, sources: Path = COQ_SOURCES) -> str:
    """The kernel's stamp status, building it first when there is no fresh stamp of ``sources``."""
    status = coqchk_status(build_dir / STAMP_NAME)
    built = all(
        (build_dir / f"{m}.v").exists()
        and (build_dir / f"{m}.v").read_bytes() == (sources / f"{m}.v").read_bytes()
        for m in MODULES
    )
    if not status.startswith("passed") or not built:
        build_kernel(build_dir, sources)
        status = coqchk_status(build_dir / STAMP_NAME)
    return status


def compile_proof(path: Path, build_dir: Path, timeout: float) -> tuple[bool, float, str]:
    """(ok, coqc seconds, message) for one exported proof compiled against the built kernel."""
    text = path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="pxl-coq-") as tmp:
        copy = Path(tmp) / "Proof.v"
        copy.write_text(f"{text}\nPrint Assumptions {PROOF_THEOREM}.\n", encoding="utf-8")
        started = time.monotonic()
        code, out = _run(
            ["coqc", "-q", "-Q", str(build_dir.resolve()), LIBRARY, copy.name], Path(tmp), timeout
        )
        seconds = time.monotonic() - started
    if code != 0:
        return False, seconds, out.splitlines()[-1] if out else f"coqc exit {code}"
    extra = axioms_of(out) - ALLOWED_AXIOMS
    if extra:
        return False, seconds, f"depends on axioms {sorted(extra)}"
    return True, seconds, "compiled; assumptions: " + (", ".join(sorted(axioms_of(out))) or "none")


def run_coq_check(args: argparse.Namespace) -> int:
    build_dir = Path(args.build_dir)
    try:
        if not args.files:
            stamp = build_kernel(build_dir, Path(args.sources))
            print(f"kernel: {coqchk_status(build_dir / STAMP_NAME)}")
            print(f"stamp: {build_dir / STAMP_NAME}")
            if stamp["status"] != "passed":
                print(stamp["log"], file=sys.stderr)
            return EXIT_OK if stamp["status"] == "passed" else EXIT_FAILED
        status = ensure_kernel(build_dir, Path(args.sources))
        if not status.startswith("passed"):
            print(f"pxl coq-check: the kernel did not pass: {status}", file=sys.stderr)
            return EXIT_FAILED
        failed = 0
        for name in args.files:
            try:
                ok, seconds, message = compile_proof(Path(name), build_dir, args.timeout)
            except (OSError, UnicodeDecodeError) as exc:
                ok, seconds, message = False, 0.0, f"cannot read: {exc}"
            failed += not ok
            print(f"{name}: {'ok' if ok else 'FAILED'} ({seconds:.2f} s) {message}")
        return EXIT_FAILED if failed else EXIT_OK
    except CoqMissing as exc:
        print(f"pxl coq-check: {exc}", file=sys.stderr)
        return EXIT_USAGE

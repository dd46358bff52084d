"""Coq coverage benchmark: ``python bench/coq.py [FILE.jsonl] [--timeout 60] [--json]``.

For every problem of FILE whose expected verdict is ``valid`` (default: bench/sample.jsonl, else
the shared sample), decide it with ``prove``, export its certificate as a Coq proof
(workers/prover/coq.py) and compile that with ``coqc`` against the kernel built by
``pxl coq-check`` (built first when its stamp is missing or stale), with a per-proof time limit.
Prints, per certificate kind, how many proofs were exported and compiled within the limit and
the coqc time per proof (median, P95, max), and names what is not covered and why.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.cli.coq import BUILD_DIR, compile_proof, ensure_kernel  # noqa: E402
from workers.prover import certificate as cert  # noqa: E402
from workers.prover import prove, read_formula  # noqa: E402
from workers.prover.coq import CoqExportError, export_proof  # noqa: E402

SAMPLES = (ROOT / "bench" / "sample.jsonl",)


def kind_of(proof: dict) -> str:
    kind = proof.get("kind", "lemmas")
    if any(step[0] == "c" for step in proof["steps"]):
        kind += "+c"
    return kind


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def run(path: Path, timeout: float, prove_timeout: float, build_dir: Path) -> list[dict]:
    rows = []
    print(f"kernel: {ensure_kernel(build_dir)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pxl-coq-bench-") as tmp:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            prob = json.loads(line)
            if prob.get("expected") != "valid":
                continue
            row = {"id": prob["id"], "kind": None, "compiled": False, "seconds": None}
            formula = read_formula(prob["formula"])
            result = prove(formula, timeout=prove_timeout)
            if result.verdict != "valid" or not result.certificate:
                row["reason"] = f"no certificate ({result.verdict})"
                rows.append(row)
                continue
            proof = cert.decode(result.certificate)
            row["kind"] = kind_of(proof)
            row["steps"] = len(proof["steps"])
            try:
                text = export_proof(formula, proof)
            except CoqExportError as exc:
                row["reason"] = str(exc)
                rows.append(row)
                continue
            out = Path(tmp) / "proof.v"
            out.write_text(text, encoding="utf-8")
            row["v_bytes"] = len(text.encode())
            ok, seconds, message = compile_proof(out, build_dir, timeout)
            row.update(compiled=ok, seconds=round(seconds, 2))
            if not ok:
                row["reason"] = message
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    return rows


def table(rows: list[dict], timeout: float) -> str:
    lines = [
        f"| kind | valid problems | exported | compiled ≤ {timeout:g} s | share | "
        "coqc median s | P95 s | max s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kinds = sorted({r["kind"] or "(none)" for r in rows})
    for kind in [*kinds, "all"]:
        group = [r for r in rows if kind == "all" or (r["kind"] or "(none)") == kind]
        exported = [r for r in group if r.get("v_bytes")]
        done = [r["seconds"] for r in group if r["compiled"]]
        share = f"{100 * len(done) / len(group):.0f}%"
        times = (
            f"{statistics.median(done):.2f} | {p95(done):.2f} | {max(done):.2f}"
            if done
            else "– | – | –"
        )
        lines.append(
            f"| {kind} | {len(group)} | {len(exported)} | {len(done)} | {share} | {times} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="problems (JSON lines)")
    parser.add_argument("--timeout", type=float, default=60.0, help="coqc seconds per proof")
    parser.add_argument("--prove-timeout", type=float, default=60.0, help="prover seconds")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--build-dir", default=str(BUILD_DIR), help="kernel build to compile against"
    )
    args = parser.parse_args()
    path = Path(args.file) if args.file else next((p for p in SAMPLES if p.exists()), None)
    if path is None:
        parser.error("no sample file found; pass one")
    rows = run(path, args.timeout, args.prove_timeout, Path(args.build_dir))
    if args.json:
        print(json.dumps(rows, indent=2))
    print(table(rows, args.timeout))
    for r in rows:
        if not r["compiled"]:
            print(f"- {r['id']} ({r['kind']}): {r.get('reason')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every prover pass at nesting up to the node limit: ``python bench/deep_nesting.py``.

Patches ``MAX_DEPTH`` to ``MAX_NODES`` in this process only, then for four deep shapes
times parse, print (and re-parse), prove, check the evidence, the JSON form both ways, and
tries ``json.dumps``/``json.loads`` of the JSON form (the standard library recurses).
The measured reason for the 2,000 limit: docs/formula-language.md, "Limits".
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workers.prover.jsonform as J  # noqa: E402
import workers.prover.limits as L  # noqa: E402
import workers.prover.parser as P  # noqa: E402

P.MAX_DEPTH = J.MAX_DEPTH = L.MAX_NODES

from workers.prover import check_result_document, parse_formula, prove, to_text  # noqa: E402
from workers.prover.jsonform import formula_from_json, formula_to_json, loads_json  # noqa: E402

CASES = {
    "negations ~~~...p": "~" * 49_998 + "p",
    "boxes [][]...p": "[]" * 49_998 + "p",
    "<>[] alternating": "<>[]" * 24_999 + "p",
    "right-nested ->": "".join(f"(p{i % 7} -> " for i in range(16_000)) + "q" + ")" * 16_000,
}


def timed(row: list[str], label: str, action):
    t = time.perf_counter()
    try:
        value = action()
    except RecursionError:
        row.append(f"{label} RecursionError")
        return None
    row.append(f"{label} {time.perf_counter() - t:.2f}s")
    return value


def main() -> None:
    for name, text in CASES.items():
        row = [name]
        f = timed(row, "parse", lambda text=text: parse_formula(text))
        row.append(f"depth {f.depth} nodes {f.size}")
        s = timed(row, "print", lambda f=f: to_text(f))
        row.append(f"reparses to the same: {parse_formula(s) is f}")
        r = timed(row, "prove", lambda f=f: prove(f, timeout=60))
        row.append(r.verdict)
        c = timed(row, "check", lambda r=r: check_result_document(r.to_document()))
        row.append(f"ok={c.ok}")
        j = timed(row, "JSON form", lambda f=f: formula_to_json(f))
        row.append(f"back the same: {formula_from_json(j) is f}")
        data = timed(row, "json.dumps", lambda j=j: json.dumps(j))
        if data is not None:
            timed(row, "json.loads", lambda data=data: json.loads(data))
            timed(row, "loads_json", lambda data=data: loads_json(data, max_nesting=10**6))
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()

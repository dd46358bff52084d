"""Pigeonhole S5 problems in the LWB style: ``python bench/gen_php.py OUT.jsonl [--min 5] [--max 21]``.

Atom ``p{i:d}{j:02d}`` says pigeon i sits in hole j; as in the LWB ph classes the
literal ``l(i, j)`` is ``[]p`` when i < j and the plain atom otherwise.  ``left``
says every pigeon sits in some hole, ``right`` lists the pairwise conflicts (two
pigeons in one hole).  Shapes (the LWB classes of the same name):

* ``kt``: ``left -> <>right``          * ``k``: ``<>left -> <>right``
* ``s4``: ``left -> <>(<>(c1) | <>(c2) | ...)`` over the conflicts ci

With n holes and n+1 pigeons the formula is S5-valid (pigeonhole principle at one
world); with n pigeons it is invalid (everybody gets their own hole).
Each line: ``{"id", "family", "formula", "expected", "size"}`` as in the sample.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def lit(i: int, j: int) -> str:
    atom = f"p{i}{j:02d}"
    return f"[]{atom}" if i < j else atom


def formula(style: str, holes: int, pigeons: int) -> str:
    left = " & ".join(
        "(" + " | ".join(lit(i, j) for j in range(1, holes + 1)) + ")"
        for i in range(1, pigeons + 1)
    )
    conflicts = [
        f"({lit(a, j)} & {lit(b, j)})"
        for j in range(1, holes + 1)
        for a in range(1, pigeons + 1)
        for b in range(a + 1, pigeons + 1)
    ]
    if style == "s4":
        right = " | ".join(f"<>{c}" for c in conflicts)
    else:
        right = " | ".join(conflicts)
    if style == "k":
        return f"<>({left}) -> <>({right})"
    return f"({left}) -> <>({right})"


def problems(lo: int, hi: int, styles: list[str]) -> list[dict]:
    out = []
    for style in styles:
        for n in range(lo, hi + 1):
            for pigeons, expected in ((n + 1, "valid"), (n, "invalid")):
                text = formula(style, n, pigeons)
                out.append(
                    {
                        "id": f"php-{style}-{'p' if expected == 'valid' else 'n'}{n:02d}",
                        "family": f"php-{style}-{'p' if expected == 'valid' else 'n'}",
                        "formula": text,
                        "expected": expected,
                        "size": len(text),
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--min", type=int, default=5, help="fewest holes")
    ap.add_argument("--max", type=int, default=21, help="most holes")
    ap.add_argument("--styles", default="kt,k,s4", help="comma-separated: kt, k, s4")
    args = ap.parse_args(argv)
    rows = problems(args.min, args.max, args.styles.split(","))
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} problems to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""LWB-style problem classes at increasing size: ``python bench/gen_lwb.py OUT.jsonl``.

Re-creates some classes of the LWB benchmark for K/KT/S4 (Heuerding and Schwendimann's
"A benchmark method for the propositional modal logics K, KT, S4"), written here from
their published definitions, and emits each class at a sweep of parameters n so that
the formula sizes run from about a thousand nodes up to the input limits
(``workers/prover/limits.py``).  S5 verdicts differ from the K/KT/S4 ones the class names
promise, so ``expected`` is null; bench/run.py checks every answer's evidence instead
(certificate or countermodel).  Classes: lin, branch (K/KT/S4), grz, poly, s5 (n and p
each), path (kt n, s4 n and p) and kt_45_n.

Binary connectives are written fully parenthesised and left-nested, as the LWB
generator prints lists (``((a | b) | c)``), unless ``--flat`` joins lists n-ary
(``a | b | c``); the nested form is much deeper (nesting grows with n).

Each line: ``{"id", "family", "n", "formula", "expected": null, "size", "depth"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FLAT = False


def p(i: int) -> str:
    return f"p{i}"


def neg(a: str) -> str:
    return f"~{a}" if _atomic(a) else f"~({a})"


def _atomic(a: str) -> bool:
    return a.isalnum() or a in ("true", "false")


def box(a: str) -> str:
    return f"[]{a}" if _atomic(a) else f"[]({a})"


def dia(a: str) -> str:
    return f"<>{a}" if _atomic(a) else f"<>({a})"


def boxes(k: int, a: str) -> str:
    for _ in range(k):
        a = box(a)
    return a


def imp(a: str, b: str) -> str:
    return f"({a} -> {b})"


def conj(*items: str) -> str:
    return _join(" & ", list(items), "true")


def disj(*items: str) -> str:
    return _join(" | ", list(items), "false")


def _join(op: str, items: list[str], empty: str) -> str:
    if not items:
        return empty
    if len(items) == 1:
        return items[0]
    if FLAT:
        return "(" + op.join(items) + ")"
    out = items[0]
    for item in items[1:]:
        out = f"({out}{op}{item})"
    return out


# -- axiom schemata used by the classes -------------------------------------------------


def ax_l(a: str, b: str) -> str:
    """L: [](a & []a -> b) | [](b & []b -> a)."""
    return disj(box(imp(conj(a, box(a)), b)), box(imp(conj(b, box(b)), a)))


def ax_lplus(a: str, b: str) -> str:
    """L+: []([]a -> b) | []([]b -> a)."""
    return disj(box(imp(box(a), b)), box(imp(box(b), a)))


def ax_h(a: str, b: str) -> str:
    """H: ([](a | b) & []([]a | b) & [](a | []b)) -> ([]a | []b)."""
    return imp(
        conj(box(disj(a, b)), box(disj(box(a), b)), box(disj(a, box(b)))), disj(box(a), box(b))
    )


def ax_grz(a: str) -> str:
    """Grz: []([](a -> []a) -> a) -> a."""
    return imp(box(imp(box(imp(a, box(a))), a)), a)


def ax_grz1(a: str) -> str:
    """Grz1: []([](a -> []a) -> a) -> []a."""
    return imp(box(imp(box(imp(a, box(a))), a)), box(a))


def ax_4(a: str) -> str:
    return imp(box(a), box(box(a)))


def ax_t(a: str) -> str:
    return imp(box(a), a)


def iff(a: str, b: str) -> str:
    return f"({a} <-> {b})"


def dias(k: int, a: str) -> str:
    for _ in range(k):
        a = dia(a)
    return a


# -- classes ----------------------------------------------------------------------------


def lin_n(n: int) -> str:
    def link(i: int) -> str:
        return disj(neg(ax_l(dia(p(i)), p(i + 1))), neg(ax_l(imp(p(i), box(p(i + 1))), p(i + 1))))

    first = [link(i) for i in range(1, 2 * n - 1)]
    second = [link(i) for i in range(2 * n, 4 * n - 3)]
    return disj(disj(*first), ax_lplus(p(n), p(n)), disj(*second))


def lin_p(n: int) -> str:
    def h2(i: int) -> str:
        a, b = p(i), p(i + 1)
        return ax_h(imp(conj(a, box(a), a), b), imp(neg(a), neg(conj(box(b), b))))

    first = [neg(h2(i)) for i in range(1, n // 3 + 1)]
    second = [neg(h2(i)) for i in range(n // 3 + 1, n + 1)]
    return disj(disj(*first), ax_l(p(n), p(n)), disj(*second))


def _branch_parts(n: int) -> str:
    depth = conj(*(imp(p(100 + i), p(99 + i)) for i in range(1, n + 2)))
    det = conj(
        *(
            imp(
                p(100 + i),
                conj(
                    imp(p(i), box(imp(p(100 + i), p(i)))),
                    imp(neg(p(i)), box(imp(p(100 + i), neg(p(i))))),
                ),
            )
            for i in range(n + 1)
        )
    )
    branching = conj(
        *(
            imp(
                conj(p(100 + i), neg(p(101 + i))),
                conj(
                    dia(conj(p(101 + i), neg(p(102 + i)), p(i + 1))),
                    dia(conj(p(101 + i), neg(p(102 + i)), neg(p(i + 1)))),
                ),
            )
            for i in range(n)
        )
    )
    return conj(depth, det, branching)


def k_branch_n(n: int) -> str:
    b = _branch_parts(n)
    return neg(conj(p(100), neg(p(101)), conj(*(boxes(i, b) for i in range(n + 1)))))


def k_branch_p(n: int) -> str:
    b = _branch_parts(n)
    start = conj(p(100), neg(p(101)), conj(*(boxes(i, b) for i in range(n + 1))))
    return disj(neg(start), neg(boxes(n, p(n // 3 + 1))))


def kt_branch_n(n: int) -> str:
    return neg(conj(p(100), neg(p(101)), boxes(n, _branch_parts(n))))


def kt_branch_p(n: int) -> str:
    start = conj(p(100), neg(p(101)), boxes(n, _branch_parts(n)))
    return disj(neg(start), neg(boxes(n, p(n // 3 + 1))))


def s4_branch_n(n: int) -> str:
    return neg(conj(p(100), neg(p(101)), box(_branch_parts(n))))


def s4_branch_p(n: int) -> str:
    start = conj(p(100), neg(p(101)), box(_branch_parts(n)))
    return disj(neg(start), neg(box(p(n // 3 + 1))))


def _grz_chain(n: int, schema) -> list[str]:
    atoms4 = [p(1), p(2), p(3), p(4)]
    chain = ["false"]
    for _ in range(n // 4 + 1):
        chain.append(disj(box(chain[-1]), *atoms4))
    out = []
    for i in range(1, n):
        q, r = divmod(i, 4)
        out.append(schema(chain[q] if r == 0 else disj(box(chain[q]), *atoms4[:r])))
    return out


def k_grz_n(n: int) -> str:
    c = imp(box(imp(p(2), box(p(2)))), p(2))
    lhs = conj(box(ax_grz1(p(2))), conj(*_grz_chain(n, ax_grz1)), ax_grz1(conj(c, ax_4(c))))
    return imp(lhs, disj(ax_grz(p(1)), ax_grz(p(2)), ax_grz(p(3))))


def k_grz_p(n: int) -> str:
    c = imp(box(imp(p(2), box(p(2)))), p(2))
    lhs = conj(box(ax_grz(p(2))), conj(*_grz_chain(n, ax_grz)), ax_grz(conj(c, ax_4(c))))
    return imp(lhs, disj(ax_grz1(p(1)), ax_grz1(p(2)), ax_grz1(p(3))))


def kt_45_n(n: int) -> str:
    q = p(0)
    items = [
        disj(
            boxes(n, disj(box(q), box(dia(neg(q))))),
            neg(boxes(i, ax_4(q))),
            neg(boxes(i, ax_4(dia(q)))),
            neg(boxes(i, ax_t(q))),
            neg(boxes(i, ax_4(imp(dia(q), q)))),
            neg(boxes(i, ax_4(imp(box(q), q)))),
        )
        for i in range(1, n + 1)
    ]
    return disj(*items)


def _poly(m: int) -> str:
    # f(i) = <>(f(i-1) | <>^i (p_i <-> p_{i+1})) | [] p_{i+2}, f(0) = false; at i = m the
    # equivalence closes the cycle (p_m <-> p_1).  Built inside out (no recursion).
    f = "false"
    for i in range(1, m + 1):
        link = iff(p(i), p(1)) if i == m else iff(p(i), p(i + 1))
        f = disj(dia(disj(f, dias(i, link))), box(p(i + 2)))
    first = boxes(m + 1, conj(*(p(i) for i in range(1, m + 2))))
    second = boxes(m + 1, conj(*(neg(p(2 * i)) for i in range(1, m + 2))))
    return disj(first, f, second)


def k_poly_n(n: int) -> str:
    return _poly(3 * n if n % 2 == 0 else 3 * n + 1)


def k_poly_p(n: int) -> str:
    return _poly(3 * n if n % 2 == 1 else 3 * n + 1)


def _s5_chain(i: int, m: int) -> str:
    # g(i) = <>((p_i & ~p_{i+1}) | (~p_i & p_{i+1})) | [] g(i+1), g(m) = false.
    g = "false"
    for j in range(m - 1, i - 1, -1):
        g = disj(dia(disj(conj(p(j), neg(p(j + 1))), conj(neg(p(j)), p(j + 1)))), box(g))
    return g


def s4_s5_n(n: int) -> str:
    last = p(6 * n)
    return disj(box(dia(disj(box(last), _s5_chain(1, 6 * n - 5)))), box(imp(dia(p(1)), neg(last))))


def s4_s5_p(n: int) -> str:
    last = p(3 * n)
    eqs = disj(*(iff(p(i), p(i + 1)) for i in range(1, 3 * n - 1)))
    inner = disj(box(eqs), box(last), _s5_chain(1, 3 * n - 1))
    return disj(box(dia(inner)), box(imp(dia(p(1)), neg(last))))


def _path_el(level: int, n: int) -> int:
    """The 'path' through the six atoms of each level: 2 at level 1, then +5 (mod 6) per
    level up to n // 2 and +3 beyond."""
    x = 2
    for lv in range(2, level + 1):
        x += 3 if lv > n // 2 else 5
        if x > 6:
            x -= 6
    return x


def _without(x: int, *items: int) -> list[int]:
    return [y for y in items if y != x] if x in items else list(items)


def _steps(level: int, k: int, targets: list[int], back: bool) -> str:
    # <>^level (~p_{level,k} & [] p_{level+1,x}) per target x (back: the indices swapped)
    out = []
    for x in targets:
        a, b = (x, k) if back else (k, x)
        out.append(dias(level, conj(neg(p(10 * level + a)), box(p(10 * (level + 1) + b)))))
    return disj(*out)


def _left_to_right(level: int, k: int, n: int, broken: bool) -> str:
    # broken (the _n classes): the path is cut at level n // 2, so the formula is not provable
    if level == n:
        return "false"
    x, here = _path_el(level + 1, n), _path_el(level, n)
    cut = broken and level == n // 2
    if k % 2 == 0:
        if k != here or cut:
            return "false"
        return _steps(level, k, [x], back=False)
    if k == here:
        return _steps(level, k, [1, 3, 5] if cut else [1, 3, x, 5], back=False)
    return _steps(level, k, _without(x, 1, 3, 5), back=False)


def _right_to_left(level: int, k: int, n: int) -> str:
    if level == 1 or k % 2 == 1:
        return "false"
    return _steps(level - 1, k, _without(_path_el(level - 1, n), 2, 4, 6), back=True)


def _path_links(m: int, broken: bool) -> str:
    return disj(
        *(
            disj(_left_to_right(i, j, m, broken), _right_to_left(i, j, m))
            for i in range(1, m + 1)
            for j in range(1, 7)
        )
    )


def kt_path_n(n: int) -> str:
    m = n + 1
    first = disj(*(box(p(10 + i)) for i in (1, _path_el(1, m), 3, 5)))
    last = disj(*(dias(m, neg(p(10 * m + i))) for i in (2, 4, _path_el(m, m), 6)))
    return disj(first, _path_links(m, broken=True), last)


def _s4_path(m: int, broken: bool) -> str:
    first = disj(*(box(box(p(10 + i))) for i in (1, _path_el(1, m), 3, 5)))
    last = dia(disj(*(dia(neg(p(10 * m + i))) for i in (2, 4, _path_el(m, m), 6))))
    return disj(first, _path_links(m, broken), last)


def s4_path_n(n: int) -> str:
    return _s4_path(n + 1, broken=True)


def s4_path_p(n: int) -> str:
    return _s4_path(n, broken=False)


CLASSES = {
    "k_lin_n": lin_n,
    "k_lin_p": lin_p,
    "k_branch_n": k_branch_n,
    "k_branch_p": k_branch_p,
    "kt_branch_n": kt_branch_n,
    "kt_branch_p": kt_branch_p,
    "s4_branch_n": s4_branch_n,
    "s4_branch_p": s4_branch_p,
    "k_grz_n": k_grz_n,
    "k_grz_p": k_grz_p,
    "kt_45_n": kt_45_n,
    "k_poly_n": k_poly_n,
    "k_poly_p": k_poly_p,
    "s4_s5_n": s4_s5_n,
    "s4_s5_p": s4_s5_p,
    "kt_path_n": kt_path_n,
    "s4_path_n": s4_path_n,
    "s4_path_p": s4_path_p,
}


def sweep(name: str, steps: int, max_nodes: int) -> list[dict]:
    """The class at growing n: doubling n until the formula passes ``max_nodes`` nodes or the
    reader's limits, then ``steps`` sizes spread evenly below that."""
    from workers.prover import FormulaError, read_formula

    make = CLASSES[name]

    def measure(n: int) -> tuple[str, int, int] | None:
        text = make(n)
        try:
            f = read_formula(text)
        except FormulaError:
            return None
        return text, f.size, f.depth

    n, last_ok = 1, None
    while True:
        got = measure(n)
        if got is None or got[1] > max_nodes:
            break
        last_ok = n
        n *= 2
    if last_ok is None:
        return []
    hi = last_ok
    lo_probe = n
    # refine the top: the largest n still accepted, by bisection between hi and the probe
    while lo_probe - hi > 1:
        mid = (hi + lo_probe) // 2
        got = measure(mid)
        if got is None or got[1] > max_nodes:
            lo_probe = mid
        else:
            hi = mid
    ns = sorted({max(1, round(hi * k / steps)) for k in range(1, steps + 1)})
    out = []
    for n in ns:
        got = measure(n)
        if got is None:
            continue
        text, size, depth = got
        out.append(
            {"id": f"lwb-{name}.{n:04d}", "family": f"lwb-{name}", "n": n, "formula": text,
             "expected": None, "size": size, "depth": depth}
        )
    return out


def main(argv: list[str] | None = None) -> int:
    global FLAT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--classes", default=",".join(CLASSES), help="comma-separated class names")
    ap.add_argument("--steps", type=int, default=8, help="sizes per class")
    ap.add_argument("--max-nodes", type=int, default=50_000)
    ap.add_argument("--flat", action="store_true", help="n-ary lists instead of nested pairs")
    args = ap.parse_args(argv)
    FLAT = args.flat
    rows = []
    for name in args.classes.split(","):
        got = sweep(name, args.steps, args.max_nodes)
        rows += got
        sizes = ", ".join(f"{r['n']}:{r['size']}" for r in got)
        print(f"{name}: {len(got)} problems (n:nodes) {sizes}", file=sys.stderr)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

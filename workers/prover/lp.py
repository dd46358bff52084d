"""Cutting-plane refutation: LP relaxation with clique cuts and an exact Farkas certificate.

CDCL (resolution) needs exponential time on pigeonhole-like clause sets, whose LP
relaxation becomes infeasible once the "at most one" groups hidden in their binary
clauses are written as clique inequalities.  ``refute`` tries exactly that, for a
clause database (``certificate.RupChecker``) under unit assumptions:

1. propagate the assumptions (assignment s, with the clause that implied each literal);
2. every clause not satisfied by s, without its false literals, is a row
   ``sum [l] >= 1`` (``[l]`` = x for a positive literal, 1 - x for a negative one);
3. the binary rows form a conflict graph on literals; a greedy clique cover gives the
   cuts ``sum_{l in K} [l] <= 1`` (valid for every 0/1 point: at most one of K is true);
4. HiGHS solves the Farkas alternative: y >= 0 on the rows and cuts with
   ``max over [0,1]^n of (y A) x  <  y b`` (normalised by sum y <= 1); the multipliers are
   rationalised and the step is verified exactly by the certificate checker's own
   ``check_cut`` before it is returned;
5. the implication reasons of the literals the proof relies on give the subset of the
   assumptions it needs (its core).

Only an infeasibility is ever used: a feasible LP or any numerical trouble returns None
and the caller keeps going with CDCL.  Soundness argument: docs/certificates.md.
"""

from __future__ import annotations

import sys
import time

from workers.prover.certificate import CertificateError, RupChecker, check_cut

MAX_ROWS = 200_000  # LP rows (clause rows + cuts) beyond which we do not try
MAX_CLIQUES = 20_000
MAX_PAIRS = 300_000  # clique pairs (each one RUP check in the certificate checker)
GAP_TOLERANCE = 1e-7
DENOMINATORS = (1, 100, 10_000, 1_000_000)
# numpy and scipy are imported on the first LP of a process: 0.3-1 s that nothing can
# interrupt.  With less time than this left before the caller's limit, that first LP is
# not tried (a 0.075 s limit was once answered 0.34 s late, importing numpy).
IMPORT_SECONDS = 1.5


def _cliques(edges: dict[int, set[int]], deadline: float) -> list[list[int]] | None:
    """Greedy clique cover of the conflict graph (only cliques of 3 or more literals)."""
    covered: set[tuple[int, int]] = set()
    out: list[list[int]] = []
    # Most-connected literals first: they seed the big "at most one" groups.
    order = sorted(edges, key=lambda v: -len(edges[v]))
    for p in order:
        for q in sorted(edges[p], key=lambda v: -len(edges[v])):
            if (min(p, q), max(p, q)) in covered:
                continue
            clique = [p, q]
            cand = edges[p] & edges[q]
            while cand:
                # Highest degree first: linear per step (recounting neighbours inside the
                # candidates is quadratic and measured no better on pigeonhole sets).
                x = max(cand, key=lambda v: len(edges[v]))
                clique.append(x)
                cand &= edges[x]
                if time.monotonic() > deadline:
                    return None
            for i, a in enumerate(clique):
                for b in clique[i + 1 :]:
                    covered.add((min(a, b), max(a, b)))
            if len(clique) >= 3:
                out.append(clique)
                if len(out) > MAX_CLIQUES or time.monotonic() > deadline:
                    return None
    return out


def _obviously_feasible(rows: list[list[int]], cuts: list[list[int]]) -> bool:
    """A cheap feasible point, when there is one: every literal of a clique of k gets at
    most 1/k, each variable the middle of what that leaves; check the rows.  (Saves the LP
    and its import where cuts are few and small, e.g. random 3-CNF.)"""
    cap: dict[int, float] = {}
    for k in cuts:
        share = 1.0 / len(k)
        for lit in k:
            if share < cap.get(lit, 1.0):
                cap[lit] = share
    def value(lit: int) -> float | None:
        hi, lo = cap.get(abs(lit), 1.0), 1.0 - cap.get(-abs(lit), 1.0)
        if lo > hi:
            return None
        x = (lo + hi) / 2
        return x if lit > 0 else 1.0 - x

    for lits in rows:
        total = 0.0
        for lit in lits:
            v = value(lit)
            if v is None:
                return False
            total += v
        if total < 1.0 - 1e-9:
            return False
    return True


def _farkas(
    rows: list[list[int]], cuts: list[list[int]], deadline: float, hard_deadline: float
) -> list[float] | None:
    """Multipliers (rows then cuts) of an LP infeasibility proof, or None."""
    t0 = time.monotonic()
    if "scipy.optimize" not in sys.modules and hard_deadline - t0 < IMPORT_SECONDS:
        return None
    # Imported here, not at the top: numpy and scipy take about a second to import
    # (``python -X importtime``: 1007 ms, against 64 ms for the whole prover without them, on
    # the shared 2-core machine) and only proofs that need an LP certificate use them.
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, eye, hstack, vstack

    # The one-time import (up to about a second on a busy machine) is not LP work: it does
    # not count against the attempt's budget, only against the caller's hard deadline.
    deadline = min(hard_deadline, deadline + (time.monotonic() - t0))

    var_index: dict[int, int] = {}
    for group in (rows, cuts):
        for lits in group:
            for lit in lits:
                var_index.setdefault(abs(lit), len(var_index))
    nr, nv = len(rows) + len(cuts), len(var_index)
    # Row r as a.x >= b: clause rows sign +1, cuts sign -1 (sum [l] <= 1).
    b = np.zeros(nr)
    ri, ci, val = [], [], []
    for r, (lits, sign) in enumerate(
        [(lits, 1) for lits in rows] + [(lits, -1) for lits in cuts]
    ):
        neg = 0
        for lit in lits:
            ri.append(abs(lit))
            ci.append(r)
            val.append(sign if lit > 0 else -sign)
            neg += lit < 0
        b[r] = sign * (1 - neg)
    # Variables: y (nr) then t (nv).  Maximise b.y - sum t  s.t.  (y A)_v - t_v <= 0,
    # sum y <= 1, y, t >= 0.
    a_rows = [var_index[v] for v in ri]
    m_yA = coo_matrix((val, (a_rows, ci)), shape=(nv, nr))
    top = hstack([m_yA, -eye(nv)])
    norm = hstack([coo_matrix(np.ones((1, nr))), coo_matrix((1, nv))])
    a_ub = vstack([top, norm]).tocsr()
    b_ub = np.zeros(nv + 1)
    b_ub[-1] = 1.0
    cost = np.concatenate([-b, np.ones(nv)])
    left = deadline - time.monotonic()
    if left <= 0.01:
        return None
    res = linprog(
        cost, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs",
        options={"time_limit": left},
    )
    if res.status != 0 or res.x is None or -res.fun <= GAP_TOLERANCE:
        return None
    return [float(v) for v in res.x[:nr]]


def refute(
    db: RupChecker, assumptions: list[int], deadline: float, hard_deadline: float | None = None
) -> tuple[dict, list[int]] | None:
    """(cutting-plane step body, core) refuting ``db`` under ``assumptions``, or None.

    The body derives the clause ``[~h for h in core]`` (core: the assumptions the proof
    needs, in their given order) and has passed ``certificate.check_cut`` on ``db``.
    """
    if db.inconsistent:
        return None
    db.reasons = {}
    try:
        mark = db.assume(assumptions)
    finally:
        reasons, db.reasons = db.reasons, None
    if mark is None:
        return None
    n, value = db.n, db.value
    try:
        derived = set(db.trail[mark:])
        rows: list[list[int]] = []
        sources: list[list[int]] = []  # clause each row came from
        edges: dict[int, set[int]] = {}
        edge_source: dict[tuple[int, int], list[int]] = {}
        for c in db.clauses:
            if c is None:
                continue
            reduced = []
            for lit in c:
                if value[n + lit]:
                    break
                if not value[n - lit]:
                    reduced.append(lit)
            else:
                if len(reduced) < 2:  # propagation is complete, so this does not happen
                    return None
                rows.append(reduced)
                sources.append(c)
                if len(reduced) == 2:
                    # (u | v): ~u and ~v are never both true.
                    p, q = -reduced[0], -reduced[1]
                    edges.setdefault(p, set()).add(q)
                    edges.setdefault(q, set()).add(p)
                    edge_source[(min(p, q), max(p, q))] = c
                if len(rows) > MAX_ROWS:
                    return None
        if not rows or time.monotonic() > deadline:
            return None
        cuts = _cliques(edges, deadline)
        # Without a cut the LP is feasible (all x = 1/2 satisfies every row of 2+ literals).
        if not cuts or len(rows) + len(cuts) > MAX_ROWS:
            return None
        if sum(len(k) * (len(k) - 1) // 2 for k in cuts) > MAX_PAIRS:
            return None
        # A binary row inside a cut is implied by it: leave it out of the LP.
        in_cut = {(min(p, q), max(p, q)) for k in cuts for i, p in enumerate(k) for q in k[i + 1 :]}
        keep = [
            i for i, r in enumerate(rows)
            if len(r) != 2 or (min(-r[0], -r[1]), max(-r[0], -r[1])) not in in_cut
        ]
        rows = [rows[i] for i in keep]
        sources = [sources[i] for i in keep]
        if _obviously_feasible(rows, cuts):
            return None
        y = _farkas(rows, cuts, deadline, deadline if hard_deadline is None else hard_deadline)
        if y is None:
            return None
        # Which assumptions the proof needs: trace the false literals of the used rows'
        # and cut pairs' source clauses back through their implication reasons.
        used_sources: list[list[int]] = [
            src for src, w in zip(sources, y[: len(rows)], strict=True) if w > 0
        ]
        for clique, w in zip(cuts, y[len(rows) :], strict=True):
            if w > 0:
                for i, a in enumerate(clique):
                    for b_ in clique[i + 1 :]:
                        used_sources.append(edge_source[(min(a, b_), max(a, b_))])
        needed = {-lit for src in used_sources for lit in src if value[n - lit]}
        assumed = set(assumptions)
        core: set[int] = set()
        seen: set[int] = set()
        stack = [lit for lit in needed if lit in derived]
        while stack:
            lit = stack.pop()
            if lit in seen:
                continue
            seen.add(lit)
            if lit in assumed:
                core.add(lit)
                continue
            ci = reasons.get(lit)
            if ci is None:  # cannot happen for a derived literal; be safe
                return None
            stack.extend(-x for x in db.clauses[ci] if x != lit and -x in derived)
    finally:
        db.undo(mark)
    core_list = [h for h in assumptions if h in core]
    clause = [-h for h in core_list]
    for den in DENOMINATORS:
        body = _body(clause, rows, cuts, y, den)
        try:
            check_cut(db, body)
        except CertificateError:
            continue
        return body, core_list
    return None


def _body(
    clause: list[int], rows: list[list[int]], cuts: list[list[int]], y: list[float], den: int
) -> dict:
    from fractions import Fraction  # here, not at the top: start-up of `pxl prove`

    peak = max(y)
    scaled = [Fraction(v / peak).limit_denominator(den) if v > 1e-9 * peak else 0 for v in y]
    return {
        "clause": clause,
        "rows": [[str(w), lits] for w, lits in zip(scaled, rows, strict=False) if w],
        "cliques": [
            [str(w), lits] for w, lits in zip(scaled[len(rows) :], cuts, strict=True) if w
        ],
    }

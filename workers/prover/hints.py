"""LRAT-style hints for the RUP steps of a certificate (format ``pxl-s5-cert/2``).

The SAT solver logs DRUP (clauses without their reasons).  Checking DRUP means a
unit-propagation search per step; following hints means replaying exactly the clauses that
propagate to the conflict.  This module (prover side) turns a DRUP-style step list into the
hinted form once, when the proof is built:

* forward: every clause gets its id (encoding clauses 1..m, then one per added clause); each
  RUP step is propagated over the current database (deletions honoured, so propagation is as
  cheap as the solver left it) and the implication graph behind the conflict is walked back
  to the clauses that produced it, antecedents first (docs/certificates.md, "Hints");
* backward: from the final step, only the steps whose clause ids some needed hint mentions are
  kept, and the ids are renumbered.

Checking a hinted proof costs at most the forward pass, so it is never slower than building
it.  Each hint list is replayed here exactly as the checker will (``_replay``) before it is
used, so a certificate the prover returns always passes.
"""

from __future__ import annotations

from collections.abc import Callable

from workers.prover.certificate import RupChecker, check_cut


class HintError(RuntimeError):
    """A step of the solver's proof is not RUP here (an internal error, never a wrong proof)."""


class _Finder(RupChecker):
    """Clause database with ids, reasons for every assigned literal and conflict analysis."""

    def __init__(self, nvars: int) -> None:
        super().__init__(nvars)
        self.reasons = {}  # literal -> internal index of the clause that assigned it
        self.ids: list[int] = []  # internal index -> clause id
        self.where: dict[int, int] = {}  # clause id -> internal index
        self.bodies: list[list[int]] = []  # internal index -> literals (kept after deletion)
        self.next_id = 1
        self.empty_hints: list[int] | None = None  # set when the database is refuted

    def add_clause(self, lits: list[int]) -> int:
        """Add a clause under the next id (tautologies get an id but are never hints)."""
        cid = self.next_id
        self.next_id += 1
        if self.inconsistent:
            return cid
        c = self._literals(lits)
        if c is None:
            return cid
        n, value = self.n, self.value
        c.sort(key=lambda lit: 1 if value[n - lit] else 0)  # non-false literals first
        ci = len(self.clauses)
        self.clauses.append(c if len(c) >= 2 else None)  # units are never watched
        self.bodies.append(c)
        self.ids.append(cid)
        self.where[cid] = ci
        if not c or value[n - c[0]]:
            self._refuted(ci)
            return cid
        if len(c) >= 2:
            for lit in (c[0], c[1]):
                w = self.watches[n + lit]
                if w is None:
                    self.watches[n + lit] = [ci]
                else:
                    w.append(ci)
            self.index.setdefault(tuple(sorted(c)), []).append(ci)
        if (len(c) == 1 or value[n - c[1]]) and not value[n + c[0]]:
            self._assign(c[0])
            self.reasons[c[0]] = ci
            if not self._propagate():
                self._refuted(self.conflict)
        return cid

    def _refuted(self, conflict: int) -> None:
        self.inconsistent = True
        self.empty_hints = self._replay([], self._chain(conflict, set()))

    def _chain(self, conflict: int, assumed: set[int]) -> list[int]:
        """Ids of the clauses behind ``conflict`` (an internal index whose literals are all
        false, except possibly the one literal it implies), antecedents first."""
        n, value, reasons, bodies = self.n, self.value, self.reasons, self.bodies
        order: list[int] = []
        entered: set[int] = set()
        done: set[int] = set()
        stack = [conflict]
        while stack:  # iterative post-order DFS: implication chains can be very long
            ci = stack[-1]
            if ci in done:
                stack.pop()
                continue
            if ci not in entered:
                entered.add(ci)
                for lit in bodies[ci]:
                    if value[n - lit] and -lit not in assumed:
                        r = reasons[-lit]
                        if r not in entered:
                            stack.append(r)
                continue
            stack.pop()
            done.add(ci)
            order.append(ci)
        return [self.ids[ci] for ci in order]

    def rup_hints(self, lits: list[int]) -> list[int]:
        """Hints proving ``lits`` RUP over the current database (HintError if it is not)."""
        if self.inconsistent:
            raise HintError("the database is already refuted")
        c = self._literals(lits)
        if c is None:  # a tautology: no hints (the checker accepts it as it is)
            return []
        n, value = self.n, self.value
        assumed = {-lit for lit in c}
        for lit in c:
            if value[n + lit]:  # true at top level: its reason conflicts with the assumption
                return self._replay(c, self._chain(self.reasons[lit], assumed))
        mark = len(self.trail)
        for lit in c:
            if not value[n - lit]:
                self._assign(-lit)
        try:
            if self._propagate():
                raise HintError(f"clause {c} is not RUP")
            hints = self._chain(self.conflict, assumed)
        finally:
            self.undo(mark)
        return self._replay(c, hints)

    def _replay(self, clause: list[int], hints: list[int]) -> list[int]:
        """Replay ``hints`` as the checker does; drop clauses whose literal is already true
        and stop at the first conflict (both can happen when assumed literals were also
        top-level consequences)."""
        true = {-lit for lit in clause}
        bodies, where = self.bodies, self.where
        out: list[int] = []
        for h in hints:
            lits = bodies[where[h]]
            unit = 0
            satisfied = False
            for lit in lits:
                if lit in true:
                    satisfied = True
                    break
                if -lit not in true:
                    if unit:
                        raise HintError(f"hint {h} is not unit")
                    unit = lit
            if satisfied:
                continue
            out.append(h)
            if not unit:
                return out
            true.add(unit)
        raise HintError(f"hints for {clause} do not end in a conflict")


def _trim(steps: list[tuple[list, int | None, list[int]]], base: int) -> list[list]:
    """Keep the steps the last one depends on (through hints), renumbering clause ids.

    ``steps``: (hinted step, its clause id or None, its hints); ids up to ``base`` are the
    initial clauses and keep their numbers."""
    needed = {steps[-1][1]} if steps else set()
    keep = [False] * len(steps)
    for i in range(len(steps) - 1, -1, -1):
        step, cid, hints = steps[i]
        if cid in needed or i == len(steps) - 1:
            keep[i] = True
            needed.update(hints)
    renumber: dict[int, int] = {}
    out: list[list] = []
    next_id = base + 1
    for (step, cid, hints), kept in zip(steps, keep, strict=True):
        if not kept:
            continue
        if cid is not None:
            renumber[cid] = next_id
            next_id += 1
        new_hints = [renumber.get(h, h) for h in hints]
        out.append([*step[:-1], new_hints] if step[0] != "c" else step)
    return out


def hint_lemmas_proof(
    nvars: int,
    clauses: list[list[int]],
    box_arg: dict[int, int],
    root: int,
    steps: list[list],
    poll: Callable[[], None],
) -> list[list]:
    """DRUP-style lemma steps (``a``/``d`` with flat literals, ``n`` flat, ``c``) -> hinted
    ``pxl-s5-cert/2`` steps ending with the derivation of ``[root]``.  ``c`` steps are
    re-checked with ``check_cut`` against the clauses present there (HintError if one
    fails).  ``poll`` is called between steps (it raises to stop)."""
    f = _Finder(nvars)
    for c in clauses:
        f.add_clause(c)
    base = f.next_id - 1
    out: list[tuple[list, int | None, list[int]]] = []
    has_cut = False
    for i, step in enumerate(steps):
        poll()
        tag = step[0]
        if tag == "d":
            f.delete(step[1:])
        elif tag == "a":
            lits = list(step[1:])
            hints = f.rup_hints(lits)
            out.append((["a", lits, hints], f.add_clause(lits), hints))
        elif tag == "n":
            b, hyps = step[1], list(step[2:])
            hints = f.rup_hints([*(-h for h in hyps), box_arg[b]])
            out.append((["n", b, hyps, hints], f.add_clause([b, *(-h for h in hyps)]), hints))
        else:
            has_cut = True
            try:
                clause = check_cut(f, step[1], f"step {i}")
            except ValueError as exc:
                raise HintError(f"a cutting-plane step failed its check: {exc}") from None
            out.append((step, f.add_clause(clause), []))
    last = out[-1][0] if out else None
    derives_root = last is not None and (
        (last[0] == "a" and last[1] == [root]) or (last[0] == "c" and last[1]["clause"] == [root])
    )
    if not derives_root:
        hints = f.rup_hints([root])
        out.append((["a", [root], hints], f.add_clause([root]), hints))
    if has_cut:  # a cut step is checked against every clause before it: keep them all
        return [step for step, _, _ in out]
    return _trim(out, base)


def hint_refutation(
    nvars: int, clauses: list[list[int]], steps: list[list], poll: Callable[[], None]
) -> list[list]:
    """DRUP refutation (flat ``a``/``d``) of ``clauses`` -> hinted steps ending with the
    empty clause ``["a", [], hints]``."""
    f = _Finder(nvars)
    for c in clauses:
        f.add_clause(c)
    base = f.next_id - 1
    out: list[tuple[list, int | None, list[int]]] = []
    for step in steps:
        if f.inconsistent:
            break
        poll()
        if step[0] == "d":
            f.delete(step[1:])
            continue
        lits = list(step[1:])
        hints = f.rup_hints(lits)
        out.append((["a", lits, hints], f.add_clause(lits), hints))
    if not f.inconsistent or f.empty_hints is None:
        raise HintError("the steps do not refute the clauses by unit propagation")
    out.append((["a", [], f.empty_hints], None, f.empty_hints))
    return _trim(out, base)

"""Propagation lemmas under the global facts, saturated incrementally (used by search.py).

Every countermodel has a world w0 where the formula is false, so the *global* literals that
unit propagation derives from ``~phi`` (box variables and connectives over them: the
"facts") hold in every world of it.  If unit propagation from the facts and ``~a`` conflicts
for a box ``[]a``, then ``a`` holds in every world of every countermodel: the facts ``H``
that the conflict uses give the S5-valid lemma ``H -> []a`` (necessitation, as for the
witness failures of the main loop), and ``[]a`` is a new fact.  Chains of such lemmas
(LWB ``s4_path_p``: ``[]p_{i+1,x} & [](p_{i,k} | ~[]p_{i+1,x}) -> []p_{i,k}``, one level per
round of the main loop) are found here at once.

The cost is kept proportional to what changes, not to the formula times the boxes:

* a side solver holds the facts as unit clauses (its level 0), so testing a box is one unit
  propagation of ``~a`` that visits only what ``~a`` implies beyond the facts;
* a box whose test did not conflict is tested again only when a new fact appears in a clause
  next to a variable its last test assigned (or it is that variable): otherwise the test
  would propagate exactly as before (watch-like, as two-watched-literal propagation skips the
  clauses a new assignment cannot make unit);
* all tests together have a budget of propagated literals proportional to the encoding.

The hypotheses of a lemma are the global level-0 literals that a conflict analysis of the
test reaches (Python, over the clauses of the test's propagation only).  The side solver and
this analysis only *propose* a lemma: it is learned only if unit propagation on the main
solver refutes ``H + [~a]``, so a lemma is exactly as sound as those of the main loop,
whatever happens here, and its certificate step is the usual "n" step.
"""

from __future__ import annotations

from collections.abc import Callable

import pysolvers

from workers.prover.sat import MiniSat

# Bound of the level-0 search for the global facts behind the conflict, per lemma.
SUPPORT_LIMIT = 2_000


class Saturation:
    """Side solver + watch index over the boxes' last tests."""

    def __init__(
        self,
        nvars: int,
        clauses: list[list[int]],
        box_arg: dict[int, int],
        global_vars: set[int],
        boxes: list[int],
        poll: Callable[[], None],
    ) -> None:
        self.side = MiniSat()
        handle = self.side.minisat  # loading is most of the cost: straight into C
        self._add_clause = lambda c: pysolvers.minisat22_add_cl(handle, c)
        self.n = nvars
        self.box_arg = box_arg
        self.glob = global_vars
        self.poll = poll
        # occ[n + lit]: the clauses containing lit
        self.occ: list[list[list[int]] | None] = [None] * (2 * nvars + 1)
        # literals true at the side solver's level 0 -> their position in the order of
        # assignment (conflict analysis explains a literal by earlier ones only).  Every
        # level-0 literal is recorded: units enter as facts (add_facts), never directly.
        self.level0: dict[int, int] = {}
        self.consistent = True
        units = []
        for i, c in enumerate(clauses):
            if i % 1024 == 0:
                poll()
            if len(c) == 1:
                units.append(c[0])
            else:
                self._add(c)
        # variable -> boxes whose last test assigned it (entries may be stale: extra tests)
        self.watching: dict[int, list[int]] = {}
        self.untested: list[int] = list(reversed(boxes))  # popped from the end: in box order
        self.queue: list[int] = []  # tested boxes to test again
        self.queued: set[int] = set()
        self.tests = 0
        self.failed = 0  # conflicts whose hypotheses the main solver did not confirm
        self.add_facts(units)

    def close(self) -> None:
        self.side.delete()

    def add_clause(self, c: list[int]) -> None:
        """Add a clause (a lemma of the main loop); one that is unit under the level-0
        literals makes its literal a fact first, so that its consequences are recorded."""
        level0 = self.level0
        free = [x for x in c if -x not in level0]
        if not any(x in level0 for x in free):
            if not free:
                self.consistent = False
            elif len(free) == 1:
                self.add_facts(free)
        self._add(c)

    def _add(self, c: list[int]) -> None:
        self._add_clause(c)
        n, occ = self.n, self.occ
        for lit in c:
            o = occ[n + lit]
            if o is None:
                occ[n + lit] = [c]
            else:
                o.append(c)

    def add_facts(self, lits: list[int]) -> bool:
        """Make ``lits`` (each true in every world of every countermodel) level-0 facts and
        queue the boxes whose tests they may change; False once the facts are inconsistent."""
        lits = [lit for lit in lits if lit not in self.level0]
        if not lits or not self.consistent:
            return self.consistent
        ok, implied = self.side.propagate(assumptions=lits)
        if not ok:
            self.consistent = False
            return False
        for lit in lits:
            self.side.add_clause([lit])
        level0 = self.level0
        new = [lit for lit in implied if lit not in level0]
        for lit in new:
            level0[lit] = len(level0)
        if self.watching:
            n, occ, watching, queued, queue = (
                self.n,
                self.occ,
                self.watching,
                self.queued,
                self.queue,
            )
            touched: set[int] = set()
            for lit in new:
                touched.add(abs(lit))
                for c in occ[n - lit] or ():
                    touched.update(abs(x) for x in c)
            for v in touched:
                for b in watching.pop(v, ()):
                    if b not in queued:
                        queued.add(b)
                        queue.append(b)
        return True

    def run(self, budget: int, explore: int, learn: Callable[[int, list[int]], bool]) -> int:
        """Test boxes until none is due or ``budget`` literals were propagated: first the
        boxes to test again (their neighbourhood changed), then untested ones while their
        tests have propagated fewer than ``explore`` literals.  ``learn(b, H)`` establishes
        the lemma ``H -> []a`` on the main solver (True if it did).  Returns the lemmas
        learned."""
        learned = 0
        work = explored = 0
        level0, box_arg, queue, queued = self.level0, self.box_arg, self.queue, self.queued
        untested = self.untested
        while work < budget and self.consistent:
            if queue:
                b = queue.pop()
                queued.discard(b)
                fresh = False
            elif untested and explored < explore:
                b = untested.pop()
                fresh = True
            else:
                break
            if b in level0:
                continue  # already a fact (a box forced false is tested: that is the proof)
            a = box_arg[b]
            if -a in level0:
                continue  # []a is false in every countermodel
            if self.tests % 256 == 0:
                self.poll()
            self.tests += 1
            if a in level0:
                ok, trail = False, []
            else:
                ok, trail = self.side.propagate(assumptions=[-a])
            cost = len(trail) + 1
            if ok:
                watching = self.watching
                for x in trail:
                    w = watching.get(abs(x))
                    if w is None:
                        watching[abs(x)] = [b]
                    else:
                        w.append(b)
            else:
                hyps, more = self._hypotheses(a, trail)
                cost += more
                if hyps is None or not learn(b, hyps):
                    self.failed += 1
                else:
                    learned += 1
                    self.add_facts([b])
            work += cost
            if fresh:
                explored += cost
        return learned

    def _hypotheses(self, a: int, trail: list[int]) -> tuple[list[int] | None, int]:
        """The global level-0 literals behind the conflict of testing ``~a`` (whose
        propagation ``trail`` ended in a conflict), by conflict analysis in the order of
        assignment: each literal is explained by a clause whose other literals were all
        false before it; level-0 literals of global variables are the hypotheses.  Returns
        (hypotheses or None when the analysis fails or passes SUPPORT_LIMIT, work done)."""
        n, occ, level0, glob = self.n, self.occ, self.level0, self.glob
        at = {t: i for i, t in enumerate(trail)}  # after every level-0 literal
        start = len(level0)

        def when(y: int) -> int:  # position of true literal y in the assignment order
            i = level0.get(y)
            return i if i is not None else start + at[y]

        def is_true(y: int) -> bool:
            return y in level0 or y in at

        work = 0
        seeds: list[int] | None = None
        if not trail:  # a is true at level 0
            seeds = [a]
        else:
            for t in reversed(trail):
                for c in occ[n - t] or ():
                    work += len(c)
                    if all(is_true(-x) for x in c):
                        seeds = [-x for x in c]
                        break
                if seeds is not None:
                    break
        if seeds is None:
            return None, work
        hyps: set[int] = set()
        seen: set[int] = set(seeds)
        stack = list(seeds)
        while stack:
            if len(seen) > SUPPORT_LIMIT:
                return None, work
            y = stack.pop()
            if y in level0 and abs(y) in glob:
                hyps.add(y)
                continue
            if y == -a and y not in level0:
                continue  # the test's own assumption
            wy = when(y)
            reason = None
            for c in occ[n + y] or ():
                work += len(c)
                if all(x == y or (is_true(-x) and when(-x) < wy) for x in c):
                    reason = c
                    break
            if reason is None:
                return None, work
            for x in reason:
                if x != y and -x not in seen:
                    seen.add(-x)
                    stack.append(-x)
        return sorted(hyps, key=abs), work

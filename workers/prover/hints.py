"""LRAT-style hints for the RUP steps of a certificate (format ``pxl-s5-cert/2``).

The SAT solver logs DRUP (clauses without their reasons).  Checking DRUP means a
unit-propagation search per step; following hints means replaying exactly the clauses that
propagate to the conflict.  This module (prover side) turns a DRUP-style step list into the
hinted form once, when the proof is built:

* forward: every clause gets its id (encoding clauses 1..m, then one per added clause) and is
  added unchecked, with top-level unit propagation (deletions are ignored: ``/2`` has none);
* the final step (``[root]``, or the empty clause once the database is refuted) gets its
  hints: the implication graph behind the conflict walked back to the clauses that produced
  it, antecedents first (docs/certificates.md, "Hints");
* backward (as drat-trim does): the steps are taken back newest first; a step whose clause
  id some needed hint mentions is RUP-checked against the clauses before it, and its hints
  become needed too; the other steps are dropped, and the ids are renumbered.

Only needed steps are ever propagated, and checking a hinted proof replays just their
hints, so checking is never slower than building it.  Each hint list is replayed here exactly as the checker will (``_replay``) before it is
used, so a certificate the prover returns always passes.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import neg

from workers.prover.certificate import RupChecker, check_cut


class HintError(RuntimeError):
    """A step of the solver's proof is not RUP here (an internal error, never a wrong proof)."""


class _Finder(RupChecker):
    """Clause database with ids, reasons for every assigned literal and conflict analysis."""

    def __init__(self, nvars: int) -> None:
        super().__init__(nvars)
        self.reasons = {}  # literal -> internal index of the clause that assigned it
        # Every clause id has its internal index, id - 1: a slot in ``clauses`` (None for a
        # unit, never watched, and for a clause taken back) and in ``bodies`` (None for a
        # tautology or a clause added to a refuted database: never hints).
        self.bodies: list[list[int] | None] = []  # internal index -> literals (kept after deletion)
        self.next_id = 1
        self.marks: list[int] = [0]  # clause id -> trail length before it was added
        self.refuted_by = 0  # id of the clause whose addition refuted the database
        self.empty_hints: list[int] | None = None  # set when the database is refuted

    def add_clause(self, lits: list[int]) -> int:
        """Add a clause under the next id (tautologies get an id but are never hints).  No
        index for deletions: ``/2`` proofs have none."""
        cid = self.next_id
        self.next_id = cid + 1
        self.marks.append(len(self.trail))
        if self.inconsistent:
            self._no_slot()
            return cid
        # The solver's and the encoder's literals are in range; only repeats and tautologies
        # need care (e.g. the encoding of ``p & p`` or ``p <-> p``).  Most clauses have
        # neither: as many distinct variables as literals (one set built in C; this loop
        # runs for every encoding clause of every certificate).
        if len(set(map(abs, lits))) == len(lits):
            c = list(lits)
        else:
            c = list(dict.fromkeys(lits))
            if len({abs(lit) for lit in c}) != len(c):
                self._no_slot()
                return cid  # a tautology
        n, value = self.n, self.value
        size = len(c)
        if size >= 2 and (value[n - c[0]] or value[n - c[1]]):
            c.sort(key=lambda lit: 1 if value[n - lit] else 0)  # non-false literals first
        clauses = self.clauses
        ci = len(clauses)
        clauses.append(c if size >= 2 else None)  # units are never watched
        self.bodies.append(c)
        if not c or value[n - c[0]]:
            self._refuted(ci)
            return cid
        if size >= 2:
            watches = self.watches
            for lit in (c[0], c[1]):
                w = watches[n + lit]
                if w is None:
                    watches[n + lit] = [ci]
                else:
                    w.append(ci)
        if (size == 1 or value[n - c[1]]) and not value[n + c[0]]:
            self._assign(c[0])
            self.reasons[c[0]] = ci
            if not self._propagate():
                self._refuted(self.conflict)
        return cid

    def add_clauses(
        self,
        clauses: list[list[int]],
        poll: Callable[[], None],
        distinct: list[bool] | None = None,
    ) -> None:
        """``add_clause`` for each clause in turn (``poll`` every 1,024): the initial encoding,
        which every hint pass loads whole (for a small proof most of the pass).  A clause of
        two or more distinct variables whose first two literals are not false (nearly every
        clause of an encoding) is stored and watched here as ``add_clause`` would (its id,
        body and mark are recorded in bulk); the others (units, repeats, a false literal
        first, a refuted database) go through ``add_clause`` itself.  ``distinct[i]``, when
        given, says whether clause i has as many distinct variables as literals (the caller
        may know it for many clauses at once: the copies of a "worlds" encoding)."""
        n, value, watches, store = self.n, self.value, self.watches, self.clauses
        ci0 = ci = len(store)  # store[ci0:] are clauses whose ids etc. are not recorded yet
        todo = enumerate(clauses)
        for i, lits in todo:
            if not i & 1023:
                poll()
            size = len(lits)
            if size >= 2:
                first, second = lits[0], lits[1]
                if (
                    (
                        distinct[i]
                        if distinct is not None
                        else first != second and first != -second
                        if size == 2
                        else len(set(map(abs, lits))) == size
                    )
                    and not value[n - first]
                    and not value[n - second]
                ):
                    store.append(list(lits))
                    w = watches[n + first]
                    if w is None:
                        watches[n + first] = [ci]
                    else:
                        w.append(ci)
                    w = watches[n + second]
                    if w is None:
                        watches[n + second] = [ci]
                    else:
                        w.append(ci)
                    ci += 1
                    continue
            self._record(ci0)
            self.add_clause(lits)
            if self.inconsistent:
                break
            ci0 = ci = len(store)
        else:
            self._record(ci0)
            return
        # Refuted: the other clauses only get their ids (``add_clause`` on a refuted database).
        for i, lits in todo:
            if not i & 1023:
                poll()
            self.add_clause(lits)

    def _record(self, ci0: int) -> int:
        """Ids, bodies and marks of the clauses ``add_clauses`` stored from index ``ci0`` on;
        the index after them.  Between two calls the trail does not grow (propagation
        records first), so the mark of every clause in the run is the trail's length now."""
        store = self.clauses
        end = len(store)
        if end > ci0:
            self.bodies.extend(store[ci0:end])
            self.marks.extend([len(self.trail)] * (end - ci0))
            self.next_id += end - ci0
        return end

    def _no_slot(self) -> None:
        """The internal index of an id that is never a hint (its clause is not stored)."""
        self.clauses.append(None)
        self.bodies.append(None)

    def _refuted(self, conflict: int) -> None:
        self.inconsistent = True
        self.refuted_by = self.next_id - 1
        self.empty_hints = self._replay([], self._chain(conflict, set()))

    def retract(self, cid: int) -> None:
        """Take back the newest clause ``cid`` (every later one is gone already) and the
        top-level assignments made since it was added."""
        self.clauses[cid - 1] = None  # watches drop it lazily
        self.undo(self.marks[cid])
        if cid == self.refuted_by:
            self.inconsistent, self.refuted_by, self.empty_hints = False, 0, None

    def _chain(self, conflict: int, assumed: set[int]) -> list[int]:
        """Ids of the clauses behind ``conflict`` (an internal index whose literals are all
        false, except possibly the one literal it implies), antecedents first."""
        n, value, reasons, bodies = self.n, self.value, self.reasons, self.bodies
        out: list[int] = []
        entered: set[int] = set()
        # Iterative post-order DFS (implication chains can be very long): ``~ci`` on the
        # stack emits clause ci once every antecedent pushed above it is done.
        stack = [conflict]
        while stack:
            ci = stack.pop()
            if ci < 0:
                out.append(~ci + 1)  # the id of clause ~ci
                continue
            if ci in entered:  # pushed twice before it was entered; done already
                continue
            entered.add(ci)
            stack.append(~ci)
            for lit in bodies[ci]:
                if value[n - lit] and -lit not in assumed:
                    r = reasons[-lit]
                    if r not in entered:
                        stack.append(r)
        return out

    def rup_hints(self, lits: list[int]) -> list[int]:
        """Hints proving ``lits`` RUP over the current database (HintError if it is not)."""
        if self.inconsistent:
            raise HintError("the database is already refuted")
        # Distinct variables of the encoding go as they are; repeats, tautologies and anything
        # out of range through the checker's validation (CertificateError).
        variables = set(map(abs, lits))
        if len(variables) == len(lits) and 0 not in variables and max(variables, default=0) <= self.n:
            c = lits
        else:
            c = self._literals(lits)
            if c is None:  # a tautology: no hints (the checker accepts it as it is)
                return []
        n, value = self.n, self.value
        assumed = set(map(neg, c))
        for lit in c:
            if value[n + lit]:  # true at top level: its reason conflicts with the assumption
                return self._replay(c, self._chain(self.reasons[lit], assumed))
        trail = self.trail
        mark = len(trail)
        for lit in c:
            if not value[n - lit]:
                value[n - lit] = 1
                trail.append(-lit)
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
        true = set(map(neg, clause))
        bodies = self.bodies
        out: list[int] = []
        for h in hints:
            unit = 0
            for lit in bodies[h - 1]:  # type: ignore[union-attr]
                if lit in true:
                    break  # satisfied: dropped
                if -lit not in true:
                    if unit:
                        raise HintError(f"hint {h} is not unit")
                    unit = lit
            else:
                out.append(h)
                if not unit:
                    return out
                true.add(unit)
        raise HintError(f"hints for {clause} do not end in a conflict")


class Loaded:
    """An encoding loaded into a hint finder once, for more than one ``hint_proof`` pass: a
    lemma chain first tried without the solver's proof (``eager``) and, when that fails,
    the pass over the solver's proof (for a small proof, loading is most of a pass).  A pass
    stopped by ``poll`` (the time limit) can leave the finder half-loaded or with steps not
    taken back: after a stop it must not be used again (the certificate is abandoned)."""

    def __init__(self, nvars: int, clauses: list[list[int]], poll: Callable[[], None]) -> None:
        self.finder = _Finder(nvars)
        self.finder.add_clauses(clauses, poll)
        self.size = len(clauses)  # ids 1..size: the encoding's clauses
        self.used = False  # a pass took it and did not give it back


def hint_proof(
    nvars: int,
    clauses: list[list[int]],
    steps: list[list],
    poll: Callable[[], None],
    box_arg: dict[int, int] | None = None,
    root: int | None = None,
    eager: bool = False,
    distinct: list[bool] | None = None,
    loaded: Loaded | None = None,
) -> list[list]:
    """DRUP-style steps (flat ``a``/``d``/``n``, ``c``) -> hinted ``pxl-s5-cert/2`` steps.

    With ``root`` (kind ``lemmas``) the result ends with the derivation of ``[root]``;
    without it (kind ``worlds``) with the empty clause, and the steps must refute
    ``clauses``.  ``c`` steps are re-checked with ``check_cut`` against the clauses before
    them (HintError if one fails).  ``poll`` is called between steps (it raises to stop).
    ``eager``: check each necessitation premise as it comes (HintError at the first that is
    not RUP), for a lemma chain tried without the solver's proof (``propagation_proof``).
    ``distinct``: as for ``_Finder.add_clauses``.  ``loaded``: ``clauses`` already loaded
    (``Loaded``); an eager pass that fails takes its steps back out of it (newest first, as
    the backward pass does), so that the next pass starts from the encoding alone."""
    if loaded is None:
        f = _Finder(nvars)
        f.add_clauses(clauses, poll, distinct)
        base = f.next_id - 1
    else:
        if loaded.used:
            raise HintError("the loaded encoding was used by a pass already")
        loaded.used = True
        f, base = loaded.finder, loaded.size
    if not eager or loaded is None:
        return _hint_steps(f, base, steps, poll, box_arg, root, eager)
    top = f.next_id - 1
    try:
        return _hint_steps(f, base, steps, poll, box_arg, root, eager)
    except HintError:
        # Only the forward pass can fail in an eager pass (the backward pass replays
        # premises already checked), so every clause since ``top`` is still in.
        for cid in range(f.next_id - 1, top, -1):
            f.retract(cid)
        loaded.used = False
        raise


def _hint_steps(
    f: _Finder,
    base: int,
    steps: list[list],
    poll: Callable[[], None],
    box_arg: dict[int, int] | None,
    root: int | None,
    eager: bool,
) -> list[list]:
    """``hint_proof`` on a finder holding the encoding's ``base`` clauses (ids 1..base) and
    perhaps clauses a failed pass took back (ids above base, gone)."""
    # forward: (hinted step without hints yet, clause id)
    entries: list[tuple[list, int]] = []
    # eager: the premise's hints by the step's clause id.  Found against the clauses before
    # the step, which is exactly the database the backward pass below takes it back to, so
    # they are used there as they are instead of being searched for a second time.
    premise_hints: dict[int, list[int]] = {}
    has_cut = False
    for step in steps:
        if f.inconsistent:
            break
        poll()
        tag = step[0]
        if tag == "a":
            entries.append((["a", list(step[1:])], f.add_clause(list(step[1:]))))
        elif tag == "n":
            b, hyps = step[1], list(step[2:])
            if box_arg is None or b not in box_arg:
                raise HintError(f"necessitation step {step} outside a lemmas proof")
            hints = f.rup_hints([*map(neg, hyps), box_arg[b]]) if eager else None
            cid = f.add_clause([b, *map(neg, hyps)])
            entries.append((["n", b, hyps], cid))
            if hints is not None:
                premise_hints[cid] = hints
        elif tag == "c":
            has_cut = True
            entries.append((step, f.add_clause(list(step[1]["clause"]))))
    final: tuple[list, list[int]]
    if root is None:
        if not f.inconsistent or f.empty_hints is None:
            raise HintError("the steps do not refute the clauses by unit propagation")
        final = (["a", []], f.empty_hints)
    else:
        last = entries[-1][0] if entries else None
        if last is not None and last[0] == "c" and last[1]["clause"] == [root]:
            final = (last, [])
            entries.pop()
            f.retract(f.next_id - 1)
            try:
                check_cut(f, last[1], "final step")
            except ValueError as exc:
                raise HintError(f"a cutting-plane step failed its check: {exc}") from None
        else:
            final = (["a", [root]], f.rup_hints([root]))
    needed = set(final[1])
    hinted: list[tuple[list, int, list[int]] | None] = [None] * len(entries)
    # Steps are taken back (newest first) only when a step's hints are searched for or its
    # cut checked, down to that step: the premises of an eager pass have theirs already.
    kept = len(entries)  # entries[:kept] are still in the database
    for i in range(len(entries) - 1, -1, -1):
        poll()
        step, cid = entries[i]
        if cid not in needed and not has_cut:  # a cut step relies on every clause before it
            continue
        hints = premise_hints.get(cid)
        if hints is None:
            while kept > i:
                kept -= 1
                f.retract(entries[kept][1])
            if step[0] == "a":
                hints = f.rup_hints(step[1])
            elif step[0] == "n":
                b, hyps = step[1], step[2]
                hints = f.rup_hints([*map(neg, hyps), box_arg[b]])  # type: ignore[index]
            else:
                try:
                    check_cut(f, step[1], f"step {i}")
                except ValueError as exc:
                    raise HintError(f"a cutting-plane step failed its check: {exc}") from None
                hints = []
        needed.update(hints)
        hinted[i] = (step, cid, hints)
    # renumber: the kept steps get consecutive ids after the initial clauses
    renumber: dict[int, int] = {}
    out: list[list] = []
    for entry in [*hinted, (final[0], 0, final[1])]:
        if entry is None:
            continue
        step, cid, hints = entry
        if cid:
            renumber[cid] = base + 1 + len(renumber)
        new_hints = list(map(renumber.get, hints, hints))  # renumber.get(h, h) for each
        out.append(step if step[0] == "c" else [*step, new_hints])
    return out


def hint_lemmas_proof(
    nvars: int,
    clauses: list[list[int]],
    box_arg: dict[int, int],
    root: int,
    steps: list[list],
    poll: Callable[[], None],
) -> list[list]:
    """``hint_proof`` for kind ``lemmas`` (ending with ``[root]``)."""
    return hint_proof(nvars, clauses, steps, poll, box_arg, root)

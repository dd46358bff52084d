"""The S5 decision procedure: SAT-based counterexample-guided abstraction refinement.

In S5 every model is (w.l.o.g.) one cluster with the universal relation, so
each boxed subformula ``[]a`` has one truth value for the whole model: its
box variable ``B`` in the one-world encoding (encoding.py).  One incremental
SAT solver holds that encoding.

1. Solve under the assumption ``~phi``: a candidate actual world w0 together
   with a guess ``beta`` for every box variable.
2. For each box false in ``beta``, solve under ``beta + [~a]`` for a witness
   world (it must agree with ``beta``, which is global).  A witness found for
   one box is reused for every other false box it also falsifies.
3. If some witness does not exist, the solver's failed-assumption core
   ``H`` (box literals of beta) proves ``H -> a`` in every world; since the
   literals of H are global, ``H -> []a`` is S5-valid (necessitation), and the
   lemma clause ``[B, ~H]`` is added for good.  Back to 1.
4. Step 1 unsatisfiable: phi is valid.  All witnesses found: w0 plus the
   witnesses (at most one per box, so at most m+1 worlds) is a countermodel,
   because every box variable then has exactly its true value in that model.

Each lemma excludes the current beta, so the loop terminates.

Refinements (each measured, docs/benchmarks.md): boxes over a global argument
(``[][]p``, ``[]<>p``, ...) get the lemma ``a -> []a`` up front and leave the
assumptions; a false box whose argument follows by unit propagation alone gets the
lemma ``-> []a`` at once (checked once per box, and again after such lemmas); one lemma
per round; witnesses are tried first for the false boxes that ``~phi`` and the true boxes
force (unit propagation), then for recently failing boxes; the solver prefers true boxes; after 16, 64, 256, ... rounds, and
paced by time in between, a bounded attempt encodes k worlds at once (S52SAT-style) to find a
countermodel directly (never a size that already gave none); the complete attempt, at the S5
world bound (min(free boxes + 1, 2^atoms)), waits until the loop has run a few times its
estimated cost and runs on a DRUP-logging solver: unsatisfiable proves validity, with that
refutation of the k-world encoding as certificate.  Countermodels are re-checked like all others.  A valid
verdict's certificate is the lemma chain replayed on a fresh proof-logging
solver: its DRUP lines, the necessitation steps and the final refutation
(format in certificate.py, argument in docs/certificates.md).

Cutting planes (lp.py) for pigeonhole-like clause sets, on which CDCL is exponential:
a SAT call that exceeds LP_CONFLICTS conflicts first gets an LP refutation attempt (LP
relaxation plus clique cuts, exact Farkas multipliers); and when one box has failed its
witness GENERALIZE_AFTER_FAILS times, its newest lemma's hypotheses are shrunk with LP
refutations as the oracle (QuickXplain), so one lemma such as ``[]~right -> []~left``
replaces an enumeration of box valuations.  A refutation found this way becomes a "c"
step of the certificate.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pysolvers

from workers.prover import certificate as cert
from workers.prover import gcpause, hints, lp
from workers.prover.encoding import Encoding, encode
from workers.prover.errors import FormulaError
from workers.prover.modelcheck import check_countermodel
from workers.prover.reader import read_formula
from workers.prover.result import ProofResult
from workers.prover.sat import MiniSat
from workers.prover.saturation import Saturation
from workers.prover.syntax import Formula
from workers.prover.wording import count

if TYPE_CHECKING:
    from pysat.solvers import Solver  # proof_solver.py's Glucose

# The search's solver is sat.py's MiniSat 2.2 (measured ~15% faster than Glucose on the
# incremental calls), made directly on python-sat's C module: start-up, and per solver 2.4 us
# less than python-sat's ``Solver(name=...)`` wrapper.
POLL_SECONDS = 0.05
# The search and the certificate stop this long before the caller's time limit (at most
# this share of it), so that unwinding, the countermodel check and the result document
# still fit inside the limit (docs/benchmarks.md, "Deadlines").
END_MARGIN_SECONDS = 0.3
END_MARGIN_SHARE = 0.05
# ... but at least this long per node of the formula: what comes after the search grows
# with the formula (a countermodel's check, the certificate's JSON, the document: ~90 ms on
# a 49,000-node LWB formula on a quiet machine, twice that at load 3, when a 1 s limit with
# its 50 ms margin was answered 0.11 s late).  A limit shorter than that answers unknown
# at once.
END_MARGIN_SECONDS_PER_NODE = 4e-6
# Certificate budget: total literals in the proof steps; beyond it the
# certificate is omitted (documented in docs/certificates.md).
MAX_PROOF_LITERALS = 2_000_000
# Direct k-world countermodel attempts: first at this round, then every 4x more rounds,
# k = 4, 8, 16, ... worlds, conflict budget doubling, size cap in literals.
WORLDS_FIRST_ROUND = 16
WORLDS_CONFLICTS = 2_000
WORLDS_MAX_LITERALS = 1_000_000
# Copies of the encoding are kept for the next attempts (and the certificate) up to this
# many literals in all (about 60 bytes each).
WORLDS_CACHE_LITERALS = 400_000
# ... and, beyond WORLDS_FREE_LITERALS, at most this many literals per round so far: building
# k copies of a large encoding in Python must not outweigh the search it is meant to
# shortcut (on LWB kt_branch_n at 8,000 nodes three attempts took 7 of 13 s; building costs
# a few microseconds per literal, about what a round of the search costs per 500 literals).
WORLDS_LITERALS_PER_ROUND = 500
# Attempts up to this size are always allowed (small random formulas: rnd3cnf-d2-n4-L60-0
# took 1.4 s instead of 0.14 s when its round-16 attempt was skipped).
WORLDS_FREE_LITERALS = 50_000
# Countermodel probes between those attempts: after a probe the loop runs PROBE_WAIT times
# as long as that probe took before the next one (about twice as costly) starts, so probes
# take at most about a third of the time (2 and 8 measured alike on random depth-3 sets).
PROBE_WAIT = 4.0
# The first probe waits until the loop has run about as long as building its k copies takes
# (measured 0.4-0.9 us per literal here), so that it never dominates a short search.
PROBE_SECONDS_PER_LITERAL = 1e-6
# Each probe doubles the conflict budget up to this many times (2,000 << 20: ~2e9 conflicts,
# never reached within a timeout): a long proof makes any number of probes, and a budget
# past a C long (at 52 doublings) raised OverflowError out of prove().
PROBE_MAX_DOUBLINGS = 20
# The complete attempt (k = the world bound: decides validity too, with a "worlds" certificate)
# is made once the search has run COMPLETE_WAIT times its estimated cost: COMPLETE_COST times
# the latest attempt's time per literal (ATTEMPT_SECONDS_PER_LITERAL before any), the attempt
# and its certificate's hint pass (measured 0.3-0.45 us per literal for an attempt alone and
# 0.6-1.0 us with the certificate on random depth-3 formulas).  On 160 random depth-3
# formulas the loop alone mostly decides before that (waits of 1 and 2 cost 5-15 % more CPU
# in total than 3, 4 or never; docs/benchmarks.md), but the attempt bounds the tail.
ATTEMPT_SECONDS_PER_LITERAL = 0.4e-6
COMPLETE_COST = 2.0
COMPLETE_WAIT = 3.0
# ... and only with this many times that estimate left before the search's deadline: the
# complete attempt runs on the proof-logging Glucose, which sees an interrupt (and its
# conflict budget) only at a restart, 0.1-0.35 s apart on 450,000 literals (a 0.4 s limit
# was answered `valid` at 0.76 s; MiniSat stops at the conflict).
COMPLETE_TIME_LEFT = 4.0
# A first import inside a proof (proof_solver.py with pysat.solvers: ~22 ms on the 2-core VM)
# is made only with this much time left: it cannot be interrupted (lp.IMPORT_SECONDS).
FIRST_IMPORT_SECONDS = 0.15
# Cutting-plane refutation (lp.py): tried when one SAT call has used this many conflicts
# (about 50 ms on small encodings); after each attempt that does not refute, the
# threshold grows 4x.  One attempt is capped at LP_SECONDS, doubled after each attempt that
# does not refute, up to LP_MAX_SECONDS (HiGHS time limit; the Python parts are linear in
# the clauses), so stop requests wait at most about that.
LP_CONFLICTS = 5_000
LP_SECONDS = 1.0
LP_MAX_SECONDS = 4.0
# Lemma generalisation by cutting planes: when one box has failed its witness this many times
# (then 4x more), the hypotheses are shrunk with LP refutations as the oracle (QuickXplain),
# within GEN_SECONDS.  Many lemmas for one box mean the loop enumerates its hypotheses.
GENERALIZE_AFTER_FAILS = 8
GEN_SECONDS = 3.0
# The one-world countermodel attempt (every false box false at w0 itself), made once from
# this round on, once the loop has run as long as building its copy takes, within
# WORLDS_CONFLICTS conflicts.
ONE_WORLD_ROUND = 2
ONE_WORLD_SECONDS_PER_LITERAL = 4e-6  # 1 us (its build) cost 2-round LWB classes +15 % CPU
# Propagation lemmas under the global facts (saturation.py): first at this round once the
# loop has run about four times as long as building the side solver takes (measured ~1 us
# per literal; a round also costs time proportional to the formula, so this is a constant
# number of rounds; before the first countermodel probe, which waits 8 us per literal and
# cost s4_path_p more than the rounds), then each time the rounds have grown
# SATURATE_GROWTH times, with a budget of SATURATE_WORK propagated literals per literal of
# the encoding (random depth-3 formulas measured ~6 % slower in CPU with 2 us and growth 2).
SATURATE_FIRST_ROUND = 4
SATURATE_SECONDS_PER_LITERAL = 4e-6
SATURATE_GROWTH = 4
SATURATE_WORK = 2


class _Stopped(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


class _Watcher:
    """One thread per process polling every open ``_Watch``: starting and joining a thread
    per proof cost more CPU than a small proof itself (issue 12).  It wakes every
    ``POLL_SECONDS`` (or at an earlier deadline); a new watch wakes it only when its deadline
    comes before that, so a proof costs no thread switch either."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._wake_at = 0.0  # monotonic time the thread is sleeping until
        self._pid: int | None = None  # the thread belongs to this process (not a fork's)

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="pxl-prover-watch", daemon=True).start()
            elif watch.deadline < self._wake_at:
                self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                # Wake at the earliest deadline itself, not up to a poll interval after it.
                earliest = min((w.deadline for w in self._watches), default=now + POLL_SECONDS)
                pause = min(POLL_SECONDS, max(0.001, earliest - now))
                self._wake_at = now + pause
                self._cond.wait(pause)
                watches = list(self._watches)
            for watch in watches:  # outside the lock: should_stop may ask Redis
                watch.poll()


_watcher = _Watcher()


class _Watch:
    """Interrupts the running SAT call on timeout or stop request (polled by ``_watcher``)."""

    def __init__(self, deadline: float, should_stop: Callable[[], bool] | None) -> None:
        self.deadline = deadline
        self.should_stop = should_stop
        self.status: str | None = None
        self.solver: Solver | None = None
        self.lock = threading.Lock()
        self._closed = False
        self._check()
        _watcher.add(self)

    def _check(self) -> None:
        if self.status is None:
            if time.monotonic() >= self.deadline:
                self.status = "Timeout"
            elif self.should_stop is not None:
                try:
                    if self.should_stop():
                        self.status = "User"
                except Exception:  # a broken stop callback must not kill the search
                    pass

    def poll(self) -> None:
        if self._closed:
            return
        self._check()
        if self.status is not None:
            # Repeated: an interrupt landing just before a call starts may be cleared by it.
            # Under the lock: the main thread never frees a solver being interrupted, and
            # nothing is interrupted once the search has closed its watch.
            with self.lock:
                if self.solver is not None and not self._closed:
                    with contextlib.suppress(Exception):
                        self.solver.interrupt()

    def use(self, solver: Solver | None) -> None:
        """Make ``solver`` the one to interrupt."""
        with self.lock:
            self.solver = solver

    def delete(self, solver: Solver, then_use: Solver | None = None) -> None:
        """Free ``solver`` safely (never while the watcher interrupts it)."""
        with self.lock:
            self.solver = then_use
            solver.delete()

    def close(self) -> None:
        with self.lock:
            self._closed = True
        _watcher.remove(self)

    def raise_if_stopped(self) -> None:
        if self.status is not None:
            raise _Stopped(self.status)


def worlds_bound(enc: Encoding) -> int:
    """Worlds enough for a countermodel if there is one: w0 plus one witness per free box
    (a box over a global argument is witnessed by any world), and no two worlds need the
    same valuation (a world's truth values are fixed by its valuation and the globals)."""
    free = sum(1 for a in enc.box_arg.values() if abs(a) not in enc.global_vars)
    natoms = len(enc.atom_vars)
    return free + 1 if natoms >= 30 else min(free + 1, 2**natoms)



def _add_clauses(
    solver: Solver, clauses: list[list[int]], poll: Callable[[], None] | None = None
) -> None:
    """``solver.add_clause`` for each clause (``poll`` every 1,024); a MiniSat or Glucose 4.1
    solver's straight into its C function, as pysat's own wrapper does (its two Python layers per clause were
    about half the cost of loading a small encoding, which every proof does once or twice)."""
    handle = add = None
    inner = solver  # the object whose status a refuting clause sets
    if type(solver) is MiniSat:
        handle, add = solver.minisat, pysolvers.minisat22_add_cl
    else:
        inner = getattr(solver, "solver", None)  # a pysat Solver's: proof_solver.py's Glucose
        if type(inner).__name__ == "Glucose4":
            handle, add = inner.glucose, pysolvers.glucose41_add_cl
    for start in range(0, len(clauses), 1024):
        if poll is not None:
            poll()
        if add is not None:
            for c in clauses[start : start + 1024]:
                if add(handle, c) == False:  # noqa: E712 - pysat's own test of the C result
                    inner.status = False
        else:
            for c in clauses[start : start + 1024]:
                solver.add_clause(c)


def world_map(enc: Encoding, j: int) -> list[int]:
    """The literals of copy ``j`` of the encoding (kind "worlds", docs/certificates.md): ``m[x]``
    for a literal x (a negative index for a negative literal) is its copy; the global
    variables are shared, every other variable v becomes v + j * nvars."""
    n = enc.nvars
    m = list(range(n + 1))
    if j:
        off = j * n
        glob = enc.global_vars
        for v in range(2, n + 1):  # variable 1 (TRUE) is global
            if v not in glob:
                m[v] = v + off
    m += [-x for x in reversed(m[1:])]  # m[-v] is m[2n + 1 - v] == -m[v]
    return m


def world_copy(enc: Encoding, m: list[int]) -> list[list[int]]:
    """The encoding's clauses through the literal map ``m`` (``world_map``)."""
    get = m.__getitem__
    return [list(map(get, c)) for c in enc.clauses]


def worlds_clauses(
    enc: Encoding,
    k: int,
    copies: list[list[list[int]]] | None = None,
    maps: list[list[int]] | None = None,
    poll: Callable[[], None] | None = None,
) -> list[list[int]]:
    """The clauses a "worlds" certificate for k worlds refutes, in the format's order: the k
    copies, one witness clause per box, ``[~root]`` (``copies``/``maps``: the first copies
    and literal maps, already built; ``poll`` between copies)."""
    maps = list(maps or [])
    maps += [world_map(enc, j) for j in range(len(maps), k)]
    copies = list(copies or [])
    clauses = [c for copy in copies[:k] for c in copy]
    for j in range(len(copies), k):
        if poll is not None:
            poll()
        clauses += world_copy(enc, maps[j]) if j else enc.clauses
    clauses += [[b, *(-m[a] for m in maps[:k])] for b, a in enc.box_arg.items()]
    clauses.append([-enc.root])
    return clauses


def _proof_solver(watch: _Watch | None) -> Solver:
    """proof_solver.py's DRUP-logging Glucose, imported on first use: it loads
    ``pysat.solvers`` (sat.py), which small proofs never need.  That first import cannot be
    interrupted: with less than FIRST_IMPORT_SECONDS left it is not started (``_Stopped``:
    a certificate is then omitted, a complete attempt not made) rather than answer late."""
    if not _importable_in_time("workers.prover.proof_solver", watch):
        raise _Stopped("Timeout")
    from workers.prover.proof_solver import proof_solver

    return proof_solver()


# What prove() imports on first use (start-up of a one-shot `pxl prove`): the DRUP-logging
# solver with pysat.solvers, and the readable forms of explain=True.
DEFERRED_MODULES = ("workers.prover.proof_solver", "workers.prover.tableau",
                    "workers.prover.tableau_check", "workers.prover.outline")


def load_deferred_modules() -> None:
    """Import DEFERRED_MODULES now: a long-lived process (a worker, a benchmark) calls this
    at its start, so that no proof pays their import inside its time limit."""
    for name in DEFERRED_MODULES:
        importlib.import_module(name)


def _importable_in_time(module: str, watch: _Watch | None) -> bool:
    """``module`` is loaded already, or there is time enough left to import it
    (FIRST_IMPORT_SECONDS: a first import cannot be interrupted)."""
    return (
        module in sys.modules
        or watch is None
        or watch.deadline - time.monotonic() >= FIRST_IMPORT_SECONDS
    )


def _free(solver: Solver, watch: _Watch | None) -> None:
    """Delete a solver, through the watcher when one may be interrupting it."""
    if watch is not None:
        watch.delete(solver)
    else:
        solver.delete()

class _Cegar:
    def __init__(self, enc: Encoding, watch: _Watch, trace: list[str]) -> None:
        self.enc = enc
        self.watch = watch
        self.trace = trace
        self.solver = MiniSat()
        # (large encodings take a noticeable time to load: stop requests are seen meanwhile)
        _add_clauses(self.solver, enc.clauses, watch.raise_if_stopped)
        # Prefer true boxes: every false box needs a witness world.
        if enc.boxes:
            self.solver.set_phases(enc.boxes)
        watch.use(self.solver)
        self.calls = 0
        self.rounds = 0
        self.last_worlds = 1
        self.lemmas: list[tuple[int, list[int]]] = []  # (box var, hypotheses)
        # []a with a global argument is equivalent to a ([][]x, []<>x, [](<>x | []y), ...):
        # seed the lemma a -> []a (reflexivity gives the converse).  Such "derived" boxes
        # follow from the others by propagation, so they stay out of the assumptions.
        self.free_boxes: list[int] = []
        for b in enc.boxes:
            a = enc.box_arg[b]
            if abs(a) in enc.global_vars:
                self.solver.add_clause([b, -a])
                self.lemmas.append((b, [a]))
            else:
                self.free_boxes.append(b)
        self.order = list(self.free_boxes)  # witness order: inner boxes first, then by recency
        self.bound = worlds_bound(enc)
        self.literals = sum(len(c) for c in enc.clauses)
        self.valid_by_worlds = 0  # k when validity came from the complete k-world encoding
        # ... and then the clauses it refuted and the solver's DRUP lines (the certificate)
        self.worlds_refutation: tuple[list[list[int]], list[str]] | None = None
        # Copies of the encoding for the k-world attempts (copy j and its literal map at j),
        # built once and kept while they fit WORLDS_CACHE_LITERALS.
        self.world_copies: list[list[list[int]]] = []
        self.world_maps: list[list[int]] = []
        # No countermodel has at most this many worlds (an attempt found none): smaller
        # attempts would find none again (lemmas only ever exclude more).
        self.no_countermodel_upto = 0
        self.complete_attempts = 0
        self.attempt_rate = ATTEMPT_SECONDS_PER_LITERAL  # seconds per literal of an attempt
        self.started = time.monotonic()  # when run() began
        # Cutting planes: the clauses the solver holds (encoding + lemmas) for the LP,
        # built on first use; cut step bodies by lemma index and for the final refutation.
        self.lp_conflicts = LP_CONFLICTS
        self.lp_seconds = LP_SECONDS
        self.lp_attempts = 0
        self.clause_db: cert.RupChecker | None = None
        self.cuts: dict[int, dict] = {}
        self.final_cut: dict | None = None
        self.last_cut: tuple[dict, list[int]] | None = None
        self.unconditional = 0  # lemmas -> []a found by propagation alone
        self.checked_unconditional: set[int] = set()
        self.checked_before: set[int] = set()  # boxes checked before the last clear
        self.box_fails: dict[int, int] = {}  # box -> witness failures so far
        self.generalize_at: dict[int, int] = {}  # box -> failure count of the next attempt
        # Every attempt that finds no cut also defers the next one (any box) 4x more
        # witness failures: random instances have many boxes and rarely any cut.
        self.fails_total = 0
        self.generalize_total_at = GENERALIZE_AFTER_FAILS
        self.saturation: Saturation | None = None
        self.saturation_synced = 0  # lemmas the side solver holds
        self.saturate_at = SATURATE_FIRST_ROUND
        self.saturations = 0
        self.propagation_lemmas = 0

    def close(self) -> None:
        if self.saturation is not None:
            self.saturation.close()
        self.watch.delete(self.solver)

    def _saturate(self) -> None:
        """Learn the propagation lemmas under the global facts that ``~phi`` implies
        (saturation.py), incrementally: the side solver is built once and kept."""
        enc = self.enc
        ok, implied = self.solver.propagate(assumptions=[-enc.root])
        if not ok:
            return  # the next main call is refuted by propagation alone
        sat = self.saturation
        if sat is None:
            lemmas = [[b, *(-h for h in hyps)] for b, hyps in self.lemmas]
            sat = self.saturation = Saturation(
                enc.nvars, [*enc.clauses, *lemmas], enc.box_arg,
                enc.global_vars, self.free_boxes, self.watch.raise_if_stopped,
            )
        else:
            for b, hyps in self.lemmas[self.saturation_synced :]:
                sat.add_clause([b, *(-h for h in hyps)])
        if sat.add_facts(self._facts(implied)):
            # Boxes never tested get half the budget of the previous saturation (they are
            # most of the work on formulas with few such lemmas); those whose neighbourhood
            # changed get the whole budget each time.
            budget = SATURATE_WORK * self.literals
            learned = sat.run(budget, budget >> self.saturations, self._learn_propagation)
            self.saturations += 1
            if learned:
                self.propagation_lemmas += learned
                self.trace.append(
                    f"round {self.rounds}: {count(learned, 'propagation lemma')} under the "
                    "global facts of the negated formula"
                )
        self.saturation_synced = len(self.lemmas)  # its own lemmas are facts there

    def _facts(self, implied: list[int]) -> list[int]:
        """The global literals among those that ``~phi`` implies: true in every world of
        every countermodel (the w0-local ones are not)."""
        glob = self.enc.global_vars
        return [lit for lit in implied if abs(lit) in glob]

    def _learn_propagation(self, b: int, hyps: list[int]) -> bool:
        """Learn ``hyps -> []a`` if every hypothesis is global and unit propagation on the
        main solver refutes ``hyps + [~a]`` (the side solver only proposes it)."""
        glob = self.enc.global_vars
        if any(abs(h) not in glob for h in hyps):
            return False
        if self.solver.propagate(assumptions=[*hyps, -self.enc.box_arg[b]])[0]:
            return False
        self._learn(b, hyps)
        return True

    def _solve(self, assumptions: list[int]) -> bool:
        """SAT call; after LP_CONFLICTS conflicts a cutting-plane refutation is tried
        (success: False with ``last_cut`` set to (step body, core))."""
        self.watch.raise_if_stopped()
        self.calls += 1
        self.last_cut = None
        self.solver.conf_budget(self.lp_conflicts)
        r = self.solver.solve_limited(assumptions=assumptions, expect_interrupt=True)
        if r is None:
            self.watch.raise_if_stopped()
            self.last_cut = self._cutting_planes(assumptions)
            if self.last_cut is not None:
                return False
            self.lp_conflicts *= 4
            # The LP budget grows too: an attempt cut short by its time limit (a busy
            # machine) must not fail the same way forever while CDCL cannot succeed.
            self.lp_seconds = min(LP_MAX_SECONDS, 2 * self.lp_seconds)
            self.solver.conf_budget(-1)
            r = self.solver.solve_limited(assumptions=assumptions, expect_interrupt=True)
        if r is None:
            self.watch.raise_if_stopped()
            raise _Stopped("GaveUp")
        return r

    def _db(self) -> cert.RupChecker:
        if self.clause_db is None:
            db = cert.RupChecker(self.enc.nvars)
            for i, c in enumerate(self.enc.clauses):
                if i % 1024 == 0:  # large encodings take seconds to copy here
                    self.watch.raise_if_stopped()
                db.add(c)
            for b, hyps in self.lemmas:
                db.add([b, *(-h for h in hyps)])
            self.clause_db = db
        return self.clause_db

    def _cutting_planes(self, assumptions: list[int]) -> tuple[dict, list[int]] | None:
        self.lp_attempts += 1
        deadline = min(self.watch.deadline, time.monotonic() + self.lp_seconds)
        found = lp.refute(self._db(), assumptions, deadline, self.watch.deadline)
        self.watch.raise_if_stopped()
        if found is not None:
            self.trace.append(
                f"round {self.rounds}: CDCL slow; LP relaxation with "
                f"{len(found[0]['cliques'])} clique cuts refutes "
                f"{len(assumptions)} assumptions (core {len(found[1])})"
            )
        return found

    def _generalize(self, hyps: list[int], a: int) -> tuple[dict, list[int]] | None:
        """A cut proving ``H' -> a`` for a small ``H'`` within ``hyps`` (QuickXplain with LP
        refutation as the oracle), or None."""
        db = self._db()
        deadline = min(self.watch.deadline, time.monotonic() + GEN_SECONDS)
        found = lp.refute(db, [*hyps, -a], deadline, self.watch.deadline)
        self.lp_attempts += 1
        if found is None:
            return None

        def refutes(background: list[int]) -> bool:
            self.watch.raise_if_stopped()  # stop requests are honoured between LP calls
            self.lp_attempts += 1
            return lp.refute(db, [*background, -a], deadline, self.watch.deadline) is not None

        def qx(background: list[int], changed: bool, cands: list[int]) -> list[int]:
            if changed and refutes(background):
                return []
            if len(cands) == 1 or time.monotonic() > deadline:
                return cands
            half = len(cands) // 2
            c1, c2 = cands[:half], cands[half:]
            d2 = qx(background + c1, True, c2)
            d1 = qx(background + d2, bool(d2), c1)
            return d1 + d2

        start = [h for h in hyps if h in found[1]]
        small = [] if refutes([]) else qx([], False, start)
        self.watch.raise_if_stopped()
        better = lp.refute(db, [*small, -a], deadline, self.watch.deadline)
        if better is None or time.monotonic() > deadline:
            better = found
        body, core = better
        kept = [h for h in hyps if h in core]
        self.trace.append(
            f"round {self.rounds}: lemma generalised by cutting planes: "
            f"{len(hyps)} -> {len(kept)} hypotheses"
        )
        return body, kept

    def _learn(self, b: int, hyps: list[int], cut: dict | None = None) -> None:
        """Add the lemma ``hyps -> []a`` (clause [B, ~hyps])."""
        clause = [b, *(-h for h in hyps)]
        self.solver.add_clause(clause)
        if cut is not None:
            self.cuts[len(self.lemmas)] = cut
        self.lemmas.append((b, hyps))
        if self.clause_db is not None:
            self.clause_db.add(clause)

    def _found_by_worlds(self, k: int, worlds: list[list[int]]) -> tuple[bool, list[list[int]]]:
        """run()'s answer for a countermodel that ``_try_worlds(k, ...)`` found (a probe or a
        scheduled attempt); prove() checks it before answering invalid."""
        self.trace.append(
            f"round {self.rounds}: a countermodel with at most {k} worlds "
            "found by encoding the worlds together"
        )
        return False, worlds

    def _world_copies(self, k: int) -> tuple[list[list[list[int]]], list[list[int]]]:
        """The cached copies (and literal maps) among copies 0..k-1, built now if missing
        and kept while k copies fit WORLDS_CACHE_LITERALS (building them in Python costs
        about as much as loading them into a solver, and the attempts grow by doubling)."""
        copies, maps = self.world_copies, self.world_maps
        enc = self.enc
        while len(copies) < k and (len(copies) + 1) * self.literals <= WORLDS_CACHE_LITERALS:
            self.watch.raise_if_stopped()
            m = world_map(enc, len(copies))
            copies.append(world_copy(enc, m) if copies else enc.clauses)
            maps.append(m)
        return copies[:k], maps[:k]

    def _try_worlds(self, k: int, conflicts: int) -> list[list[int]] | bool | None:
        """Look directly for a countermodel with at most k worlds (S52SAT-style, bounded effort).

        k copies of the one-world encoding share the global variables; copy 0 falsifies
        the formula; every false free box needs a copy where its argument is false.  The
        learned lemmas (global facts) are added once.  SAT gives the worlds (unshifted
        numbering); None: budget exhausted; False: no countermodel with at most k worlds
        (recorded in ``no_countermodel_upto``), which means valid when k reaches the world
        bound (see worlds_bound): that attempt is ``_try_all_worlds``.
        """
        if k >= self.bound:
            return self._try_all_worlds(conflicts)
        enc = self.enc
        solver = MiniSat()
        try:
            poll = self.watch.raise_if_stopped
            copies, maps = self._world_copies(k)
            for copy in copies:
                _add_clauses(solver, copy, poll)
            maps = maps + [world_map(enc, j) for j in range(len(maps), k)]
            for j in range(len(copies), k):
                poll()
                _add_clauses(solver, world_copy(enc, maps[j]) if j else enc.clauses)
            _add_clauses(solver, [[b, *(-h for h in hyps)] for b, hyps in self.lemmas])
            _add_clauses(solver, [
                [b, *(-m[enc.box_arg[b]] for m in maps)] for b in self.free_boxes
            ])
            solver.set_phases(enc.boxes)
            solver.conf_budget(conflicts)
            self.watch.use(solver)
            self.watch.raise_if_stopped()
            self.calls += 1
            r = solver.solve_limited(assumptions=[-enc.root], expect_interrupt=True)
            if r is None:
                self.watch.raise_if_stopped()
                return None
            if not r:
                self.no_countermodel_upto = max(self.no_countermodel_upto, k)
                return False
            return self._worlds_of(solver.get_model(), k)
        finally:
            self.watch.delete(solver, then_use=self.solver)

    def _worlds_of(self, m: list[int], k: int) -> list[list[int]]:
        """The k worlds (unshifted numbering) of a model of the k-world encoding."""
        n, glob = self.enc.nvars, self.enc.global_vars
        m = m + [-v for v in range(len(m) + 1, k * n + 1)]
        worlds = []
        for j in range(k):
            off = j * n
            worlds.append([
                v if m[(v if v in glob else v + off) - 1] > 0 else -v for v in range(1, n + 1)
            ])
        return worlds

    def _try_all_worlds(self, conflicts: int) -> list[list[int]] | bool | None:
        """The complete attempt: the k-world encoding at the world bound, exactly the clauses a
        "worlds" certificate refutes (no lemmas: they are no clauses of the format), on a
        DRUP-logging solver, so that unsatisfiability (valid) is its certificate's proof at
        once (``worlds_refutation``) instead of being solved a second time for it."""
        enc, k = self.enc, self.bound
        if not _importable_in_time("workers.prover.proof_solver", self.watch):
            return None  # the search goes on without it
        poll = self.watch.raise_if_stopped
        copies, maps = self._world_copies(k)
        clauses = worlds_clauses(enc, k, copies, maps, poll)
        solver = _proof_solver(self.watch)
        try:
            _add_clauses(solver, clauses, poll)
            solver.set_phases(enc.boxes)
            solver.conf_budget(conflicts)
            self.watch.use(solver)
            poll()
            self.calls += 1
            r = solver.solve_limited(expect_interrupt=True)
            if r is None:
                poll()
                return None
            if not r:
                self.no_countermodel_upto = k
                self.worlds_refutation = (clauses, _ProofTail(solver).new_lines())
                return False
            return self._worlds_of(solver.get_model(), k)
        finally:
            self.watch.delete(solver, then_use=self.solver)

    def _model(self) -> list[int]:
        """The solver's model: entry v-1 is +v or -v, padded to every variable."""
        m = self.solver.get_model()
        if len(m) < self.enc.nvars:
            m = m + [-v for v in range(len(m) + 1, self.enc.nvars + 1)]
        return m

    def _worlds_for(self, k: int) -> int:
        """The worlds of an attempt planned with k: more than twice as many as are known to
        give no countermodel; the world bound itself once that is more than half of it (the
        complete attempt, which also decides validity, costs at most about twice the planned
        one); within the size limits (0 if no attempt that could find anything fits)."""
        k = max(k, 2 * self.no_countermodel_upto)
        if 2 * k > self.bound:
            k = self.bound
        k = min(
            k,
            WORLDS_MAX_LITERALS // max(1, self.literals),
            cert.MAX_WORLD_VARIABLES // self.enc.nvars,
        )
        return k if k > self.no_countermodel_upto else 0

    def _complete_from(self) -> float:
        """Monotonic time from which the complete attempt may be made: once the search has run
        COMPLETE_WAIT times as long as that attempt and its certificate are estimated to take
        (COMPLETE_COST times the time per literal of the latest attempt, or of
        ATTEMPT_SECONDS_PER_LITERAL before any, for the bound's k copies).  Which of the two
        decides first is not known in advance (the loop's rounds vary from 3 to 1,000 on random
        formulas of one size, docs/benchmarks.md), so neither waits much longer than the other
        would have taken."""
        return self.started + COMPLETE_WAIT * self._complete_cost()

    def _complete_cost(self) -> float:
        """Seconds the complete attempt and its certificate are estimated to take."""
        return COMPLETE_COST * self.attempt_rate * self.bound * self.literals

    def _attempt(self, k: int, conflicts: int) -> tuple[bool, list[list[int]] | None] | None:
        """run()'s answer from a k-world attempt (``_try_worlds``), or None to go on.  The
        complete attempt has a budget of its own, WORLDS_CONFLICTS doubled per complete attempt
        (not the probes' or the schedule's): its certificate's hint pass grows with the search,
        so an attempt that needs a long one fails cheaply and is made again later.  It is
        not made with less than COMPLETE_TIME_LEFT times its estimated cost left."""
        if k >= self.bound:
            if self.watch.deadline - time.monotonic() < COMPLETE_TIME_LEFT * self._complete_cost():
                return None
            conflicts = WORLDS_CONFLICTS << min(self.complete_attempts, PROBE_MAX_DOUBLINGS)
            self.complete_attempts += 1
        started = time.monotonic()
        worlds = self._try_worlds(k, conflicts)
        if k >= 4:
            self.attempt_rate = (time.monotonic() - started) / (k * max(1, self.literals))
        if worlds is False and k >= self.bound:
            self.trace.append(
                f"round {self.rounds}: no countermodel with at most {k} worlds, "
                "the S5 world bound: valid"
            )
            self.valid_by_worlds = k
            return True, None
        if isinstance(worlds, list):
            return self._found_by_worlds(k, worlds)
        return None

    def run(self) -> tuple[bool, list[list[int]] | None]:
        """(valid, world models) — models are None when valid."""
        enc = self.enc
        boxes = self.free_boxes
        # box -> (model index of its argument's variable, argument literal); a model m makes
        # the argument true iff m[index] == literal.
        arg_at = {b: (abs(a) - 1, a) for b, a in enc.box_arg.items()}
        attempt = 0
        probe = 0
        # monotonic time from which the next probe may start: the first one once the loop has
        # run about as long as building its k copies takes
        self.started = time.monotonic()
        probe_at = self.started + PROBE_SECONDS_PER_LITERAL * self._worlds_for(8) * self.literals
        saturate_from = time.monotonic() + SATURATE_SECONDS_PER_LITERAL * self.literals
        # the one-world attempt waits about four times as long as building its copy takes
        one_world_from = time.monotonic() + ONE_WORLD_SECONDS_PER_LITERAL * self.literals
        while True:
            self.rounds += 1
            if (
                self.rounds >= ONE_WORLD_ROUND
                and time.monotonic() >= one_world_from
                and not self.no_countermodel_upto
            ):
                one_world_from = float("inf")
                # The k = 1 case of the attempts below (every false box false at w0 itself),
                # once, on a copy: cheap next to a round, and on the main solver it changed
                # the search (its phases) for the worse on random formulas.  LWB kt/s4_path_n
                # have one-world countermodels that the loop reached after 17 rounds and an
                # 8-world probe.
                worlds = self._try_worlds(1, WORLDS_CONFLICTS)
                if isinstance(worlds, list):
                    self.trace.append(
                        f"round {self.rounds}: a countermodel of one world "
                        "(every false box is false there)"
                    )
                    return False, worlds
            if self.rounds >= self.saturate_at and time.monotonic() >= saturate_from:
                self.saturate_at = SATURATE_GROWTH * self.rounds
                self._saturate()
            if self.rounds > WORLDS_FIRST_ROUND and time.monotonic() >= probe_at:
                # Countermodel probes between the scheduled attempts below: k = 8, 16, ...
                # worlds, twice the worlds and conflicts each time, each started only after
                # the loop has run PROBE_WAIT times as long as the previous probe took.  The
                # scheduled attempts alone are sized by rounds, so random modal formulas whose
                # rounds are slow waited 1,024 rounds for a countermodel that 8 worlds give in
                # 0.03 s (rnd3cnf-d3-n10-L140-0: 5.1 s -> 0.4 s, docs/benchmarks.md).  Once k
                # reaches half the world bound the probe is the complete attempt.
                k = self._worlds_for(8 << probe)
                if k < 2:
                    probe_at = float("inf")
                elif k == self.bound and time.monotonic() < self._complete_from():
                    probe_at = self._complete_from()
                else:
                    started = time.monotonic()
                    answer = self._attempt(k, WORLDS_CONFLICTS << min(probe, PROBE_MAX_DOUBLINGS))
                    if answer is not None:
                        return answer
                    probe += 1
                    probe_at = time.monotonic() + PROBE_WAIT * (time.monotonic() - started)
            if self.rounds == WORLDS_FIRST_ROUND << (2 * attempt):
                # Many rounds: countermodels with a few worlds are often found much faster
                # by encoding the worlds at once; growing k and budget per attempt.
                # The witnesses of the latest round hint at how many worlds are needed.
                k = self._worlds_for(max(4 << attempt, 2 * self.last_worlds))
                size = k * self.literals
                if (
                    k
                    and size <= max(WORLDS_FREE_LITERALS, WORLDS_LITERALS_PER_ROUND * self.rounds)
                    and (k < self.bound or time.monotonic() >= self._complete_from())
                ):
                    started = time.monotonic()
                    answer = self._attempt(k, WORLDS_CONFLICTS << attempt)
                    if answer is not None:
                        return answer
                    # the next probe waits for this attempt as for a probe
                    probe_at = max(
                        probe_at, time.monotonic() + PROBE_WAIT * (time.monotonic() - started)
                    )
                attempt += 1
            if not self._solve([-enc.root]):
                if self.last_cut is not None:
                    self.final_cut = self.last_cut[0]
                return True, None
            main = self._model()
            beta = [main[b - 1] for b in boxes]
            beta_set = set(beta)
            # A false box needs a world where its argument is false; w0 is one candidate.
            false_boxes = [
                b for b in self.order if main[b - 1] < 0 and main[arg_at[b][0]] == arg_at[b][1]
            ]
            # Witnesses first for the boxes that ~phi and the true boxes of beta force false
            # (unit propagation): every countermodel with those true boxes must witness them,
            # so a failure there is a lemma the main problem cannot dodge, while a box the
            # main solver merely guessed false may be flipped next round.  Without this the
            # loop spent a round per guessed box (LWB kt_branch_n at 8,000 nodes: 368 rounds
            # and 574 lemmas for a proof that needs 2; now 6 rounds, at every size).
            ok, implied = (False, []) if len(false_boxes) < 2 else self.solver.propagate(
                assumptions=[-enc.root, *(b for b in beta if b > 0)]
            )
            if ok:
                implied_set = set(implied)  # (a set in C: building it in Python cost more)
                forced = {b for b in false_boxes if -b in implied_set}
                false_boxes = [b for b in false_boxes if b in forced] + [
                    b for b in false_boxes if b not in forced
                ]
            # Boxes whose argument unit propagation alone proves (no box assumptions) get the
            # strongest lemma, ``-> []a``, all at once: a cheap check (no search) that keeps
            # chain-like formulas from spending one round per irrelevant lemma first.
            # Each box is checked once, and all again after such lemmas were learned (they
            # can make more arguments follow) while that pays: after the first batch, only a
            # batch with a lemma found on such a second check makes all boxes due again.
            # (Random depth-3 formulas: 67,000 of 79,000 checks were second checks, and they
            # found 41 of 1,725 lemmas; LWB and the sample never needed one.)
            fresh = [b for b in false_boxes if b not in self.checked_unconditional]
            self.checked_unconditional.update(fresh)
            valid_args = [
                b for b in fresh if not self.solver.propagate(assumptions=[-enc.box_arg[b]])[0]
            ]
            if valid_args:
                for b in valid_args:
                    self._learn(b, [])
                if not self.unconditional or any(b in self.checked_before for b in valid_args):
                    self.checked_before.update(self.checked_unconditional)
                    self.checked_unconditional.clear()
                self.unconditional += len(valid_args)
                continue
            worlds = [main]
            covered: set[int] = set()
            learned = False
            for i, b in enumerate(false_boxes):
                if b in covered:
                    continue
                a = enc.box_arg[b]
                if self._solve([*beta, -a]):
                    m = self._model()
                    worlds.append(m)
                    for b2 in false_boxes[i + 1 :]:
                        k, a2 = arg_at[b2]
                        if m[k] != a2:
                            covered.add(b2)
                else:
                    cut = None
                    if self.last_cut is not None:
                        cut, core = self.last_cut
                    else:
                        core = self.solver.get_core()
                    hyps = sorted({lit for lit in core if lit in beta_set}, key=abs)
                    fails = self.box_fails[b] = self.box_fails.get(b, 0) + 1
                    self.fails_total += 1
                    due = self.generalize_at.get(b, GENERALIZE_AFTER_FAILS)
                    if (
                        cut is None
                        and hyps
                        and fails >= due
                        and self.fails_total >= self.generalize_total_at
                    ):
                        self.generalize_at[b] = 4 * due
                        general = self._generalize(hyps, a)
                        if general is not None:
                            cut, hyps = general
                        else:
                            self.generalize_total_at = 4 * self.fails_total
                    self._learn(b, hyps, cut)
                    # Boxes that just failed tend to fail again: try them first next round.
                    self.order.remove(b)
                    self.order.insert(0, b)
                    # Back to the main problem at once: one lemma per round keeps the lemma
                    # chain (and the certificate) short and measured faster than learning more.
                    learned = True
                    break
            if not learned:
                return False, worlds
            self.last_worlds = len(worlds)


def _countermodel(formula: Formula, enc: Encoding, worlds: list[list[int]]) -> dict:
    names = sorted(enc.atom_vars)
    seen: dict[tuple[str, ...], str] = {}
    out = []
    for m in worlds:
        true_atoms = tuple(n for n in names if m[enc.atom_vars[n] - 1] > 0)
        if true_atoms in seen:
            continue
        wid = f"w{len(out)}"
        seen[true_atoms] = wid
        out.append({"id": wid, "true_atoms": list(true_atoms)})
    return {"atoms": names, "worlds": out, "relation": "universal", "actual_world": "w0"}


def _parse_drup(lines: list[str]) -> list[list]:
    steps: list[list] = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "d":
            steps.append(["d", *(int(x) for x in parts[1:-1])])
        elif len(parts) > 1:
            # A bare "0" is Glucose logging a conflict under assumptions, not a
            # derived empty clause (the clause set is always satisfiable).
            steps.append(["a", *(int(x) for x in parts[:-1])])
    return steps


def _solve_or_stop(solver: Solver, assumptions: list[int], watch: _Watch | None) -> bool | None:
    if watch is not None:
        watch.raise_if_stopped()
    r = solver.solve_limited(assumptions=assumptions, expect_interrupt=True)
    if r is None and watch is not None:
        watch.raise_if_stopped()
    return r


def needed_lemmas(
    enc: Encoding,
    lemmas: list[tuple[int, list[int]]],
    watch: _Watch | None = None,
    fixed: list[list[int]] | None = None,
) -> list[int] | None:
    """Indices of the lemmas the refutation depends on (transitively), via selector cores;
    ``fixed`` clauses (already proved) are always present."""
    base = enc.nvars
    solver = MiniSat()
    _add_clauses(solver, enc.clauses)
    _add_clauses(solver, fixed or [])
    if watch is not None:
        watch.use(solver)
    try:
        sels = [base + 1 + i for i in range(len(lemmas))]
        for sel, (b, hyps) in zip(sels, lemmas, strict=True):
            solver.add_clause([b, *(-h for h in hyps), -sel])
        if _solve_or_stop(solver, [-enc.root, *sels], watch) is not False:
            return None
        need = {lit - base - 1 for lit in solver.get_core() if lit > base}
        for i in range(len(lemmas) - 1, -1, -1):
            if i not in need:
                continue
            b, hyps = lemmas[i]
            if _solve_or_stop(solver, [*hyps, -enc.box_arg[b], *sels[:i]], watch) is not False:
                return None
            need.update(lit - base - 1 for lit in solver.get_core() if lit > base)
        return sorted(need)
    finally:
        _free(solver, watch)


class _ProofTail:
    """Reads the DRUP lines a pysat Glucose solver logged since the last read."""

    def __init__(self, solver: Solver) -> None:
        self.solver = solver
        self.offset = 0
        inner = solver.solver
        self.fast = hasattr(inner, "prfile") and hasattr(inner, "prfp")

    def new_lines(self) -> list[str]:
        if self.fast:
            inner = self.solver.solver
            pysolvers.flushpr(inner.prfp)
            inner.prfile.seek(self.offset)
            data = inner.prfile.read()  # to EOF: the C side keeps appending there
            self.offset += len(data)
            return data.decode("ascii").splitlines()
        lines = self.solver.get_proof() or []
        new, self.offset = lines[self.offset :], len(lines)
        return new


def make_certificate(
    enc: Encoding,
    lemmas: list[tuple[int, list[int]]],
    watch: _Watch | None = None,
    cuts: dict[int, dict] | None = None,
    final_cut: dict | None = None,
) -> tuple[dict | None, str | None]:
    """Replay the needed lemmas on a fresh DRUP-logging solver: (proof object, omission reason).

    ``cuts`` (lemma index -> cutting-plane step body) and ``final_cut`` are emitted as "c"
    steps instead of solving; they were verified against the encoding plus every earlier
    lemma, so the chain is then replayed whole (no trimming), and each "c" step is checked
    again against the database the checker will hold at that point (hints.py).
    """
    cuts = cuts or {}
    with_cuts = bool(cuts) or final_cut is not None
    order: list[int] | None = None  # the lemmas kept, in order (None: all)
    if len(lemmas) > 1 and not with_cuts:
        order = needed_lemmas(enc, lemmas, watch)
        if order is None:
            return None, "internal error: the lemma chain did not replay"
    elif with_cuts and _cuts_stand_alone(enc, lemmas, cuts, final_cut):
        # The cut lemmas go first; then only the SAT lemmas the rest needs.
        first = sorted(cuts)
        order = first
        if final_cut is None:
            sat = [i for i in range(len(lemmas)) if i not in cuts]
            fixed = [cuts[i]["clause"] for i in first]
            fixed += [[lemmas[i][0], *(-h for h in lemmas[i][1])] for i in first]
            keep = needed_lemmas(enc, [lemmas[i] for i in sat], watch, fixed)
            order = first + [sat[k] for k in keep] if keep is not None else None
    if order is not None:
        cuts = {k: cuts[i] for k, i in enumerate(order) if i in cuts}
        lemmas = [lemmas[i] for i in order]
    loaded = None
    if not with_cuts:
        # The encoding is loaded for hints once: a failed propagation-only pass gives it
        # back for the pass over the solver's proof (two loads were ~17 % of the valid
        # random depth-3 formulas' time).
        loaded = hints.Loaded(enc.nvars, enc.clauses, _poller(watch))
        proof = _propagation_proof(enc, lemmas, watch, loaded)
        if proof is not None:
            return proof, None
        if loaded.used:  # the pass succeeded but its proof was over the budget
            loaded = None
    solver = _proof_solver(watch)
    if watch is not None:
        watch.use(solver)
    try:
        # Straight into C, polling the limit: pysat's bootstrap_with loads a clause through
        # two Python layers and cannot be stopped.
        _add_clauses(solver, enc.clauses, _poller(watch))
        tail = _ProofTail(solver)
        steps: list[list] = []
        size = 0

        def take_proof() -> None:
            nonlocal size
            new = _parse_drup(tail.new_lines())
            steps.extend(new)
            size += sum(len(s) for s in new)

        for i, (b, hyps) in enumerate(lemmas):
            cut = cuts.get(i)
            if cut is not None:
                steps.append(["c", cut])
                size += cert._cut_size(cut, "cut")
                solver.add_clause(cut["clause"])
            elif _solve_or_stop(solver, [*hyps, -enc.box_arg[b]], watch) is not False:
                return None, "internal error: a lemma did not replay"
            else:
                take_proof()
            steps.append(["n", b, *hyps])
            size += len(hyps) + 2
            solver.add_clause([b, *(-h for h in hyps)])
            if size > MAX_PROOF_LITERALS:
                return None, f"proof exceeds the budget of {MAX_PROOF_LITERALS} literals"
        if final_cut is not None:
            steps.append(["c", final_cut])
            size += cert._cut_size(final_cut, "cut")
        elif _solve_or_stop(solver, [-enc.root], watch) is not False:
            return None, "internal error: the final refutation did not replay"
        else:
            take_proof()
        if size > MAX_PROOF_LITERALS:
            return None, f"proof exceeds the budget of {MAX_PROOF_LITERALS} literals"
    finally:
        _free(solver, watch)
    # Hints for every RUP step (cut steps are re-checked there against the database the
    # checker will hold), then only the steps the final derivation needs.
    try:
        steps = hints.hint_proof(
            enc.nvars, enc.clauses, steps, _poller(watch), enc.box_arg, enc.root, loaded=loaded
        )
    except hints.HintError as exc:
        return None, f"internal error: {exc}"
    return _hinted_proof(steps, {"kind": "lemmas"})


def _propagation_proof(
    enc: Encoding,
    lemmas: list[tuple[int, list[int]]],
    watch: _Watch | None,
    loaded: hints.Loaded | None = None,
) -> dict | None:
    """The certificate without a proof-logging solver, when every lemma's premise and then
    ``[root]`` follow by unit propagation from the encoding and the lemmas before them (most
    small problems: the solver's replay and its DRUP lines cost more than the proof), else
    None.  The hint pass checks each premise as it comes, so a chain that needs the solver's
    learned clauses fails at its first such step."""
    try:
        steps = hints.hint_proof(
            enc.nvars, enc.clauses, [["n", b, *hyps] for b, hyps in lemmas], _poller(watch),
            enc.box_arg, enc.root, eager=True, loaded=loaded,
        )
    except hints.HintError:
        return None
    proof, _ = _hinted_proof(steps, {"kind": "lemmas"})
    return proof


def _poller(watch: _Watch | None) -> Callable[[], None]:
    return watch.raise_if_stopped if watch is not None else lambda: None


def _hinted_proof(steps: list[list], head: dict) -> tuple[dict | None, str | None]:
    """The proof object around hinted steps, or the omission reason when over the budget."""
    size = 0
    for s in steps:
        # a hinted step as the checker counts it (cert._hinted_size): its tag, literals and
        # hints; the builder made its shape
        size += cert._cut_size(s[1], "cut") if s[0] == "c" else 1 + len(s[-2]) + len(s[-1])
    if size > MAX_PROOF_LITERALS:
        return None, f"proof exceeds the budget of {MAX_PROOF_LITERALS} literals"
    return {"format": cert.FORMAT, "encoding": cert.ENCODING, **head, "steps": steps}, None


def _cuts_stand_alone(
    enc: Encoding, lemmas: list[tuple[int, list[int]]], cuts: dict[int, dict], final: dict | None
) -> bool:
    """Do the cut steps hold over the encoding plus the earlier cut lemmas alone (so the
    SAT lemmas can be trimmed)?"""
    db = cert.RupChecker(enc.nvars)
    for c in enc.clauses:
        db.add(c)
    try:
        for i in sorted(cuts):
            db.add(cert.check_cut(db, cuts[i]))
            b, hyps = lemmas[i]
            db.add([b, *(-h for h in hyps)])
        if final is not None:
            cert.check_cut(db, final)
    except cert.CertificateError:
        return False
    return True


def make_worlds_certificate(
    enc: Encoding,
    k: int,
    watch: _Watch | None = None,
    refutation: tuple[list[list[int]], list[str]] | None = None,
) -> tuple[dict | None, str | None]:
    """DRUP refutation of the k-world encoding (certificate kind "worlds"); ``refutation``:
    the clauses (``worlds_clauses``) and a DRUP-logging solver's lines refuting them, when
    the search has one already (``_Cegar.worlds_refutation``)."""
    if refutation is not None:
        clauses, lines = refutation
    else:
        # The order is part of the format (clause ids of the hints): docs/certificates.md.
        clauses = worlds_clauses(enc, k, poll=_poller(watch))
        solver = _proof_solver(watch)
        if watch is not None:
            watch.use(solver)
        try:
            _add_clauses(solver, clauses, _poller(watch))
            if _solve_or_stop(solver, [], watch) is not False:
                return None, "internal error: the k-world refutation did not replay"
            lines = _ProofTail(solver).new_lines()
        finally:
            _free(solver, watch)
    steps = _parse_drup(lines)
    if sum(len(st) for st in steps) > MAX_PROOF_LITERALS:
        return None, f"proof exceeds the budget of {MAX_PROOF_LITERALS} literals"
    # Which clauses have no repeated variable: the same in every copy (a copy renames
    # variables one to one), so the hint pass need not test each of the k copies.
    distinct = [len(set(map(abs, c))) == len(c) for c in enc.clauses] * k
    distinct += [len(set(map(abs, c))) == len(c) for c in clauses[len(distinct) :]]
    try:
        steps = hints.hint_proof(
            k * enc.nvars, clauses, steps, _poller(watch), distinct=distinct
        )
    except hints.HintError as exc:
        return None, f"internal error: {exc}"
    return _hinted_proof(steps, {"kind": "worlds", "worlds": k})


# ``json.dumps(proof, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, with the
# encoder made once (dumps makes one per call: a third of a small proof's encoding) and no
# cycle check (a proof object is a tree): the same text.
_CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)


def encode_certificate(proof: dict) -> str:
    canonical = _CANONICAL_JSON.encode(proof)
    return base64.b64encode(canonical.encode("utf-8")).decode("ascii")


def _attach_tableau(res: ProofResult, formula: Formula, watch: _Watch, trace: list[str]) -> None:
    """A checked closed tableau for small valid formulas (tableau.py; the console draws it)."""
    # Imported here: only explained proofs need it (start-up of `pxl prove`); a first import
    # is not started with too little time left (FIRST_IMPORT_SECONDS).
    if not _importable_in_time("workers.prover.tableau", watch):
        trace.append("no tableau: no time left to load the tableau builder")
        return
    from workers.prover.tableau import MAX_FORMULA_NODES as TABLEAU_MAX_NODES
    from workers.prover.tableau import TIME_BUDGET_SECONDS as TABLEAU_TIME_BUDGET
    from workers.prover.tableau import checked_tableau

    if formula.size > TABLEAU_MAX_NODES:
        trace.append(f"no tableau: the formula has more than {TABLEAU_MAX_NODES} nodes")
        return
    budget = min(TABLEAU_TIME_BUDGET, max(0.0, watch.deadline - time.monotonic()))
    res.tableau = checked_tableau(formula, time_budget=budget)
    if res.tableau is None:
        trace.append(f"no tableau within {budget:.2g} s")
    else:
        trace.append(f"closed S5 tableau of {len(res.tableau['nodes'])} nodes, checked")


def prove(
    formula: Formula | str | dict,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
    certificate: bool = True,
    explain: bool = False,
) -> ProofResult:
    """Decide S5 validity of ``formula``; never guesses (unknown on timeout/stop).

    ``formula``: a built formula, PXL text or the JSON form (read with ``read_formula``,
    limits enforced; a ``FormulaError`` gives verdict unknown / InputError).
    ``timeout``: seconds of wall-clock time for the whole call (verdict unknown / Timeout);
    the search and the certificate stop END_MARGIN_SECONDS (at most END_MARGIN_SHARE of
    the limit; at least END_MARGIN_SECONDS_PER_NODE per node of the formula) early, so
    that the answer, including a countermodel's check, is due in time.
    ``should_stop``: polled about every 50 ms from a background watcher thread (so it
    must be thread-safe) and once before the search; True makes the call return within
    about a second with unknown / User.  A running SAT call is interrupted.
    ``certificate``: False skips building the proof object for valid verdicts.
    If the time runs out while the certificate is built, the verdict stays valid and
    ``certificate_omitted`` says why.
    ``explain``: also build a valid verdict's readable forms, which the web console draws:
    the certificate's lemma outline (outline.py; with a certificate only) and, for small
    formulas, a closed tableau that the independent tableau checker accepted (tableau.py).
    Off by default because they are not evidence (the certificate is) and on small formulas
    they cost more than deciding with the certificate; the service's proof jobs and
    ``pxl prove --json`` ask for them.
    """
    gcpause.pause()  # a proof's lists form no cycles: collections only slow it (gcpause.py)
    try:
        return _prove(formula, timeout, should_stop, certificate, explain)
    finally:
        gcpause.resume()


def _prove(
    formula: Formula | str | dict,
    timeout: float,
    should_stop: Callable[[], bool] | None,
    certificate: bool,
    explain: bool,
) -> ProofResult:
    start = time.monotonic()
    trace: list[str] = []

    def finish(res: ProofResult) -> ProofResult:
        res.elapsed_ms = (time.monotonic() - start) * 1000.0
        res.stats.setdefault("elapsed_ms", round(res.elapsed_ms, 3))
        return res

    if not isinstance(formula, Formula):
        try:
            formula = read_formula(formula)
        except FormulaError as exc:
            trace.append(f"input error: {exc}")
            return finish(ProofResult("unknown", "InputError", trace=trace, error=str(exc)))

    timeout = max(0.0, timeout)
    margin = max(min(END_MARGIN_SECONDS, END_MARGIN_SHARE * timeout),
                 END_MARGIN_SECONDS_PER_NODE * formula.size)
    watch = _Watch(start + timeout - margin, should_stop)
    stats: dict = {"nodes": formula.size, "depth": formula.depth}
    cegar: _Cegar | None = None
    try:
        try:
            enc = encode(formula, watch.raise_if_stopped)
        except TypeError as exc:  # a Formula subclass that is not PXL (e.g. a chrono node)
            trace.append(f"input error: {exc}")
            return finish(ProofResult("unknown", "InputError", trace=trace, error=str(exc)))
        stats.update(
            modal_subformulas=len(enc.boxes),
            variables=enc.nvars,
            clauses=len(enc.clauses),
            atoms=len(enc.atom_vars),
        )
        trace.append(
            f"encoded {count(formula.size, 'node')} as one S5 world: "
            f"{count(enc.nvars, 'variable')}, {count(len(enc.clauses), 'clause')}, "
            f"{count(len(enc.boxes), 'distinct box', 'distinct boxes')} (<> as ~[]~)"
        )
        cegar = _Cegar(enc, watch, trace)
        try:
            valid, worlds = cegar.run()
        finally:
            stats.update(solver_calls=cegar.calls, lemmas=len(cegar.lemmas), rounds=cegar.rounds)
            if cegar.lp_attempts:
                stats.update(lp_attempts=cegar.lp_attempts, cut_lemmas=len(cegar.cuts))
            if cegar.unconditional:
                stats.update(unconditional_lemmas=cegar.unconditional)
            if cegar.propagation_lemmas:
                stats.update(propagation_lemmas=cegar.propagation_lemmas)
            cegar.close()
        if not valid:
            assert worlds is not None
            model = _countermodel(formula, enc, worlds)
            stats["worlds"] = len(model["worlds"])
            trace.append(
                f"round {cegar.rounds}: a world falsifying the formula and a witness world for "
                f"every false box: countermodel with {count(len(model['worlds']), 'world')}"
            )
            ok, why = check_countermodel(formula, model)
            if not ok:
                trace.append(f"countermodel failed its check ({why}); giving up")
                return finish(ProofResult("unknown", "GaveUp", formula, trace=trace, stats=stats))
            trace.append(f"countermodel checked: {why}")
            return finish(
                ProofResult(
                    "invalid", "CounterSatisfiable", formula, countermodel=model,
                    trace=trace, stats=stats,
                )
            )
        stats["worlds"] = 0
        if not cegar.valid_by_worlds:
            trace.append(
                f"round {cegar.rounds}: no world falsifies the formula given the "
                f"{count(len(cegar.lemmas), 'learned necessitation lemma')}: valid"
            )
        res = ProofResult("valid", "Theorem", formula, trace=trace, stats=stats)
        if not certificate:
            res.certificate_omitted = "not requested"
        else:
            try:
                if cegar.valid_by_worlds:
                    proof, why_not = make_worlds_certificate(
                        enc, cegar.valid_by_worlds, watch, cegar.worlds_refutation
                    )
                else:
                    proof, why_not = make_certificate(
                        enc, cegar.lemmas, watch, cegar.cuts, cegar.final_cut
                    )
            except _Stopped as stop:  # the verdict stands; only the proof is missing
                proof, why_not = None, f"stopped while building the certificate ({stop.status})"
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - a builder's fault must not lose the verdict
                proof = None
                why_not = f"internal error while building the certificate ({type(exc).__name__})"
            if proof is None:
                res.certificate_omitted = why_not
                trace.append(f"certificate omitted: {why_not}")
            else:
                res.certificate = encode_certificate(proof)
                res.certificate_format = cert.FORMAT
                if explain:
                    from workers.prover.outline import lemma_outline  # explained proofs only

                    res.outline = lemma_outline(enc, proof, formula.size)
                stats["proof_steps"] = len(proof["steps"])
                if proof["kind"] == "worlds":
                    what = f"DRUP refutation of {count(proof['worlds'], 'world')}"
                else:
                    lemmas = sum(1 for step in proof["steps"] if step[0] == "n")
                    ncuts = sum(1 for step in proof["steps"] if step[0] == "c")
                    what = f"{count(lemmas, 'necessitation lemma')}, DRUP"
                    if ncuts:
                        what += f", {count(ncuts, 'cutting-plane step')}"
                trace.append(f"certificate: {what}, {count(len(proof['steps']), 'proof step')}")
        if explain:
            try:
                _attach_tableau(res, formula, watch, trace)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - a readable form must not lose the verdict
                res.tableau = None
                trace.append(f"no tableau: internal error ({type(exc).__name__})")
        return finish(res)
    except _Stopped as stop:
        trace.append(
            {"Timeout": f"timeout after {timeout:g} s", "User": "stopped on request"}.get(
                stop.status, "the SAT solver gave up"
            )
        )
        return finish(ProofResult("unknown", stop.status, formula, trace=trace, stats=stats))
    except MemoryError:
        trace.append("out of memory")
        return finish(ProofResult("unknown", "MemoryOut", formula, trace=trace, stats=stats))
    finally:
        watch.close()

"""The DRUP-logging solver frees its C stream (workers/prover/proof_solver.py).

python-sat's ``with_proof=True`` leaves each solver's ``FILE`` and stream buffer on the C
heap (about 4.6 KB); the worker processes grew about 1 MiB a minute under steady proof load
from it (OPERATIONS.md, "Worker memory").  tracemalloc cannot see C allocations, so these
tests read glibc's count of heap bytes in use (``mallinfo2``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import tempfile

import pytest
from pysat.solvers import Solver

from workers.prover import proof_solver as ps
from workers.prover.reader import read_formula
from workers.prover.search import prove


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2():
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return function


MALLINFO2 = _mallinfo2()
needs_glibc = pytest.mark.skipif(MALLINFO2 is None, reason="needs glibc's mallinfo2")

# Pigeonhole, 4 pigeons in 3 holes: unsatisfiable, Glucose's DRUP proof has a few steps.
PIGEONS = [[1 + 3 * p + h for h in range(3)] for p in range(4)] + [
    [-(1 + 3 * p + h), -(1 + 3 * q + h)] for h in range(3) for p in range(4)
    for q in range(p + 1, 4)]
# Valid, and its certificate is replayed on a DRUP-logging solver (qmltp-GSY391+1 of
# bench/sample.jsonl).
NEEDS_DRUP = ("[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> "
              "[]~([]~[]p1 | []~[]p2))")


def c_heap_retained_per_call(action, calls: int) -> float:
    """Bytes of C heap still in use after ``calls`` calls of ``action``, per call."""
    for _ in range(20):  # warm-up: first-use allocations, interned formulas, caches
        action()
    gc.collect()
    before = MALLINFO2().uordblks
    for _ in range(calls):
        action()
    gc.collect()
    return (MALLINFO2().uordblks - before) / calls


def refute_pigeons(make) -> list[str]:
    solver = make()
    try:
        for clause in PIGEONS:
            solver.add_clause(clause)
        assert solver.solve() is False
        return solver.get_proof()
    finally:
        solver.delete()


@needs_glibc
def test_a_proof_solver_leaves_nothing_on_the_c_heap():
    retained = c_heap_retained_per_call(lambda: refute_pigeons(ps.proof_solver), 1000)
    assert retained < 64, f"{retained:.0f} bytes of C heap kept per proof solver"


@needs_glibc
def test_pysats_own_proof_logging_still_leaks_its_stream():
    """The reason proof_solver exists.  When this fails, python-sat frees the stream itself
    and proof_solver can go back to ``Solver(..., with_proof=True)``."""
    def plain():
        return Solver(name=ps.SOLVER, with_proof=True)

    assert c_heap_retained_per_call(lambda: refute_pigeons(plain), 300) > 4000


@needs_glibc
def test_proving_a_formula_with_a_drup_certificate_leaves_nothing_on_the_c_heap(monkeypatch):
    formula = read_formula(NEEDS_DRUP)
    made = []
    original = ps.proof_solver

    def proof_solver(*args):
        made.append(1)
        return original(*args)

    def prove_it():
        result = prove(formula, timeout=10)
        assert result.verdict == "valid" and result.certificate

    monkeypatch.setattr(ps, "proof_solver", proof_solver)  # search imports it when used
    retained = c_heap_retained_per_call(prove_it, 300)
    assert len(made) == 320  # every proof replayed its certificate on a DRUP-logging solver
    assert retained < 1000, f"{retained:.0f} bytes of C heap kept per proof"


def test_the_proof_is_the_one_pysat_logs():
    ours = refute_pigeons(ps.proof_solver)
    assert len(ours) > 3 and ours[-1] == "0"  # ends with the empty clause
    assert ours == refute_pigeons(lambda: Solver(name=ps.SOLVER, with_proof=True))


def test_deleting_never_closes_a_descriptor_it_no_longer_owns():
    """Were python-sat to close the stream itself, the descriptor number could be reused
    at once (here by a file opened right after); delete() must leave that file alone."""
    solver = ps.proof_solver(PIGEONS)
    assert isinstance(solver, ps._ClosingProofSolver) and solver._stream is not None
    assert solver.solve() is False
    stream_fd = solver._fd
    assert ps._c_functions()[0](solver._stream) == 0  # fclose, as a fixed python-sat would
    with tempfile.TemporaryFile() as reused:
        assert reused.fileno() == stream_fd  # the lowest free number: the one just closed
        solver.delete()
        os.fstat(reused.fileno())  # still open
        reused.write(b"still mine")
        reused.seek(0)
        assert reused.read() == b"still mine"


def test_without_a_reachable_stream_it_falls_back_to_pysats_proof_logging(monkeypatch):
    monkeypatch.setattr(ps, "_supported", True)
    monkeypatch.setattr(ps._ClosingProofSolver, "_stream_of",
                        staticmethod(lambda capsule, fd: None))
    first = ps.proof_solver()  # finds out: keeps its stream, still logs its proof
    assert isinstance(first, ps._ClosingProofSolver) and ps._supported is False
    first.delete()
    assert type(ps.proof_solver()) is Solver
    assert refute_pigeons(ps.proof_solver)[-1] == "0"

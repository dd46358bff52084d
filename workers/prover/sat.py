"""The search's SAT solver: MiniSat 2.2, straight on python-sat's C module ``pysolvers``.

python-sat's own ``pysat.solvers`` imports ``typing``, ``tempfile``, ``decimal``, ``gzip``,
``bz2``, ``lzma`` and its formula and engine modules, which a one-shot ``pxl prove`` on a
small formula needs for nothing else: without them it went from 42.8 to 34.2 ms (median;
target 45 ms, issue 19; docs/benchmarks.md).  ``MiniSat`` makes the same C calls as ``pysat.solvers.Minisat22`` for the
methods the prover uses, one Python call fewer each.  The DRUP-logging Glucose of the
certificates (proof_solver.py) still comes from ``pysat.solvers``, imported when the first
one is made.
"""

from __future__ import annotations

import threading

import pysolvers


def _in_main_thread() -> int:
    # The C side installs its SIGINT handler only in the main thread (as pysat does).
    return int(threading.current_thread() is threading.main_thread())


class MiniSat:
    """MiniSat 2.2 (``pysolvers.minisat22_*``); ``minisat`` is the C handle, None once
    deleted.  ``status``: the last call's answer (True, False, None when interrupted or out
    of budget), False after adding a clause that makes the set unsatisfiable at once."""

    __slots__ = ("minisat", "status")

    def __init__(self) -> None:
        self.minisat = None  # (set first: __del__ runs even if the C call fails)
        self.status: bool | None = None
        self.minisat = pysolvers.minisat22_new()

    def __del__(self) -> None:
        self.delete()

    def delete(self) -> None:
        if self.minisat:
            pysolvers.minisat22_del(self.minisat)
            self.minisat = None

    def add_clause(self, clause: list[int]) -> None:
        if self.minisat and pysolvers.minisat22_add_cl(self.minisat, clause) == False:  # noqa: E712 - the C result, as pysat tests it
            self.status = False

    def solve_limited(self, assumptions: list[int] = (), expect_interrupt: bool = False
                      ) -> bool | None:
        """True (a model), False (unsatisfiable under ``assumptions``) or None (stopped by
        ``interrupt()`` or the conflict budget)."""
        if self.minisat:
            self.status = pysolvers.minisat22_solve_lim(
                self.minisat, assumptions, _in_main_thread(), int(expect_interrupt)
            )
            return self.status
        return None

    def conf_budget(self, budget: int) -> None:
        if self.minisat:
            pysolvers.minisat22_cbudget(self.minisat, budget)

    def interrupt(self) -> None:
        """Stop the running ``solve_limited(expect_interrupt=True)`` (from another thread)."""
        if self.minisat:
            pysolvers.minisat22_interrupt(self.minisat)

    def clear_interrupt(self) -> None:
        if self.minisat:
            pysolvers.minisat22_clearint(self.minisat)

    def propagate(self, assumptions: list[int] = (), phase_saving: int = 0
                  ) -> tuple[bool, list[int]] | None:
        """(no conflict, the literals unit propagation assigns from ``assumptions``)."""
        if self.minisat:
            ok, props = pysolvers.minisat22_propagate(
                self.minisat, assumptions, phase_saving, _in_main_thread()
            )
            return bool(ok), props if props is not None else []
        return None

    def set_phases(self, literals: list[int]) -> None:
        if self.minisat:
            pysolvers.minisat22_setphases(self.minisat, literals)

    def get_model(self) -> list[int] | None:
        if self.minisat and self.status == True:  # noqa: E712 - exactly True, as pysat
            model = pysolvers.minisat22_model(self.minisat)
            return model if model is not None else []
        return None

    def get_core(self) -> list[int] | None:
        if self.minisat and self.status == False:  # noqa: E712 - exactly False, not None
            return pysolvers.minisat22_core(self.minisat)
        return None

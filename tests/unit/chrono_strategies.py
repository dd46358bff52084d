"""Hypothesis strategies for PXL and CPX formulas (shared by the chrono and v4 tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from workers.overlays.chrono import syntax as cpx
from workers.prover.syntax import FALSE, TRUE, And, Atom, Box, Dia, Iff, Implies, Not, Or

ATOMS = st.sampled_from([Atom("p"), Atom("q"), Atom("r"), Atom("Next"), Atom("At")])
LEAVES = st.one_of(ATOMS, st.sampled_from([TRUE, FALSE]))
NATS = st.integers(min_value=0, max_value=5)


def _pxl_step(children):
    return st.one_of(
        children.map(Not), children.map(Box), children.map(Dia),
        st.lists(children, min_size=2, max_size=3).map(And),
        st.lists(children, min_size=2, max_size=3).map(Or),
        st.tuples(children, children).map(lambda t: Implies(*t)),
        st.tuples(children, children).map(lambda t: Iff(*t)),
    )


def pxl_formulas(max_leaves: int = 12):
    return st.recursive(LEAVES, _pxl_step, max_leaves=max_leaves)


def _cpx_step(children):
    indexed = st.sampled_from([cpx.At, cpx.Project, cpx.Knows, cpx.Believes, cpx.Intends])
    unary = st.sampled_from([cpx.Always, cpx.Eventually, cpx.Next, cpx.Prev])
    binary = st.sampled_from([cpx.Until, cpx.Since])
    return st.one_of(
        _pxl_step(children),
        st.tuples(indexed, NATS, children).map(lambda t: t[0](t[1], t[2])),
        st.tuples(unary, children).map(lambda t: t[0](t[1])),
        st.tuples(binary, children, children).map(lambda t: t[0](t[1], t[2])),
        pxl_formulas(4).map(cpx.Eternal),
    )


def cpx_formulas(max_leaves: int = 12):
    return st.recursive(LEAVES, _cpx_step, max_leaves=max_leaves)

"""The CPX (ChronoPraxis) formula AST: PXL plus temporal, epistemic and ontological operators.

The eight PXL mirror constructors of the Coq ``cpx_form`` are the prover's own
node classes (``workers.prover.syntax``), so a PXL formula *is* a CPX formula and
the embedding ``pxl_to_cpx`` is structural identity.  The twelve CPX operators
below are further interned node kinds on the same ``Formula`` base: equality is
identity, ``size``/``depth`` are precomputed and ``postorder`` walks them.  A CPX
node must never reach the prover; ``cpx_to_pxl`` (the S5 collapse projection)
maps every CPX formula to pure PXL first.

Times and agents are natural numbers, as in the Coq file (``temporal_index :=
nat``; agents are ``nat``).  Atoms stay PXL identifiers: the Coq ``CPX_Atom n``
corresponds to the atom named ``p<n>`` by convention (docs/overlays.md).
"""

from __future__ import annotations

from typing import ClassVar

from workers.overlays.chrono.printer import cpx_to_text
from workers.prover.syntax import BinaryNode, Formula, UnaryNode, postorder

# Times and agents are naturals below this bound (they must fit JSON integers safely).
MAX_INDEX = 2**63 - 1


def _check_index(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INDEX:
        raise ValueError(f"{name} must be a natural number (0..2^63-1), not {value!r}")
    return value


class CpxNode(Formula):
    """Base of the CPX-only node kinds."""

    __slots__ = ()
    # What the S5 collapse projection makes of the node: "box", "dia", "until",
    # "since" or "identity" (Eternal); and the index it carries, if any.
    image: ClassVar[str] = ""
    index_name: ClassVar[str | None] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {cpx_to_text(self)}>"


class _CpxUnary(CpxNode, UnaryNode):
    """One formula argument, as the PXL unary connectives (constructor and accessors)."""

    __slots__ = ()


class _CpxIndexed(CpxNode):
    """An operator with a natural-number index (time or agent) and one formula."""

    __slots__ = ()

    def __new__(cls, index: int, arg: Formula):
        _check_index(cls.index_name or "index", index)
        if not isinstance(arg, Formula):
            raise TypeError(f"{cls.kind} takes a formula, not {type(arg).__name__}")
        return cls._make((index, arg), (arg,))

    @property
    def index(self) -> int:
        return self._key[0]

    @property
    def arg(self) -> Formula:
        return self._key[1]

    @property
    def children(self) -> tuple[Formula, ...]:
        return (self._key[1],)


class _CpxBinary(CpxNode, BinaryNode):
    """Two formula arguments, as the PXL binary connectives (constructor and accessors)."""

    __slots__ = ()


class At(_CpxIndexed):
    """``At(t, φ)``: φ holds at time t."""

    __slots__ = ()
    kind = "at"
    image = "box"
    index_name = "time"


class Project(_CpxIndexed):
    """``Project(t, φ)``: φ projected to time t."""

    __slots__ = ()
    kind = "project"
    image = "box"
    index_name = "time"


class Knows(_CpxIndexed):
    __slots__ = ()
    kind = "knows"
    image = "box"
    index_name = "agent"


class Believes(_CpxIndexed):
    __slots__ = ()
    kind = "believes"
    image = "dia"
    index_name = "agent"


class Intends(_CpxIndexed):
    __slots__ = ()
    kind = "intends"
    image = "box"
    index_name = "agent"


class Always(_CpxUnary):
    __slots__ = ()
    kind = "always"
    image = "box"


class Eventually(_CpxUnary):
    __slots__ = ()
    kind = "eventually"
    image = "dia"


class Next(_CpxUnary):
    __slots__ = ()
    kind = "next"
    image = "box"


class Prev(_CpxUnary):
    __slots__ = ()
    kind = "prev"
    image = "dia"


class Eternal(_CpxUnary):
    """``Eternal(φ)`` lifts a *PXL* formula into CPX (the payload may hold no CPX operator)."""

    __slots__ = ()
    kind = "eternal"
    image = "identity"

    def __new__(cls, arg: Formula):
        if isinstance(arg, Formula) and not is_pxl(arg):
            raise ValueError("the payload of Eternal must be a pure PXL formula")
        return super().__new__(cls, arg)


class Until(_CpxBinary):
    __slots__ = ()
    kind = "until"
    image = "until"


class Since(_CpxBinary):
    __slots__ = ()
    kind = "since"
    image = "since"


# The twelve CPX operators by kind, and their names in the text syntax.
CPX_KINDS: dict[str, type[CpxNode]] = {
    c.kind: c
    for c in (At, Always, Eventually, Until, Since, Next, Prev, Knows, Believes, Intends,
              Eternal, Project)
}
OPERATOR_NAMES: dict[str, str] = {kind: cls.__name__ for kind, cls in CPX_KINDS.items()}
INDEXED_KINDS = frozenset(k for k, c in CPX_KINDS.items() if issubclass(c, _CpxIndexed))
BINARY_KINDS = frozenset(k for k, c in CPX_KINDS.items() if issubclass(c, _CpxBinary))
# Modalities in the sense of the projection: nodes whose image is a box or a diamond.
BOX_LIKE = frozenset({"box"} | {k for k, c in CPX_KINDS.items() if c.image == "box"})
DIA_LIKE = frozenset({"dia"} | {k for k, c in CPX_KINDS.items() if c.image == "dia"})


def is_pxl(f: Formula) -> bool:
    """True when ``f`` contains no CPX operator (it is a pure PXL formula)."""
    return not any(isinstance(n, CpxNode) for n in postorder(f))

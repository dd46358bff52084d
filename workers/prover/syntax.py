"""The PXL formula AST.

Nodes are hash-consed: constructing a node equal to a live one returns that
same object.  Equality is therefore identity (O(1), no recursion even on
formulas nested 1,000 deep), shared subformulas are shared in memory, and
the prover can key tables on nodes directly.  ``size`` (tree nodes) and
``depth`` (longest root-to-leaf path, a leaf has depth 1) are computed at
construction from the children, so limits can be checked without recursion.

Kinds and their JSON tags: atom, const, not, and, or, implies, iff, box, dia.
``And``/``Or`` are n-ary (at least two arguments); ``Implies``/``Iff`` binary.
"""

from __future__ import annotations

import re
import threading
import weakref
from _weakref import _remove_dead_weakref
from collections.abc import Iterator
from typing import ClassVar

from workers.prover.printer import to_text

ATOM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Words that are syntax, never atom names.
KEYWORDS = frozenset({"true", "false", "BOX", "DIA"})

# Interned nodes: full key -> weak reference.  Read without the lock (a dict look-up and a
# weak reference call are atomic), so finding a live node costs no lock and no Python-level
# WeakValueDictionary.get; written under it, so two threads building the same node get one
# object.  A node's entry goes when the node dies: ``_remove_dead_weakref`` (C) deletes it
# only if it still holds a dead reference (docs/benchmarks.md, "Per-call and start-up cost").
_interned: dict[tuple, weakref.ReferenceType] = {}
_intern_lock = threading.Lock()


class _Ref(weakref.ref):
    """A weak reference that knows its entry's key (as WeakValueDictionary's KeyedRef, but
    created by the C constructor: no Python-level __new__/__init__ per node)."""

    __slots__ = ("key",)


def _forget(ref: _Ref) -> None:
    _remove_dead_weakref(_interned, ref.key)


class Formula:
    """Base class of all PXL formula nodes (immutable, interned)."""

    __slots__ = ("_key", "size", "depth", "__weakref__")
    kind: ClassVar[str] = ""

    # Subclasses set these in _make.
    _key: tuple
    size: int
    depth: int

    @classmethod
    def _make(cls, key: tuple, children: tuple[Formula, ...], full_key: tuple | None = None):
        """The interned node: the live one with this key, or a new one.  ``full_key`` (the kind
        and the key with formulas by ``id``: a live node keeps its children alive, so their
        ids stay theirs) may be passed when the caller built it already."""
        if full_key is None:
            full_key = (cls.kind, *(id(k) if isinstance(k, Formula) else k for k in key))
        with _intern_lock:
            ref = _interned.get(full_key)
            node = None if ref is None else ref()
            if node is not None:
                return node
            size, depth = 1, 0
            for c in children:
                size += c.size
                if c.depth > depth:
                    depth = c.depth
            node = object.__new__(cls)
            setattr_ = object.__setattr__
            setattr_(node, "_key", key)
            setattr_(node, "size", size)
            setattr_(node, "depth", depth + 1)  # set last: __setattr__ then refuses changes
            ref = _Ref(node, _forget)
            ref.key = full_key
            _interned[full_key] = ref
            return node

    # Interned, so equality is identity: object's own hash and comparisons (C slots; a
    # Python-level __hash__ made every dict or set operation on formulas, and on tuples
    # holding them, cost ~0.2 us more).
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __ne__ = object.__ne__

    def __reduce__(self):
        return (type(self), self._key)

    def __setattr__(self, name, value):
        if hasattr(self, "depth"):
            raise AttributeError("formulas are immutable")
        object.__setattr__(self, name, value)

    @property
    def children(self) -> tuple[Formula, ...]:
        return ()

    def __repr__(self) -> str:
        if self.size > 2_000:  # a shared DAG can have an astronomically large tree
            return f"<{type(self).__name__} of {self.size} nodes>"
        try:
            return f"<{type(self).__name__} {to_text(self)}>"
        except KeyError:  # a node kind the PXL printer does not know (an overlay's)
            return f"<{type(self).__name__} of {self.size} nodes>"


class Atom(Formula):
    __slots__ = ()
    kind = "atom"

    def __new__(cls, name: str):
        if type(name) is str:  # a live atom of this name: no need to check the name again
            ref = _interned.get(("atom", name))
            node = None if ref is None else ref()
            if node is not None:
                return node
        if not isinstance(name, str) or not ATOM_RE.match(name) or name in KEYWORDS:
            raise ValueError(f"invalid atom name {name!r}")
        return cls._make((name,), ())

    @property
    def name(self) -> str:
        return self._key[0]


class Const(Formula):
    __slots__ = ()
    kind = "const"

    def __new__(cls, value: bool):
        if not isinstance(value, bool):
            raise ValueError(f"constant must be a bool, not {value!r}")
        return cls._make((value,), ())

    @property
    def value(self) -> bool:
        return self._key[0]


class UnaryNode(Formula):
    __slots__ = ()

    def __new__(cls, arg: Formula):
        # A live node with this key has ``arg`` itself as its child (ids of live objects are
        # unique), so a hit needs no type check.
        full_key = (cls.kind, id(arg))
        ref = _interned.get(full_key)
        node = None if ref is None else ref()
        if node is not None:
            return node
        if not isinstance(arg, Formula):
            raise TypeError(f"{cls.kind} takes a formula, not {type(arg).__name__}")
        return cls._make((arg,), (arg,), full_key)

    @property
    def arg(self) -> Formula:
        return self._key[0]

    @property
    def children(self) -> tuple[Formula, ...]:
        return self._key


class Not(UnaryNode):
    __slots__ = ()
    kind = "not"


class Box(UnaryNode):
    __slots__ = ()
    kind = "box"


class Dia(UnaryNode):
    __slots__ = ()
    kind = "dia"


class NaryNode(Formula):
    __slots__ = ()

    def __new__(cls, args):
        args = tuple(args)
        full_key = (cls.kind, *map(id, args))
        ref = _interned.get(full_key)
        node = None if ref is None else ref()
        if node is not None:  # its children are these very objects (see UnaryNode)
            return node
        if len(args) < 2:
            raise ValueError(f"{cls.kind} takes at least two formulas")
        for a in args:
            if not isinstance(a, Formula):
                raise TypeError(f"{cls.kind} takes formulas, not {type(a).__name__}")
        return cls._make(args, args, full_key)

    @property
    def args(self) -> tuple[Formula, ...]:
        return self._key

    @property
    def children(self) -> tuple[Formula, ...]:
        return self._key


class And(NaryNode):
    __slots__ = ()
    kind = "and"


class Or(NaryNode):
    __slots__ = ()
    kind = "or"


class BinaryNode(Formula):
    __slots__ = ()

    def __new__(cls, left: Formula, right: Formula):
        full_key = (cls.kind, id(left), id(right))
        ref = _interned.get(full_key)
        node = None if ref is None else ref()
        if node is not None:  # its children are these very objects (see UnaryNode)
            return node
        if not isinstance(left, Formula) or not isinstance(right, Formula):
            raise TypeError(f"{cls.kind} takes two formulas")
        return cls._make((left, right), (left, right), full_key)

    @property
    def left(self) -> Formula:
        return self._key[0]

    @property
    def right(self) -> Formula:
        return self._key[1]

    @property
    def children(self) -> tuple[Formula, ...]:
        return self._key


class Implies(BinaryNode):
    __slots__ = ()
    kind = "implies"


class Iff(BinaryNode):
    __slots__ = ()
    kind = "iff"


TRUE = Const(True)
FALSE = Const(False)

KINDS: dict[str, type[Formula]] = {
    c.kind: c for c in (Atom, Const, Not, And, Or, Implies, Iff, Box, Dia)
}


def postorder(root: Formula) -> Iterator[Formula]:
    """Each distinct subformula once, children before parents (no recursion)."""
    seen: set[int] = set()
    stack: list[tuple[Formula, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            yield node
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for child in reversed(node.children):
            if id(child) not in seen:
                stack.append((child, False))


def atoms(root: Formula) -> list[str]:
    """Atom names of a formula, sorted."""
    return sorted({n.name for n in postorder(root) if isinstance(n, Atom)})

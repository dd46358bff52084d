"""The canonical one-world S5 -> SAT encoding (format ``pxl-s5-enc/1``).

S5 models are (w.l.o.g.) a single cluster with the universal relation, so a
modal subformula has the same truth value at every world.  The encoding
describes ONE world: atoms and connective nodes are world-local variables,
box variables are the world-independent ("global") truth values of the
distinct boxed subformulas.  The search solves it once per world it builds;
certificates are proofs over exactly these clauses.  The certificate checker
re-derives them with its own independent encoder (certificate.py), so the
numbering below is part of the documented format (docs/certificates.md):

* variable 1 is TRUE (unit clause ``[1]``); ``false`` is literal -1;
* nodes are visited in ``syntax.postorder`` order (children before parents,
  left to right, each distinct subformula once) and get literals:
  atom -> next fresh variable; const -> +-1; not -> negated child literal;
  and / or / implies / iff -> next fresh variable with its Tseitin
  definition; ``box a`` -> the box variable keyed by the literal of ``a``
  (fresh on first use); ``dia a`` -> the negated box variable keyed by the
  negated literal of ``a`` (so ``<>a`` is ``~[]~a`` and shares its variable);
* each box variable ``B`` with argument literal ``l`` contributes the
  reflexivity clause ``[-B, l]`` (axiom T; sound at every world because B is
  global).

A variable is *global* when its value cannot differ between worlds: TRUE, box
variables, and connective nodes whose children all have global literals
(every atom occurrence under a modality).
"""

from __future__ import annotations

from collections.abc import Callable

from workers.prover.syntax import (
    And,
    Atom,
    Box,
    Const,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    postorder,
)

FORMAT = "pxl-s5-enc/1"


class Encoding:
    """The clauses and their numbering.  (A plain class: ``dataclasses`` imports ``inspect``,
    which costs a one-shot ``pxl prove`` several milliseconds of start-up.)"""

    __slots__ = ("root", "nvars", "clauses", "atom_vars", "box_arg", "boxes", "global_vars",
                 "definitions")

    def __init__(
        self,
        root: int,  # literal of the whole formula
        nvars: int,
        clauses: list[list[int]],  # definitions, the TRUE unit and reflexivity clauses
        atom_vars: dict[str, int],  # atom name -> variable
        box_arg: dict[int, int] | None = None,  # box variable -> argument literal
        boxes: list[int] | None = None,  # box variables in creation order
        global_vars: set[int] | None = None,  # world-independent variables
        # variable -> (node kind, its children's literals or the atom name): the definition
        # table an exported Coq proof carries (workers/prover/coq.py)
        definitions: dict[int, tuple[str, tuple[int, ...] | str]] | None = None,
    ) -> None:
        self.root = root
        self.nvars = nvars
        self.clauses = clauses
        self.atom_vars = atom_vars
        self.box_arg = {} if box_arg is None else box_arg
        self.boxes = [] if boxes is None else boxes
        self.global_vars = set() if global_vars is None else global_vars
        self.definitions = {} if definitions is None else definitions


def encode(formula: Formula, poll: Callable[[], None] | None = None) -> Encoding:
    """The encoding of ``formula``; ``poll`` (if given) is called every 1,024 nodes and may
    raise to stop (the largest inputs take a noticeable time to encode)."""
    # Nodes by id (the formula keeps them alive) and dispatched on their kind: the same
    # numbering as isinstance tests on formula-keyed tables, at about half the cost.
    lit: dict[int, int] = {}
    box_of_arg: dict[int, int] = {}
    box_arg: dict[int, int] = {}
    boxes: list[int] = []
    atom_vars: dict[str, int] = {}
    definitions: dict[int, tuple[str, tuple[int, ...] | str]] = {}
    clauses: list[list[int]] = [[1]]
    global_vars: set[int] = {1}
    nvars = 1

    def box_var(arg_lit: int) -> int:
        nonlocal nvars
        b = box_of_arg.get(arg_lit)
        if b is None:
            nvars += 1
            b = nvars
            box_of_arg[arg_lit] = b
            box_arg[b] = arg_lit
            boxes.append(b)
            global_vars.add(b)
            definitions[b] = ("box", (arg_lit,))
            clauses.append([-b, arg_lit])
        return b

    for count, node in enumerate(postorder(formula)):
        if poll is not None and count % 1024 == 0:
            poll()
        kind = node.kind
        if kind == "atom" and type(node) is Atom:
            nvars += 1
            lit[id(node)] = nvars
            atom_vars[node.name] = nvars
            definitions[nvars] = ("atom", node.name)
        elif kind == "const" and type(node) is Const:
            lit[id(node)] = 1 if node.value else -1
        elif kind == "not" and type(node) is Not:
            lit[id(node)] = -lit[id(node.arg)]
        elif kind == "box" and type(node) is Box:
            lit[id(node)] = box_var(lit[id(node.arg)])
        elif kind == "dia" and type(node) is Dia:
            lit[id(node)] = -box_var(-lit[id(node.arg)])
        else:
            nvars += 1
            x = nvars
            lit[id(node)] = x
            args = [lit[id(c)] for c in node.children]
            if all(abs(a) in global_vars for a in args):
                global_vars.add(x)
            definitions[x] = (kind, tuple(args))
            if kind == "and" and type(node) is And:
                clauses.extend([-x, a] for a in args)
                clauses.append([x, *(-a for a in args)])
            elif kind == "or" and type(node) is Or:
                clauses.extend([x, -a] for a in args)
                clauses.append([-x, *args])
            elif kind == "implies" and type(node) is Implies:
                a, b = args
                clauses += [[x, a], [x, -b], [-x, -a, b]]
            elif kind == "iff" and type(node) is Iff:
                a, b = args
                clauses += [[-x, -a, b], [-x, a, -b], [x, a, b], [x, -a, -b]]
            else:  # not PXL (e.g. a chrono node): prove() answers InputError
                raise TypeError(f"unknown formula node {type(node).__name__}")
    return Encoding(
        lit[id(formula)], nvars, clauses, atom_vars, box_arg, boxes, global_vars, definitions
    )

"""The stepwise self-check of normalize: each rewriting step proved on its own.

``normalize`` computes the normal form bottom-up; every step claims
``lit(n, s) <-> r`` (``lit(n, +) = n``, ``lit(n, -) = ~n``) for a node ``n``, a
polarity ``s`` and its result ``r``, from the claims of the sub-requests it used
(``lit(n_i, s_i) <-> r_i``).  For each step the prover decides the obligation

    /\\_i [](L_i <-> R_i)  ->  (L <-> R)

where, after the S5 collapse projection, each child ``n_i`` of ``n`` is replaced by
a fresh atom ``A_i`` (so ``L`` is ``n``'s own operator over the ``A_i``) and the
results ``R_i``, ``R`` keep their top three levels while deeper subformulas become
atoms (one atom per distinct subformula).  Why this proves input <-> output:

* The obligation is a substitution instance-in-reverse: replacing the fresh atoms by
  what they stand for gives the concrete obligation, and uniform substitution
  preserves S5 validity, so a valid abstract obligation means a valid concrete one.
* By induction over the steps (children first), each ``lit(n_i, s_i) <-> r_i`` is
  valid, so by necessitation each hypothesis ``[](…)`` is valid, and then the
  step's claim is valid.  The last step is ``input <-> output``.
* Steps that rewrite nothing (the same operator over the children's results) hold
  by congruence and are checked syntactically, without the prover.
* Atoms are renamed canonically (v0, v1, …) before proving; a one-to-one renaming
  preserves validity, so an obligation already proved is not proved again.

Abstraction can only make an obligation harder (never wrongly valid); a step the
prover does not confirm makes the whole check fail: normalize then reports an
error instead of an answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from workers.overlays.chrono.printer import short_text
from workers.overlays.chrono.syntax import CPX_KINDS, INDEXED_KINDS
from workers.overlays.chrono.transform import ProjectionCache
from workers.overlays.chrono.transform import cpx_to_pxl as project
from workers.prover import search
from workers.prover.syntax import (
    TRUE,
    And,
    Atom,
    Box,
    Dia,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    atoms,
)

KEEP_LEVELS = 3  # levels of each result kept concrete (the rules look two levels down)
_UNARY = {"not": Not, "box": Box, "dia": Dia}


def rebuild(node: Formula, children: list[Formula]) -> Formula:
    """``node``'s operator (and index) over ``children``."""
    kind = node.kind
    if kind in _UNARY:
        return _UNARY[kind](children[0])
    if kind in ("and", "or"):
        return (And if kind == "and" else Or)(children)
    if kind in ("implies", "iff"):
        return (Implies if kind == "implies" else Iff)(*children)
    cls = CPX_KINDS[kind]
    if kind in INDEXED_KINDS:
        return cls(node.index, children[0])
    return cls(*children)


def _lit(f: Formula, positive: bool) -> Formula:
    return f if positive else Not(f)


def _is_congruence(node: Formula, positive: bool, result: Formula, subs: list) -> bool:
    """The step rewrote nothing: the same operator over the children's results."""
    children = node.children
    if not children:
        return node.kind == "atom" and result is _lit(node, positive)
    if len(subs) != len(children) or not all(s[1] for s in subs):
        return False
    if any(s[0] is not c for s, c in zip(subs, children, strict=True)):
        return False
    same = rebuild(node, [s[2] for s in subs])
    return result is same if positive else (node.kind != "not" and result is Not(same))


class _Abstraction:
    """Replaces chosen subformulas by atoms, consistently (one atom per subformula)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.atoms: dict[int, Atom] = {}
        self.keep: list[Formula] = []  # keeps abstracted nodes alive (ids stay unique)

    def choose(self, roots: list[Formula]) -> None:
        """Abstract the nodes KEEP_LEVELS below any root that are not shallower elsewhere."""
        shallow: set[int] = set()
        frontier: list[Formula] = []
        level = list(roots)
        for _ in range(KEEP_LEVELS):
            nxt = []
            for f in level:
                if id(f) not in shallow:
                    shallow.add(id(f))
                    nxt.extend(f.children)
            level = nxt
        frontier = level
        for f in frontier:
            if id(f) not in shallow and id(f) not in self.atoms:
                self.atoms[id(f)] = Atom(f"{self.prefix}d{len(self.atoms)}")
                self.keep.append(f)

    def apply(self, f: Formula) -> Formula:
        done: dict[int, Formula] = {}
        stack: list[tuple[Formula, bool]] = [(f, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if id(node) in self.atoms:
                done[id(node)] = self.atoms[id(node)]
                continue
            if not node.children:
                done[id(node)] = node
                continue
            if not expanded:
                stack.append((node, True))
                stack.extend((c, False) for c in node.children if id(c) not in done)
                continue
            kids = [done[id(c)] for c in node.children]
            if all(k is c for k, c in zip(kids, node.children, strict=True)):
                done[id(node)] = node
            else:
                done[id(node)] = rebuild(node, kids)
        return done[id(f)]


def obligation(step: tuple, prefix: str, cache: ProjectionCache | None = None) -> Formula:
    """The PXL formula whose validity confirms one step (see the module docstring).

    ``cache`` is a projection cache shared across the steps of one check.
    """
    node, positive, result, subs = step

    def cpx_to_pxl(f: Formula) -> Formula:
        return project(f, cache=cache)

    child_atoms: dict[int, Atom] = {}
    for i, child in enumerate(node.children):
        child_atoms.setdefault(id(child), Atom(f"{prefix}c{i}"))
    abstraction = _Abstraction(prefix)
    # The step's own result is a root too: a subformula it shows shallowly must stay
    # concrete everywhere, or the obligation loses the link (e.g. []p in both sides).
    roots = [cpx_to_pxl(result)] + [cpx_to_pxl(s[2]) for s in subs] + [
        cpx_to_pxl(s[0]) for s in subs if id(s[0]) not in child_atoms
    ]
    abstraction.choose(roots)
    hypotheses = []
    for sub_node, sub_positive, sub_result in subs:
        if id(sub_node) in child_atoms:
            left = child_atoms[id(sub_node)]
        else:
            left = abstraction.apply(cpx_to_pxl(sub_node))
        right = abstraction.apply(cpx_to_pxl(sub_result))
        hypotheses.append(Box(Iff(_lit(left, sub_positive), right)))
    own = cpx_to_pxl(rebuild(node, [child_atoms[id(c)] for c in node.children])
                     if node.children else node)
    conclusion = Iff(_lit(own, positive), abstraction.apply(cpx_to_pxl(result)))
    if not hypotheses:
        return conclusion
    premise = hypotheses[0] if len(hypotheses) == 1 else And(hypotheses)
    return Implies(premise, conclusion) if premise is not TRUE else conclusion


def canonical(f: Formula) -> Formula:
    """``f`` with its atoms renamed v0, v1, … in order of first occurrence.

    Renaming atoms one-to-one preserves S5 validity, so steps that differ only in
    their atoms (and in the times and agents the projection drops) share one
    obligation, and the prover is asked once.
    """
    names: dict[int, Atom] = {}
    keep: list[Formula] = []
    seen: set[int] = set()
    stack = [f]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.kind == "atom":
            names[id(node)] = Atom(f"v{len(names)}")
            keep.append(node)
        stack.extend(reversed(node.children))
    renaming = _Abstraction("")
    renaming.atoms, renaming.keep = names, keep
    return renaming.apply(f)


def _fresh_prefix(steps: list) -> str:
    used: set[str] = set()
    for step in steps[-1:]:  # the root step's node and result hold every atom
        used.update(atoms(step[0]))
        used.update(atoms(step[2]))
    prefix = "_sc_"
    while any(name.startswith(prefix) for name in used):
        prefix = "_" + prefix
    return prefix


def check_steps(
    steps: list,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Prove every rewriting step; ``verdict`` valid only when all are confirmed."""
    start = time.monotonic()
    deadline = start + timeout
    prefix = _fresh_prefix(steps) if steps else "_sc_"
    calls = congruences = reused = 0
    confirmed: dict[Formula, bool] = {}  # canonical obligations already proved valid
    cache = ProjectionCache()
    for step in steps:
        node, positive, result, subs = step
        if _is_congruence(node, positive, result, subs):
            congruences += 1
            continue
        claim = canonical(obligation(step, prefix, cache))
        if claim in confirmed:
            reused += 1
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            return {"verdict": "unknown", "szs_status": "Timeout", "detail": "out of time",
                    "steps_checked": calls}
        proof = search.prove(claim, timeout=left, should_stop=should_stop, certificate=False)
        calls += 1
        confirmed[claim] = True
        if proof.verdict != "valid":
            what = "refuted" if proof.verdict == "invalid" else f"undecided ({proof.szs_status})"
            return {
                "verdict": proof.verdict,
                "szs_status": proof.szs_status,
                "detail": f"the step {'' if positive else '~'}{short_text(node)} ⇒ "
                          f"{short_text(result)} is {what}",
                "proof": proof.to_document(),
                "steps_checked": calls,
            }
    return {
        "verdict": "valid",
        "szs_status": "Theorem",
        "detail": "every step confirmed",
        "steps_checked": calls + congruences + reused,
        "prover_calls": calls,
        "congruence_steps": congruences,
        "same_shape_steps": reused,
        "elapsed_ms": round((time.monotonic() - start) * 1000, 3),
    }

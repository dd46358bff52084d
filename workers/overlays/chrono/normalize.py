"""normalize: rewrite a CPX formula into an S5-equivalent normal form, checked by the prover.

Equivalence is judged through the S5 collapse projection (a CPX formula means
what ``cpx_to_pxl`` of it means), and every rule below is an S5 equivalence of
the images, so the output is equivalent to the input.  The rules:

* **Negation normal form** through the dualities: ``~~φ ⇒ φ``; De Morgan;
  ``φ -> ψ ⇒ ~φ | ψ``; ``~(φ <-> ψ) ⇒ φ <-> ~ψ`` (``<->`` is kept, expanding it
  would double the size per level); ``~[]φ ⇒ <>~φ``, ``~<>φ ⇒ []~φ`` and the CPX
  duals ``~Always(φ) ⇒ Eventually(~φ)``, ``~Eventually(φ) ⇒ Always(~φ)``;
  ``~true ⇒ false``.  A CPX operator with no dual in CPX (At, Project, Next,
  Prev, Knows, Believes, Intends, Until, Since) keeps a negation in front.
* **Time-mode cancellation** (the projection's): ``Eternal(φ) ⇒ φ`` (the
  atemporal mode is the identity), and an outer time, agent or modal operator
  over a formula whose truth no longer depends on the world is dropped — see the
  next rule: ``At(1, At(2, p)) ⇒ At(2, p)`` (the inner time decides).
* **S5 collapse**: a modality (``[]``, ``<>`` or any CPX operator the projection
  maps to one) applied to a modal literal (a modality, its negation, or a
  constant) is dropped: ``[][]φ ⇒ []φ``, ``<><>φ ⇒ <>φ``, ``[]<>φ ⇒ <>φ``,
  ``<>[]φ ⇒ []φ`` and their CPX generalisations.
* **Distribution**: box-like over ``&``, diamond-like over ``|``
  (``[](φ & ψ) ⇒ []φ & []ψ``, ``Eventually(φ | ψ) ⇒ Eventually(φ) | Eventually(ψ)``).
* **Flattening** of nested ``&``/``|`` chains (associativity).

One trace line per rewrite (shared subformulas are rewritten once).  The
result is a fixpoint (normalize is idempotent).  ``normalize_checked`` then
asks the prover whether input ↔ output is S5-valid and refuses to answer
otherwise.  The rewriting runs on an explicit stack (generator trampoline), so
no formula within the limits can exhaust the Python stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from workers.overlays.chrono.printer import short_text
from workers.overlays.chrono.selfcheck import check_steps
from workers.overlays.chrono.syntax import (
    BOX_LIKE,
    CPX_KINDS,
    DIA_LIKE,
    INDEXED_KINDS,
    Always,
    Eventually,
)
from workers.overlays.chrono.transform import cpx_to_pxl, short
from workers.prover import search
from workers.prover.errors import TOO_MANY_NODES, FormulaError
from workers.prover.limits import MAX_NODES
from workers.prover.syntax import (
    FALSE,
    TRUE,
    And,
    Box,
    Dia,
    Formula,
    Iff,
    Not,
    Or,
)

MAX_TRACE_LINES = 500  # further rewrites are counted, not listed
# The self-check's first try, the prover on the whole biconditional, gets at most this long;
# past it the stepwise check (linear in the formula) takes over.
WHOLE_CHECK_SECONDS = 2.0
MODAL = BOX_LIKE | DIA_LIKE
# Duals available inside CPX: negation passes through these, turning one into the other.
_DUALS = {"box": Dia, "dia": Box, "always": Eventually, "eventually": Always}


class NormalizeError(Exception):
    """The self-check did not confirm the normal form.

    ``refuted``: the prover found input <-> output (or a step) invalid — a bug in a rule,
    never expected.  Otherwise it ran out of time or was stopped (``szs_status`` Timeout,
    User, GaveUp, MemoryOut): the answer is unknown, not wrong.
    """

    def __init__(self, message: str, *, proof: dict | None = None, refuted: bool,
                 szs_status: str) -> None:
        super().__init__(message)
        self.message = message
        self.proof = proof
        self.refuted = refuted
        self.szs_status = szs_status


@dataclass
class Rewriter:
    trace: list[str] = field(default_factory=list)
    rewrites: int = 0
    steps: list[tuple] = field(default_factory=list)
    # (id, polarity) -> (node, normal form); the node is kept so that its id stays unique.
    memo: dict[tuple[int, bool], tuple[Formula, Formula]] = field(default_factory=dict)

    def remember(self, key: tuple[int, bool], node: Formula, result: Formula) -> None:
        self.memo[key] = (node, result)
        # A normal form is its own normal form (idempotence).
        self.memo.setdefault((id(result), True), (result, result))

    def note(self, rule: str, before: Formula | str, after: Formula) -> None:
        self.rewrites += 1
        if len(self.trace) < MAX_TRACE_LINES:
            text = short(before) if isinstance(before, str) else short_text(before)
            self.trace.append(f"{rule}: {text} ⇒ {short_text(after)}")

    # -- helpers building normal nodes -----------------------------------------

    def flat(self, kind: str, args: list[Formula]) -> Formula:
        cls = And if kind == "and" else Or
        out: list[Formula] = []
        nested = False
        for a in args:
            if a.kind == kind:
                out.extend(a.args)
                nested = True
            else:
                out.append(a)
        node = out[0] if len(out) == 1 else cls(out)
        if nested:
            self.note("flatten (associativity)", cls(args), node)
        return node

    def modal(self, proto: Formula, arg: Formula) -> Formula:
        """``proto``'s operator applied to the normal formula ``arg``, collapsed/distributed."""
        kind = proto.kind
        if _world_independent(arg):
            rebuilt = _rebuild(proto, arg)
            self.note("S5 collapse (outer modality over a modal literal dropped)", rebuilt, arg)
            return arg
        over = "and" if kind in BOX_LIKE else "or"
        if arg.kind == over:
            parts = [self.modal(proto, a) for a in arg.args]
            node = self.flat(over, parts)
            self.note(
                f"distribute {'box-like over &' if over == 'and' else 'diamond-like over |'}",
                _rebuild(proto, arg),
                node,
            )
            return node
        return _rebuild(proto, arg)

    # -- the normal form, by polarity ----------------------------------------

    def nf(self, node: Formula, positive: bool):
        """Generator: yields (subformula, polarity) requests, returns the normal form."""
        kind = node.kind
        if kind == "atom":
            return node if positive else Not(node)
        if kind == "const":
            if positive:
                return node
            out = FALSE if node.value else TRUE
            self.note("negate constant", Not(node), out)
            return out
        if kind == "not":
            if positive:
                return (yield (node.arg, False))
            inner = yield (node.arg, True)
            self.note("double negation", Not(node), inner)
            return inner
        if kind in ("and", "or"):
            parts = []
            for a in node.args:
                parts.append((yield (a, positive)))
            if positive:
                return self.flat(kind, parts)
            out = self.flat("or" if kind == "and" else "and", parts)
            self.note("push ~ inward (De Morgan)", Not(node), out)
            return out
        if kind == "implies":
            left = yield (node.left, not positive)
            right = yield (node.right, positive)
            if positive:
                out = self.flat("or", [left, right])
                self.note("eliminate -> (φ -> ψ ⇒ ~φ | ψ)", node, out)
            else:
                out = self.flat("and", [left, right])
                self.note("push ~ inward (~(φ -> ψ) ⇒ φ & ~ψ)", Not(node), out)
            return out
        if kind == "iff":
            left = yield (node.left, True)
            right = yield (node.right, positive)
            out = Iff(left, right)
            if not positive:
                self.note("push ~ inward (~(φ <-> ψ) ⇒ φ <-> ~ψ)", Not(node), out)
            return out
        if kind == "eternal":
            out = yield (node.arg, positive)
            self.note("time-mode cancellation (Eternal is the identity)",
                      node if positive else Not(node), out)
            return out
        if kind in _DUALS:
            arg = yield (node.arg, positive)
            if positive:
                return self.modal(node, arg)
            out = self.modal(_DUALS[kind](node.arg), arg)
            self.note("push ~ inward (duality)", Not(node), out)
            return out
        if kind in MODAL:  # a CPX modality without a dual in CPX
            arg = yield (node.arg, True)
            out = self.modal(node, arg)
            if positive:
                return out
            if out.kind == kind:
                return Not(out)
            # The operator collapsed or distributed: negate what it became.
            negated = yield (out, False)
            self.note("push ~ inward (through the collapsed operator)", Not(node), negated)
            return negated
        if kind in ("until", "since"):
            left = yield (node.left, True)
            right = yield (node.right, True)
            out = CPX_KINDS[kind](left, right)
            return out if positive else Not(out)
        raise ValueError(f"normalize: unknown formula kind {kind!r}")  # pragma: no cover

    def run(self, root: Formula) -> Formula:
        """The normal form of ``root``: ``nf`` driven on an explicit stack (a trampoline).

        Every rewriting step is recorded in ``steps`` as (node, polarity, result,
        [(sub-node, polarity, sub-result), …]) for the stepwise self-check.
        """
        memo = self.memo
        # Frames: [generator, memo key, node, polarity, sub-results, last request].
        stack: list[list] = []
        result: Formula | None = None
        request: tuple[Formula, bool] | None = (root, True)
        while True:
            if request is not None:
                key = (id(request[0]), request[1])
                cached = memo.get(key)
                if cached is not None:
                    result = cached[1]
                else:
                    stack.append([self.nf(*request), key, request[0], request[1], [], None])
                    result = None
                request = None
            if not stack:
                return result
            frame = stack[-1]
            if frame[5] is not None:
                frame[4].append((*frame[5], result))
            try:
                request = frame[0].send(result)
                frame[5] = request
            except StopIteration as stop:
                stack.pop()
                result = stop.value
                self.remember(frame[1], frame[2], result)
                self.steps.append((frame[2], frame[3], result, frame[4]))


def _rebuild(proto: Formula, arg: Formula) -> Formula:
    cls = type(proto)
    if proto.kind in INDEXED_KINDS:
        return cls(proto.index, arg)
    return cls(arg)


def _world_independent(f: Formula) -> bool:
    """A modal literal: its projection has one truth value across an S5 cluster."""
    if f.kind == "not":
        f = f.arg
    return f.kind == "const" or f.kind in MODAL


@dataclass
class NormalizeResult:
    formula: Formula
    trace: list[str]
    rewrites: int
    check: dict | None = None  # how the self-check confirmed input <-> output
    steps: list[tuple] = field(default_factory=list, repr=False)


def normalize(f: Formula) -> NormalizeResult:
    """The normal form of ``f`` with one trace line per rewrite (not yet prover-checked)."""
    rw = Rewriter()
    out = rw.run(f)
    if out.size > MAX_NODES:
        raise FormulaError(
            f"the normal form would have {out.size} nodes, over the limit of {MAX_NODES} "
            "(MAX_NODES)", code=TOO_MANY_NODES,
        )
    trace = list(rw.trace)
    if rw.rewrites > len(trace):
        trace.append(f"… {rw.rewrites - len(trace)} more rewrites not listed")
    if not rw.rewrites:
        trace.append("already in normal form")
    return NormalizeResult(out, trace, rw.rewrites, steps=rw.steps)


def normalize_checked(
    f: Formula,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> NormalizeResult:
    """``normalize``, then the self-check: the prover must confirm input ↔ output.

    Equivalence is of the S5 collapse projections.  First the prover decides
    ``input <-> output`` directly, with a quarter of the time (at most
    WHOLE_CHECK_SECONDS); big formulas can make
    that one call slow, so if it runs out of time every rewriting step is checked on
    its own (workers/overlays/chrono/selfcheck.py), which together prove the same
    biconditional.  Raises ``NormalizeError`` unless one of the two confirms it: a
    refutation, a failed step or running out of time is an error, never an answer
    (``refuted`` tells a wrong rule from an undecided check).
    """
    start = time.monotonic()
    res = normalize(f)
    claim = Iff(cpx_to_pxl(f), cpx_to_pxl(res.formula))
    proof = search.prove(claim, timeout=max(0.05, min(timeout / 4, WHOLE_CHECK_SECONDS)),
                         should_stop=should_stop)
    doc = proof.to_document()
    if proof.verdict == "invalid":
        raise NormalizeError(
            "self-check failed: the prover refuted input <-> normal form", proof=doc,
            refuted=True, szs_status=proof.szs_status,
        )
    if proof.verdict == "valid":
        res.check = {"method": "whole", "verdict": "valid", "proof": doc}
        res.trace.append(
            f"self-check: the prover confirms input <-> normal form is S5-valid "
            f"({proof.szs_status}, {doc['elapsed_ms']} ms)"
        )
        return res
    left = timeout - (time.monotonic() - start)
    if should_stop is not None and should_stop():
        report = {"verdict": "unknown", "szs_status": "User", "detail": "stopped on request"}
    else:
        report = check_steps(res.steps, timeout=max(0.05, left), should_stop=should_stop)
    if report["verdict"] != "valid":
        raise NormalizeError(
            f"self-check failed: input <-> normal form is not confirmed ({doc['szs_status']} "
            f"on the whole formula; step check: {report['detail']})",
            proof=report.get("proof") or doc, refuted=report["verdict"] == "invalid",
            szs_status=report["szs_status"],
        )
    res.check = {"method": "stepwise", "verdict": "valid", "proof": None,
                 "whole_formula_attempt": doc["szs_status"], **report}
    res.trace.append(
        f"self-check: the whole biconditional timed out ({doc['szs_status']}); the prover "
        f"confirms each of the {report['steps_checked']} rewriting steps instead "
        f"({report['prover_calls']} calls, {report['elapsed_ms']} ms), so input <-> normal "
        "form is S5-valid"
    )
    return res

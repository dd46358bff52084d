"""v4 operations: read a domain-tagged object, translate it to PXL, guard it, adapt it.

Everything is driven by ``ADAPTER_TABLE`` (workers/overlays/v4/table.py): the
translation, the guard's obligations and the adapted object are the table's
templates filled with the object's fields, so ``X-V4-SHA`` identifies them.

Objects (formulas are PXL text or the PXL JSON form)::

    {"kind": "knowledge", "claim": φ}
    {"kind": "action", "pre": P, "action": "name", "post": Q, "effect": E?}
    {"kind": "value", "x": n, "y": m}

Bad objects raise ``FormulaError`` (code ``json`` with a JSON-pointer ``path``
such as ``/pre``; a text error inside a field keeps its line, column and caret).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from workers.overlays.v4.table import ADAPTER_TABLE, adapter_table_sha256
from workers.prover import search
from workers.prover.errors import JSON, FormulaError
from workers.prover.printer import to_text
from workers.prover.reader import read_formula
from workers.prover.syntax import (
    FALSE,
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

DOMAINS = tuple(ADAPTER_TABLE["domains"])
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_NAT = 2**63 - 1


@dataclass
class V4Object:
    domain: str
    slots: dict  # slot name -> Formula | int | str, as the table's templates use them
    effect_given: bool = False
    notes: list[str] = field(default_factory=list)


def _error(path: str, message: str) -> FormulaError:
    return FormulaError(message, code=JSON, path=path)


def _read_formula_field(obj: dict, name: str) -> Formula:
    if name not in obj:
        raise _error("", f"{obj.get('kind')} object needs {name!r}")
    try:
        return read_formula(obj[name])
    except FormulaError as exc:
        exc.path = f"/{name}{exc.path or ''}"
        exc.message = f"in {name!r}: {exc.message}"
        exc.args = (exc.message,)
        raise


def read_object(obj) -> V4Object:
    """Check and read a domain-tagged v4 object."""
    if isinstance(obj, V4Object):
        return obj
    if not isinstance(obj, dict):
        raise _error("", "a v4 object is a JSON object with a \"kind\"")
    domain = obj.get("kind")
    if domain not in DOMAINS:
        raise _error("/kind", f"kind must be one of {', '.join(DOMAINS)}, found {_shown(domain)}")
    spec = ADAPTER_TABLE["domains"][domain]
    fields = spec["fields"]
    extra = sorted(set(obj) - set(fields) - {"kind"})
    if extra:
        raise _error(f"/{extra[0]}", f"unexpected field {extra[0]!r} in a {domain} object; "
                                     f"fields: {', '.join(fields)}")
    slots: dict = {}
    effect_given = False
    for name, typ in fields.items():
        optional = typ.endswith("?")
        typ = typ.rstrip("?")
        if name not in obj:
            if optional:
                continue
            raise _error(f"/{name}", f"a {domain} object needs {name!r}")
        if typ == "formula":
            slots[name] = _read_formula_field(obj, name)
            effect_given = effect_given or name == "effect"
        elif typ == "name":
            value = obj[name]
            if not isinstance(value, str) or not _NAME_RE.match(value):
                raise _error(f"/{name}", f"{name} must be a name matching [A-Za-z_][A-Za-z0-9_]*")
            slots[name] = value
        elif typ == "nat":
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_NAT:
                raise _error(f"/{name}", f"{name} must be a natural number, found {_shown(value)}")
            slots[name] = value
    v4 = V4Object(domain, slots, effect_given)
    if domain == "action" and not effect_given:
        slots["effect"] = _fresh_effect(spec["effect_default"]["fresh_atom"], slots)
        v4.notes.append(
            f"the action's effect on the precondition is the fresh atom {slots['effect'].name}"
        )
    return v4


def _fresh_effect(pattern: str, slots: dict) -> Atom:
    taken = set(atoms(slots["pre"])) | set(atoms(slots["post"]))
    base = pattern.format(action=slots["action"])
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return Atom(name)


_BUILD = {"not": Not, "box": Box, "dia": Dia}


def fill(template, slots: dict):
    """Instantiate a table template (recursion is over the small template only)."""
    if isinstance(template, str):
        if template.startswith("$"):
            return slots[template[1:]]
        return template
    if isinstance(template, dict):
        return {k: fill(v, slots) for k, v in template.items()}
    head, *args = template
    values = [fill(a, slots) for a in args]
    if head not in ("le", "and", "or", "implies", "iff", *_BUILD):
        raise ValueError(f"unknown template operator {head!r}")
    if head == "le":
        return TRUE if values[0] <= values[1] else FALSE
    if head in _BUILD:
        return _BUILD[head](values[0])
    if head in ("and", "or"):
        return (And if head == "and" else Or)(values)
    return (Implies if head == "implies" else Iff)(*values)


def translate(obj) -> dict:
    """The PXL translation of a v4 object, with its trace."""
    v4 = read_object(obj)
    spec = ADAPTER_TABLE["domains"][v4.domain]
    formula = fill(spec["translate"], v4.slots)
    trace = [f"adapter table {ADAPTER_TABLE['version']} (sha256 {adapter_table_sha256()[:12]}…)",
             f"domain {v4.domain} -> {spec['target']}", *v4.notes,
             f"translate: {_template_text(spec['translate'])} = {_short(to_text(formula))}"]
    return {"domain": v4.domain, "target": spec["target"], "formula": formula, "trace": trace,
            "object": v4}


def guard(
    obj,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """The conservativity guard: run the table's obligations for the object's domain.

    ``valid`` obligations must be S5-valid (else the countermodel says why);
    ``satisfiable`` ones must have a model (it is returned; unsatisfiable comes
    with the prover's certificate for the negation); ``monotone`` checks the
    value map on the given pairs.  Verdict ``accepted`` when every obligation
    holds, ``rejected`` when one fails, ``unknown`` when the prover ran out of time.
    """
    tr = translate(obj)
    v4: V4Object = tr["object"]
    spec = ADAPTER_TABLE["domains"][v4.domain]
    slots = {**v4.slots, "translation": tr["formula"]}
    deadline = time.monotonic() + timeout
    checks = []
    trace = list(tr["trace"])
    for ob in spec["guard"]:
        if ob.get("when") == "effect_given" and not v4.effect_given:
            trace.append(f"{ob['name']}: not asked (no effect formula given; with a fresh atom "
                         "for the effect the triple holds only when pre is impossible or post "
                         "is valid)")
            continue
        entry: dict = {"name": ob["name"], "check": ob["check"]}
        if ob["check"] == "monotone":
            pairs = [[fill(a, slots) for a in pair] for pair in ob["pairs"]]
            entry.update(_monotone(pairs, spec["value_map"]))
            trace.append(f"{ob['name']}: value map {spec.get('value_map')} "
                         f"{'is' if entry['holds'] else 'is NOT'} monotone on {entry['pairs']}")
        else:
            formula = fill(ob["formula"], slots)
            target = formula if ob["check"] == "valid" else Not(formula)
            left = max(0.05, deadline - time.monotonic())
            proof = search.prove(target, timeout=left, should_stop=should_stop)
            doc = proof.to_document()
            if proof.verdict == "unknown":
                holds = None
            elif ob["check"] == "valid":
                holds = proof.verdict == "valid"
            else:  # satisfiable iff its negation is not valid
                holds = proof.verdict == "invalid"
            entry.update(formula=to_text(formula), holds=holds, proof=doc)
            word = {True: "holds", False: "FAILS", None: "undecided"}[holds]
            what = "S5-valid" if ob["check"] == "valid" else "satisfiable"
            trace.append(f"{ob['name']}: {_short(to_text(formula))} is {what}? {word} "
                         f"({proof.szs_status})")
            if ob["check"] == "valid" and holds is False:
                trace.append(f"{ob['name']}: the countermodel shows a world where it fails")
            if ob["check"] == "satisfiable" and holds is False:
                trace.append(f"{ob['name']}: no model; the certificate proves its negation")
        checks.append(entry)
    results = [c["holds"] for c in checks]
    verdict = ("rejected" if False in results else "unknown" if None in results else "accepted")
    trace.append(f"guard verdict: {verdict}")
    return {"domain": v4.domain, "target": spec["target"], "formula": tr["formula"],
            "verdict": verdict, "checks": checks, "trace": trace, "object": v4}


# The value maps a table may name (V4 value -> Axiopraxis value).
VALUE_MAPS: dict[str, Callable[[int], int]] = {"identity": lambda v: v}


def _monotone(pairs: list, value_map: str) -> dict:
    """x <= y must imply map(x) <= map(y) on every given pair."""
    m = VALUE_MAPS[value_map]
    bad = [[x, y] for x, y in pairs if x <= y and not m(x) <= m(y)]
    return {"pairs": pairs, "holds": not bad, "violations": bad}


def adapt(
    obj,
    *,
    timeout: float = 30.0,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """The target-side (IEL) object with the guard's verdict."""
    g = guard(obj, timeout=timeout, should_stop=should_stop)
    v4: V4Object = g["object"]
    spec = ADAPTER_TABLE["domains"][v4.domain]
    adapted = fill(spec["adapt"], v4.slots)
    trace = [*g["trace"], f"adapt to {spec['target']}: {_template_text(spec['adapt'])}"]
    return {**g, "adapted": adapted, "trace": trace}


def project_v4(obj) -> Formula:
    """What a proof job with ``overlay: "v4"`` proves: the object's translation."""
    return translate(obj)["formula"]


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _shown(value) -> str:
    """A bad input value in an error message, shortened (never a megabyte echoed back)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"  # repr() fails past 4,300 digits
    return _short(repr(value))


def _template_text(template) -> str:
    if isinstance(template, str):
        return template
    if isinstance(template, dict):
        return "{" + ", ".join(f"{k}: {_template_text(v)}" for k, v in template.items()) + "}"
    head, *args = template
    return f"{head}({', '.join(_template_text(a) for a in args)})"

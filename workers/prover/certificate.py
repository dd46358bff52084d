"""Certificates for valid S5 formulas (format ``pxl-s5-cert/1``) and their checker.

This module is the independent checker: it imports neither the search nor a
SAT solver.  It re-derives the one-world encoding (``pxl-s5-enc/1``) from the
formula with its own encoder, then replays the proof forward with its own
unit-propagation (two watched literals) RUP checker.  Format and soundness
argument: docs/certificates.md.

Proof object (canonical JSON, base64 in result documents)::

    {"format": "pxl-s5-cert/1", "encoding": "pxl-s5-enc/1", "kind": "lemmas",
     "steps": [step, ...]}

    ["a", l1, ..., lk]     add clause (l1 .. lk); it must be RUP w.r.t. the current clauses
    ["d", l1, ..., lk]     delete one copy of that clause (units are never deleted)
    ["n", B, h1, ..., hk]  necessitation: B is a box variable with argument literal a and
                           every hi is a literal of a global variable (box variable, TRUE,
                           or connective whose children are all global); the clause
                           (~h1 .. ~hk a) must be RUP; then the clause (B ~h1 .. ~hk) is added

    ["c", {"clause": [l1, ..], "rows": [[y, [lits]], ..], "cliques": [[y, [lits]], ..]}]
                           cutting-plane step: the clause follows from the current clauses
                           by an LP refutation of its negation with clique cuts and exact
                           rational Farkas multipliers y (see check_cut); then it is added

After the last step the unit clause (root literal) must be RUP: the formula
holds at every world of every S5 model.

Kind "worlds" (``"worlds": k``): the clause set is k copies of the encoding
(copy j renames every non-global variable v to v + j*nvars), one witness clause
(B ~a_0 .. ~a_{k-1}) per box variable, and the unit (~root); k must be at least
min(boxes over non-global arguments + 1, 2^atoms).  Only "a"/"d" steps; after
them the clause set must be refuted by unit propagation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING

from workers.prover.syntax import Formula, postorder
from workers.prover.wording import count

if TYPE_CHECKING:
    from fractions import Fraction

FORMAT = "pxl-s5-cert/2"  # hinted RUP steps (written by the prover)
FORMAT_V1 = "pxl-s5-cert/1"  # unhinted DRUP steps (still read)
FORMATS = (FORMAT_V1, FORMAT)
ENCODING = "pxl-s5-enc/1"
# Checker limits (a certificate is untrusted input): bytes of base64 and proof literals.
MAX_CERTIFICATE_BYTES = 64 * 1024 * 1024
MAX_CHECK_LITERALS = 4_000_000
MAX_WORLD_VARIABLES = 1_000_000  # k * nvars for kind "worlds"
MAX_MULTIPLIER_CHARS = 64  # a Farkas multiplier "p/q" (bounds the cost of exact arithmetic)
_MULTIPLIER = re.compile(r"[0-9]+(/[0-9]+)?")


class CertificateError(ValueError):
    """The certificate is malformed or does not prove the formula."""


def _encode(formula: Formula) -> tuple[int, int, list[list[int]], dict[int, int], set[int]]:
    """(root literal, number of variables, clauses, box variable -> argument literal,
    global variables).

    Independent re-implementation of encoding.py's documented numbering.
    """
    lits: dict[int, int] = {}  # id(node) -> literal
    boxes: dict[int, int] = {}  # argument literal -> box variable
    box_arg: dict[int, int] = {}
    clauses: list[list[int]] = [[1]]
    world_independent: set[int] = {1}
    top = 1
    for node in postorder(formula):
        kind = node.kind
        kids = [lits[id(c)] for c in node.children]
        if kind == "const":
            lits[id(node)] = 1 if node.value else -1
            continue
        if kind == "not":
            lits[id(node)] = -kids[0]
            continue
        if kind in ("box", "dia"):
            key = kids[0] if kind == "box" else -kids[0]
            if key not in boxes:
                top += 1
                boxes[key] = top
                box_arg[top] = key
                world_independent.add(top)
                clauses.append([-top, key])
            lits[id(node)] = boxes[key] if kind == "box" else -boxes[key]
            continue
        top += 1
        x = top
        lits[id(node)] = x
        if kind == "atom":
            continue
        if all(abs(k) in world_independent for k in kids):
            world_independent.add(x)
        if kind == "implies":
            kind, kids = "or", [-kids[0], kids[1]]
        if kind == "and":
            for k in kids:
                clauses.append([-x, k])
            clauses.append([x] + [-k for k in kids])
        elif kind == "or":
            for k in kids:
                clauses.append([x, -k])
            clauses.append([-x] + kids)
        elif kind == "iff":
            a, b = kids
            clauses.extend([[-x, -a, b], [-x, a, -b], [x, a, b], [x, -a, -b]])
        else:
            raise CertificateError(f"unknown formula node kind {kind!r}")
    return lits[id(formula)], top, clauses, box_arg, world_independent


class RupChecker:
    """Clause database with a fully propagated top-level trail; RUP checks by unit propagation."""

    def __init__(self, nvars: int) -> None:
        self.n = nvars
        self.value = bytearray(2 * nvars + 1)  # value[n + lit] == 1: lit is true
        # Watch lists are created on first use (most literals of big encodings have none).
        self.watches: list[list[int] | None] = [None] * (2 * nvars + 1)
        self.clauses: list[list[int] | None] = []
        self.index: dict[tuple[int, ...], list[int]] = {}
        self.trail: list[int] = []
        self.qhead = 0
        self.inconsistent = False
        # literal -> index of the clause that propagated it; only kept when a caller sets a dict
        # (the cutting-plane search traces which assumptions a refutation depends on).
        self.reasons: dict[int, int] | None = None
        self.conflict = -1  # index of the clause the last conflicting propagation falsified

    def _literals(self, lits: list[int]) -> list[int] | None:
        """Validated, de-duplicated literals; None for a tautology."""
        seen: set[int] = set()
        out: list[int] = []
        for lit in lits:
            if type(lit) is not int or lit == 0 or abs(lit) > self.n:
                raise CertificateError(f"literal {lit!r} is not a variable of the encoding")
            if -lit in seen:
                return None
            if lit not in seen:
                seen.add(lit)
                out.append(lit)
        return out

    def _assign(self, lit: int) -> None:
        self.value[self.n + lit] = 1
        self.trail.append(lit)

    def _propagate(self) -> bool:
        """Unit propagation from qhead; False on conflict."""
        n, value, watches, clauses, trail = self.n, self.value, self.watches, self.clauses, self.trail
        reasons = self.reasons
        qhead = self.qhead  # a local, stored back on the way out
        while qhead < len(trail):
            false_lit = -trail[qhead]
            qhead += 1
            ws = watches[n + false_lit]
            if not ws:
                continue
            i = j = 0
            size = len(ws)
            while i < size:
                ci = ws[i]
                i += 1
                c = clauses[ci]
                if c is None:  # deleted: drop the watch
                    continue
                if c[0] == false_lit:
                    c[0], c[1] = c[1], false_lit
                first = c[0]
                if value[n + first]:
                    ws[j] = ci
                    j += 1
                    continue
                for k in range(2, len(c)):
                    lk = c[k]
                    if not value[n - lk]:
                        c[1], c[k] = lk, false_lit
                        w = watches[n + lk]
                        if w is None:
                            watches[n + lk] = [ci]
                        else:
                            w.append(ci)
                        break
                else:
                    ws[j] = ci
                    j += 1
                    if value[n - first]:
                        del ws[j:i]  # keep the watches not visited yet
                        self.qhead = qhead
                        self.conflict = ci
                        return False
                    value[n + first] = 1
                    trail.append(first)
                    if reasons is not None:
                        reasons[first] = ci
            del ws[j:]
        self.qhead = qhead
        return True

    def add(self, lits: list[int]) -> None:
        """Add a clause at top level (its validity was established by the caller)."""
        if self.inconsistent:
            return
        c = self._literals(lits)
        if c is None:
            return
        n, value = self.n, self.value
        # Non-false literals first, so the watches are right for the current trail.
        c.sort(key=lambda lit: 1 if value[n - lit] else 0)
        if not c or value[n - c[0]]:
            self.inconsistent = True
            return
        if len(c) == 1 or value[n - c[1]]:
            if not value[n + c[0]]:
                self._assign(c[0])
                if not self._propagate():
                    self.inconsistent = True
            if len(c) == 1:
                return
        ci = len(self.clauses)
        self.clauses.append(c)
        for lit in (c[0], c[1]):
            w = self.watches[n + lit]
            if w is None:
                self.watches[n + lit] = [ci]
            else:
                w.append(ci)
        self.index.setdefault(tuple(sorted(c)), []).append(ci)

    def delete(self, lits: list[int]) -> None:
        c = self._literals(lits)
        if c is None or len(c) < 2:
            return
        ids = self.index.get(tuple(sorted(c)))
        if ids:
            self.clauses[ids.pop()] = None

    def assume(self, lits: list[int]) -> int | None:
        """Assert ``lits`` temporarily and propagate: the trail mark to ``undo`` to, or None
        (already undone) when propagation conflicts."""
        if self.inconsistent:
            return None
        n, value = self.n, self.value
        mark = len(self.trail)
        for lit in lits:
            if type(lit) is not int or lit == 0 or abs(lit) > n:
                raise CertificateError(f"literal {lit!r} is not a variable of the encoding")
            if value[n - lit]:
                self.undo(mark)
                return None
            if not value[n + lit]:
                self._assign(lit)
        if not self._propagate():
            self.undo(mark)
            return None
        return mark

    def undo(self, mark: int) -> None:
        value, n = self.value, self.n
        for lit in self.trail[mark:]:
            value[n + lit] = 0
        del self.trail[mark:]
        self.qhead = mark

    def is_rup(self, lits: list[int]) -> bool:
        if self.inconsistent:
            return True
        c = self._literals(lits)
        if c is None:
            return True
        n, value = self.n, self.value
        mark = len(self.trail)
        ok = False
        for lit in c:
            if value[n + lit]:
                ok = True
                break
            if not value[n - lit]:
                self._assign(-lit)
        if not ok:
            ok = not self._propagate()
        for lit in self.trail[mark:]:
            value[n + lit] = 0
        del self.trail[mark:]
        self.qhead = mark
        return ok


def _multiplier(raw: object, where: str) -> Fraction:
    """A non-negative rational: a JSON integer or a string of digits, optionally "/digits"."""
    from fractions import Fraction  # only cutting-plane steps need it: start-up of `pxl prove`

    if type(raw) is int:
        value = Fraction(raw)
    elif (
        isinstance(raw, str)
        and len(raw) <= MAX_MULTIPLIER_CHARS
        and _MULTIPLIER.fullmatch(raw)  # digits only: no exponents (1e-999999999) to expand
    ):
        try:
            value = Fraction(raw)
        except ZeroDivisionError:
            raise CertificateError(f"{where}: bad multiplier {raw!r}") from None
    else:
        raise CertificateError(f"{where}: bad multiplier {raw!r}")
    if value < 0:
        raise CertificateError(f"{where}: negative multiplier {raw!r}")
    return value


def _cut_parts(body: object, where: str) -> tuple[list, list, list]:
    """(clause, rows, cliques) of a cutting-plane step body, shape-checked."""
    if not isinstance(body, dict):
        raise CertificateError(f"{where}: cutting-plane step needs an object")
    clause, rows, cliques = body.get("clause"), body.get("rows"), body.get("cliques")
    if not isinstance(clause, list) or not isinstance(rows, list) or not isinstance(cliques, list):
        raise CertificateError(f"{where}: cutting-plane step needs clause, rows and cliques lists")
    for group, what in ((rows, "row"), (cliques, "clique")):
        for entry in group:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list)):
                raise CertificateError(f"{where}: a {what} must be [multiplier, literals]")
    return clause, rows, cliques


def _cut_size(body: object, where: str) -> int:
    clause, rows, cliques = _cut_parts(body, where)
    size = len(clause) + sum(len(lits) for _, lits in rows)
    # every pair of a clique is one RUP check
    return size + sum(len(k) + len(k) * (len(k) - 1) // 2 for _, k in cliques)


def check_cut(db: RupChecker, body: object, where: str = "cut") -> list[int]:
    """Verify a cutting-plane step against ``db``; return the clause it derives.

    Assume the negation of the clause and unit-propagate (assignment s).  Each row
    ``[y, (l1 .. lk)]`` must be RUP under s and stands for ``[l1] + .. + [lk] >= 1``; each
    clique ``[y, (l1 .. lk)]`` needs every pair clause ``(~li ~lj)`` RUP under s and stands
    for ``[l1] + .. + [lk] <= 1`` (``[l]`` is x for a positive literal, 1 - x for a
    negative one).  The y-weighted sum ``c.x >= d`` must be violated by every point of the
    box [0,1]^n that agrees with s: max over that box of ``c.x`` < d, in exact rationals.
    """
    from fractions import Fraction  # only cutting-plane steps need it: start-up of `pxl prove`

    clause, rows, cliques = _cut_parts(body, where)
    for lits in [clause, *(entry[1] for entry in rows), *(entry[1] for entry in cliques)]:
        for lit in lits:
            if type(lit) is not int or lit == 0 or abs(lit) > db.n:
                raise CertificateError(f"{where}: {lit!r} is not a literal of the encoding")
    mark = db.assume([-lit for lit in clause])
    if mark is None:  # the clause is RUP already
        return list(clause)
    try:
        coef: dict[int, Fraction] = {}
        rhs = Fraction(0)

        def add(y: Fraction, lits: list[int], sign: int, bound: int) -> None:
            # sign * sum([l]) >= sign * bound, scaled by y
            nonlocal rhs
            constant = 0
            for lit in lits:
                v = abs(lit)
                if lit > 0:
                    coef[v] = coef.get(v, Fraction(0)) + sign * y
                else:
                    coef[v] = coef.get(v, Fraction(0)) - sign * y
                    constant += 1
            rhs += sign * y * (bound - constant)

        for i, (raw, lits) in enumerate(rows):
            y = _multiplier(raw, f"{where} row {i}")
            if not lits or not db.is_rup(lits):
                raise CertificateError(f"{where}: row {i} {lits} is not RUP")
            if y:
                add(y, lits, 1, 1)
        n, value = db.n, db.value
        binary: set[tuple[int, int]] = set()  # clauses with exactly two literals not false
        if cliques:
            for c in db.clauses:
                if c is None:
                    continue
                rest = [lit for lit in c if not value[n - lit]]
                if len(rest) == 2 and not value[n + rest[0]] and not value[n + rest[1]]:
                    binary.add((min(rest), max(rest)))
        for i, (raw, lits) in enumerate(cliques):
            y = _multiplier(raw, f"{where} clique {i}")
            if len(lits) < 2:
                raise CertificateError(f"{where}: clique {i} needs two literals")
            for a in range(len(lits)):
                for b in range(a + 1, len(lits)):
                    u, v = -lits[a], -lits[b]
                    # Fast path: a clause that is exactly (u | v) under s makes the pair RUP.
                    if (min(u, v), max(u, v)) in binary:
                        continue
                    if not db.is_rup([u, v]):
                        raise CertificateError(
                            f"{where}: clique {i}: {lits[a]} and {lits[b]} do not conflict"
                        )
            if y:
                add(y, lits, -1, 1)
        top = Fraction(0)
        for v, c in coef.items():
            # fixed true by s: c; fixed false: 0; free: the better bound of 0 and 1
            if value[n + v] or (not value[n - v] and c > 0):
                top += c
        if not top < rhs:
            raise CertificateError(
                f"{where}: the combination is satisfiable in [0,1] (max {top} >= {rhs})"
            )
    finally:
        db.undo(mark)
    return list(clause)


def decode(certificate: str) -> dict:
    """Base64 canonical JSON -> proof object (shape checked)."""
    if not isinstance(certificate, str) or len(certificate) > MAX_CERTIFICATE_BYTES:
        raise CertificateError("certificate must be a base64 string within the size limit")
    try:
        proof = json.loads(base64.b64decode(certificate, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CertificateError(f"certificate is not base64 of JSON: {exc}") from None
    if not isinstance(proof, dict):
        raise CertificateError("proof object must be a JSON object")
    if proof.get("format") not in FORMATS:
        raise CertificateError(f"unsupported certificate format {proof.get('format')!r}")
    if proof.get("encoding") != ENCODING:
        raise CertificateError(f"unsupported encoding {proof.get('encoding')!r}")
    steps = proof.get("steps")
    if not isinstance(steps, list):
        raise CertificateError("proof steps must be a list")
    hinted = proof["format"] == FORMAT
    total = 0
    for i, step in enumerate(steps):
        if not isinstance(step, list) or not step or step[0] not in ("a", "d", "n", "c"):
            raise CertificateError(f"step {i}: must be a list starting with 'a', 'd', 'n' or 'c'")
        if step[0] == "c":
            if len(step) != 2:
                raise CertificateError(f"step {i}: a cutting-plane step is ['c', {{...}}]")
            total += _cut_size(step[1], f"step {i}")
        elif hinted:
            total += _hinted_size(step, i)
        else:
            if step[0] == "n" and len(step) < 2:
                raise CertificateError(f"step {i}: necessitation needs a box variable")
            total += len(step)
    if total > MAX_CHECK_LITERALS:
        raise CertificateError(f"proof has more than {MAX_CHECK_LITERALS} literals")
    return proof


def _hinted_size(step: list, i: int) -> int:
    """Shape check of a ``pxl-s5-cert/2`` ``a`` or ``n`` step; its literal and hint count."""
    if step[0] == "a" and len(step) == 3 and isinstance(step[1], list):
        lists = step[1:]
    elif step[0] == "n" and len(step) == 4 and isinstance(step[2], list):
        lists = step[2:]
    else:
        raise CertificateError(
            f"step {i}: expected ['a', [literals], [hints]] or ['n', box, [hypotheses], [hints]]"
        )
    if not isinstance(lists[-1], list):
        raise CertificateError(f"step {i}: hints must be a list of clause ids")
    return 1 + sum(len(x) for x in lists)


def _drup_step(db: RupChecker, i: int, step: list) -> bool:
    """Apply an ``a`` (RUP-checked addition) or ``d`` (deletion) step; False for other tags."""
    tag, lits = step[0], step[1:]
    if tag == "a":
        if not db.is_rup(lits):
            raise CertificateError(f"step {i}: clause {lits} is not RUP")
        db.add(lits)
    elif tag == "d":
        db.delete(lits)
    else:
        return False
    return True


def _world_count(
    proof: dict, nvars: int, box_arg: dict[int, int], global_vars: set[int], natoms: int
) -> int:
    """The proof's number of worlds k, checked against the S5 world bound and the limits."""
    k = proof.get("worlds")
    if type(k) is not int or k < 1 or k * nvars > MAX_WORLD_VARIABLES:
        raise CertificateError(f"bad number of worlds {k!r}")
    free = sum(1 for a in box_arg.values() if abs(a) not in global_vars)
    needed = free + 1 if natoms >= 30 else min(free + 1, 2**natoms)
    if k < needed:
        raise CertificateError(f"{k} worlds are below the S5 world bound {needed}")
    return k


def _world_clauses(
    k: int, nvars: int, root: int, clauses: list[list[int]], box_arg: dict[int, int],
    global_vars: set[int],
) -> list[list[int]]:
    """The k-world encoding in its documented order: the copies, the witness clauses (box
    variables in increasing order), the unit [~root]."""

    def copy(lit: int, j: int) -> int:
        if abs(lit) in global_vars:
            return lit
        return lit + j * nvars if lit > 0 else lit - j * nvars

    out = [[copy(x, j) for x in c] for j in range(k) for c in clauses]
    out += [[b] + [-copy(a, j) for j in range(k)] for b, a in box_arg.items()]
    out.append([-root])
    return out


def _check_worlds(encoding: tuple, proof: dict) -> str:
    root, nvars, clauses, box_arg, global_vars, natoms = encoding
    k = _world_count(proof, nvars, box_arg, global_vars, natoms)
    db = RupChecker(k * nvars)
    for c in _world_clauses(k, nvars, root, clauses, box_arg, global_vars):
        db.add(c)
    rup = 0
    for i, step in enumerate(proof["steps"]):
        if not _drup_step(db, i, step):
            raise CertificateError(f"step {i}: only 'a' and 'd' steps in a worlds proof")
        rup += step[0] == "a"
    if not db.inconsistent:
        raise CertificateError(f"the proof does not refute the {k}-world encoding")
    return f"proof checked: no countermodel with {count(k, 'world')} (the S5 bound), {count(rup, 'RUP step')}"


def formula_encoding(formula: Formula) -> tuple:
    """(root, nvars, clauses, box_arg, global variables, number of distinct atoms) of a
    formula: ``_encode`` and the atom count the worlds bound needs.  The same tuple comes
    from PXL text directly by ``cert_reader.read_encoding``."""
    natoms = len({node.name for node in postorder(formula) if node.kind == "atom"})
    return (*_encode(formula), natoms)


def check_proof(formula: Formula | None, proof: dict, encoding: tuple | None = None) -> str:
    """Verify a decoded proof object against ``formula`` (or its ``encoding``, as
    ``formula_encoding`` gives it); return a summary or raise."""
    kind = proof.get("kind", "lemmas")
    if kind not in ("lemmas", "worlds"):
        raise CertificateError(f"unknown certificate kind {kind!r}")
    if encoding is None:
        assert formula is not None
        encoding = formula_encoding(formula)
    if proof.get("format") == FORMAT:
        return _check_hinted(encoding, proof, kind)
    if kind == "worlds":
        return _check_worlds(encoding, proof)
    root, nvars, clauses, box_arg, global_vars, _natoms = encoding
    db = RupChecker(nvars)
    for c in clauses:
        db.add(c)
    lemmas = rup = cuts = 0
    for i, step in enumerate(proof["steps"]):
        tag, lits = step[0], step[1:]
        if _drup_step(db, i, step):
            rup += tag == "a"
        elif tag == "c":
            db.add(check_cut(db, step[1], f"step {i}"))
            cuts += 1
        else:
            b, hyps = lits[0], lits[1:]
            if type(b) is not int or b not in box_arg:
                raise CertificateError(f"step {i}: {b!r} is not a box variable")
            for h in hyps:
                if type(h) is not int or abs(h) not in global_vars:
                    raise CertificateError(f"step {i}: hypothesis {h!r} is not a global literal")
            premise = [-h for h in hyps] + [box_arg[b]]
            if not db.is_rup(premise):
                raise CertificateError(f"step {i}: necessitation premise {premise} is not RUP")
            db.add([b] + [-h for h in hyps])
            lemmas += 1
    if not db.is_rup([root]):
        raise CertificateError("the proof does not derive the formula (root literal not RUP)")
    summary = f"proof checked: {count(lemmas, 'necessitation lemma')}, {count(rup, 'RUP step')}"
    return summary + (f", {count(cuts, 'cutting-plane step')}" if cuts else "")


def check_certificate(
    formula: Formula | None, certificate: str, encoding: tuple | None = None
) -> tuple[bool, str]:
    """(ok, reason) for a base64 certificate of ``formula`` (or of the formula whose
    ``encoding`` is given, as ``formula_encoding`` gives it)."""
    try:
        return True, check_proof(formula, decode(certificate), encoding)
    except CertificateError as exc:
        return False, str(exc)


class _HintedDb:
    """Clauses by id (``pxl-s5-cert/2``); RUP steps are checked by replaying their hints.

    Ids: the initial clauses are 1..m in order, then every ``a``, ``n`` and ``c`` step adds
    the next id.  Nothing is ever deleted.  A :class:`RupChecker` mirror is kept only when
    the proof has cutting-plane steps (``check_cut`` needs propagation)."""

    def __init__(self, nvars: int, with_cuts: bool, clauses: list[list[int]]) -> None:
        self.n = nvars
        # Index 0: no clause has id 0.  Clauses are kept as given, repeated literals and
        # all (``check`` reads a repeated literal as one), and never modified.
        self.clauses: list = [(), *clauses]
        self.rup = RupChecker(nvars) if with_cuts else None
        if self.rup is not None:
            for c in clauses:
                self.rup.add(c)

    def literals(self, lits: object, where: str) -> list[int]:
        if not isinstance(lits, list):
            raise CertificateError(f"{where}: literals must be a list")
        for lit in lits:
            if type(lit) is not int or lit == 0 or abs(lit) > self.n:
                raise CertificateError(f"{where}: {lit!r} is not a literal of the encoding")
        return list(dict.fromkeys(lits))

    def add(self, lits: list[int]) -> None:
        self.clauses.append(lits)
        if self.rup is not None:
            self.rup.add(lits)

    def check(self, lits: list[int], hints: list, where: str) -> None:
        """The clause ``lits`` is RUP by ``hints``: assume every literal false, then each hint
        clause in order must be unit (all literals false but one, which is not true; that one
        becomes true) until one is falsified outright, which must be the last hint."""
        true = {-lit for lit in lits}
        if any(lit in true for lit in lits):  # a tautology holds without hints
            if hints:
                raise CertificateError(f"{where}: a tautology takes no hints")
            return
        clauses, seen = self.clauses, set()
        for j, h in enumerate(hints):
            if type(h) is not int or not 0 < h < len(clauses) or h in seen:
                raise CertificateError(f"{where}: hint {h!r} is not an earlier clause id (once)")
            seen.add(h)
            unit = 0
            for lit in clauses[h]:
                if lit in true:
                    raise CertificateError(f"{where}: hint {h} is satisfied, not unit")
                if -lit not in true and lit != unit:  # (a repeated literal counts once)
                    if unit:
                        raise CertificateError(f"{where}: hint {h} is not unit")
                    unit = lit
            if not unit:
                if j != len(hints) - 1:
                    raise CertificateError(f"{where}: hints go on after the conflict at {h}")
                return
            true.add(unit)
        raise CertificateError(f"{where}: clause {lits} is not RUP by its hints")


def _check_hinted(encoding: tuple, proof: dict, kind: str) -> str:
    """``pxl-s5-cert/2``: every ``a``/``n`` step carries the ids of the clauses that propagate
    to its conflict; the last step derives ``[root]`` (lemmas) or ``[]`` (worlds)."""
    root, nvars, clauses, box_arg, global_vars, natoms = encoding
    steps = proof["steps"]
    with_cuts = any(step[0] == "c" for step in steps)
    if kind == "worlds":
        k = _world_count(proof, nvars, box_arg, global_vars, natoms)
        db = _HintedDb(
            k * nvars, False, _world_clauses(k, nvars, root, clauses, box_arg, global_vars)
        )
    else:
        db = _HintedDb(nvars, with_cuts, clauses)
    last: list[int] | None = None
    lemmas = rup = cuts = 0
    for i, step in enumerate(steps):
        where = f"step {i}"
        tag = step[0]
        if tag == "a":
            last = db.literals(step[1], where)
            db.check(last, step[2], where)
            rup += 1
        elif kind == "worlds" or tag == "d":
            raise CertificateError(f"{where}: step {tag!r} is not allowed here")
        elif tag == "c":
            assert db.rup is not None
            last = db.literals(check_cut(db.rup, step[1], where), where)
            cuts += 1
        else:
            b, hyps = step[1], db.literals(step[2], where)
            if type(b) is not int or b not in box_arg:
                raise CertificateError(f"{where}: {b!r} is not a box variable")
            for h in hyps:
                if abs(h) not in global_vars:
                    raise CertificateError(f"{where}: hypothesis {h!r} is not a global literal")
            db.check(list(dict.fromkeys([*(-h for h in hyps), box_arg[b]])), step[3], where)
            last = [b, *(-h for h in hyps)]
            lemmas += 1
        db.add(last)
    if kind == "worlds":
        if last != []:
            raise CertificateError(f"the proof does not refute the {k}-world encoding")
        return f"proof checked: no countermodel with {count(k, 'world')} (the S5 bound), {count(rup, 'RUP step')}"
    if last != [root]:
        raise CertificateError("the proof does not derive the formula (last clause not [root])")
    summary = (f"proof checked: {count(lemmas, 'necessitation lemma')}, "
               f"{count(rup, 'RUP step')} (hinted)")
    return summary + (f", {count(cuts, 'cutting-plane step')}" if cuts else "")

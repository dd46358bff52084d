"""Coq proofs of valid verdicts: a certificate as a ``.v`` file.

The file states ``s5_valid φ`` for the formula (coq/Kernel.v) and proves it with the checker's
soundness theorem (coq/Checker.v, ``check_sound``) applied to the certificate, translated:

* the definition table of the one-world encoding (variable -> global flag, node with its
  children's literals; ``encoding.Encoding.definitions``), which Coq validates against φ and
  derives the encoding's clauses from, numbered 1, 2, … in the encoding's order (increasing
  variable), exactly the clause ids of ``pxl-s5-cert/2``;
* the hinted steps of ``pxl-s5-cert/2`` as they are: ``a`` -> ``SAdd id clause hints``,
  ``n`` -> ``SNec id B hyps hints``, each with the next id (an unhinted ``/1`` proof is first
  hinted by ``hints.hint_lemmas_proof``, the prover's own routine);
* the final check: ``[root]`` is RUP by the last step's clause (which is ``[root]``);
* kind ``worlds`` (coq/Worlds.v, ``check_worlds_sound``): the same table, n, k and the steps;
  Coq builds the k-world encoding in the order of its clause ids and the last step's hints
  refute it.

* ``c`` steps (coq/Cuts.v, ``check_cuts_sound``): the rows, clique pairs and fixed literals,
  which depend on the assignment the negated clause C implies, become hinted RUP clauses
  (C ∨ row, C ∨ ¬a ∨ ¬b, C ∨ l) found with the prover's hint finder; the multipliers are exact
  rationals.

Covered: every kind and step the prover writes (``worlds`` at either world bound).  Pure: no I/O.
"""

from __future__ import annotations

from workers.prover import certificate as cert
from workers.prover import hints
from workers.prover.encoding import Encoding, encode
from workers.prover.hints import HintError, hint_lemmas_proof
from workers.prover.syntax import Formula

# The Coq library name the kernel is compiled under (``coqc -Q <dir> PXL``).
LIBRARY = "PXL"
COVERED_KINDS = ("lemmas", "worlds")

_ENTRY = {"and": "EAnd", "or": "EOr", "implies": "EImp", "iff": "EIff", "box": "EBox"}


class CoqExportError(ValueError):
    """The certificate has a kind or step the Coq checker does not cover."""


def _z(lits) -> str:
    return "[" + "; ".join(f"({lit})" if lit < 0 else str(lit) for lit in lits) + "]%Z"


def _pos(ids) -> str:
    return "[" + "; ".join(map(str, ids)) + "]%positive"


def _entry(enc: Encoding, x: int) -> str:
    kind, kids = enc.definitions[x]
    if kind == "atom":
        return f'EAtom "{kids}"%string'
    if kind in ("and", "or"):
        return f"{_ENTRY[kind]} {_z(kids)}"
    return _ENTRY[kind] + "".join(f" ({lit})" for lit in kids)


def coq_formula(formula: Formula) -> str:
    """The Coq ``form`` term of a formula (iteratively: formulas may be thousands deep)."""
    text: dict[int, str] = {}
    stack: list[tuple[Formula, bool]] = [(formula, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in text:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children) if id(c) not in text)
            continue
        kids = [text[id(c)] for c in node.children]
        kind = node.kind
        if kind == "atom":
            text[id(node)] = f'(FAtom "{node.name}"%string)'
        elif kind == "const":
            text[id(node)] = f"(FConst {'true' if node.value else 'false'})"
        elif kind in ("and", "or"):
            name = "FAnd" if kind == "and" else "FOr"
            text[id(node)] = f"({name} [{'; '.join(kids)}])"
        else:
            name = {"not": "FNot", "implies": "FImp", "iff": "FIff", "box": "FBox", "dia": "FDia"}
            text[id(node)] = f"({name[kind]} {' '.join(kids)})"
    return text[id(formula)]


def _hinted_steps(enc: Encoding, proof: dict) -> list:
    """The proof's steps in the hinted form of ``pxl-s5-cert/2``."""
    if proof.get("format") == cert.FORMAT:
        return proof["steps"]
    try:  # pxl-s5-cert/1: hint it the way the prover does
        return hint_lemmas_proof(
            enc.nvars, enc.clauses, enc.box_arg, enc.root, proof["steps"], lambda: None
        )
    except HintError as exc:
        raise CoqExportError(f"the proof cannot be hinted: {exc}") from None


def _worlds_parts(enc: Encoding, proof: dict) -> tuple[int, list, list[int]]:
    """(k, the steps before the last, the last step's hints) of a ``worlds`` proof."""
    k = proof["worlds"]
    if proof.get("format") != cert.FORMAT:
        raise CoqExportError("unhinted (pxl-s5-cert/1) worlds proofs are not covered")
    steps = proof["steps"]
    return k, steps[:-1], steps[-1][2]  # the last step refutes: ["a", [], hints]


def _q(raw: object) -> str:
    """A multiplier (JSON integer or "p"/"p/q") as a Coq rational."""
    num, _, den = str(raw).partition("/")
    return f"({num} # {den or 1})%Q"


def _cut(finder, cid: int, body: dict) -> str:
    """A ``c`` step for Coq: each part that depends on the assignment ¬C implies becomes a
    hinted RUP clause over the database (C ∨ l for a fixed literal, C ∨ R for a row,
    C ∨ ¬a ∨ ¬b for a clique pair); a C that is RUP outright becomes an ``SAdd``."""
    clause, rows, cliques = body["clause"], body["rows"], body["cliques"]
    mark = finder.assume([-lit for lit in clause])
    if mark is None:  # C is RUP: the cut needs no LP
        return f"CStep (SAdd {cid} {_z(clause)} {_pos(finder.rup_hints(clause))})"
    n, value = finder.n, finder.value
    fixed_lits = [x if value[n + x] else -x for x in range(1, n + 1) if value[n + x] or value[n - x]]
    finder.undo(mark)
    variables = list(dict.fromkeys(abs(lit) for _, lits in rows + cliques for lit in lits))
    wanted = set(variables)
    fixed = [
        f"({lit}, {_pos(finder.rup_hints([*clause, lit]))})"
        for lit in fixed_lits
        if abs(lit) in wanted
    ]
    row_parts = [
        f"({_q(y)}, {_z(lits)}, {_pos(finder.rup_hints([*clause, *lits]))})" for y, lits in rows
    ]
    clique_parts = []
    for y, lits in cliques:
        pairs = [
            "["
            + "; ".join(
                _pos(finder.rup_hints([*clause, -lits[a], -lits[b]]))
                for b in range(a + 1, len(lits))
            )
            + "]"
            for a in range(len(lits))
        ]
        clique_parts.append(f"({_q(y)}, {_z(lits)}, [{'; '.join(pairs)}])")
    return (
        f"CCut {cid} (mk_cut {_z(clause)} [{'; '.join(fixed)}]%Z [{'; '.join(row_parts)}]"
        f" [{'; '.join(clique_parts)}] {_pos(variables)})"
    )


def export_proof(formula: Formula, proof: dict) -> str:
    """The ``.v`` text proving ``s5_valid`` of ``formula`` from a checked proof object."""
    kind = proof.get("kind", "lemmas")
    if kind not in COVERED_KINDS:
        raise CoqExportError(f"certificate kind {kind!r} is not covered by the Coq checker")
    enc = encode(formula)
    if kind == "worlds":
        k, hinted, final = _worlds_parts(enc, proof)
        # ids: k copies of the encoding, a witness clause per box, the unit [-root]
        next_id = k * len(enc.clauses) + len(enc.boxes) + 1
    else:
        hinted, final = _hinted_steps(enc, proof), []
        next_id = len(enc.clauses)
    cuts = any(step[0] == "c" for step in hinted)
    finder = None
    if cuts:  # the database the cut steps are checked against, with clause ids for hints
        finder = hints._Finder(enc.nvars)  # the prover's hint finder (hints.py)
        for clause in enc.clauses:
            finder.add_clause(clause)
    steps: list[str] = []
    for step in hinted:
        next_id += 1
        if step[0] == "a":
            text = f"SAdd {next_id} {_z(step[1])} {_pos(step[2])}"
            added = step[1]
        elif step[0] == "n":
            text = f"SNec {next_id} {step[1]} {_z(step[2])} {_pos(step[3])}"
            added = [step[1], *(-h for h in step[2])]
        else:
            steps.append(_cut(finder, next_id, step[1]))
            finder.add_clause(step[1]["clause"])
            continue
        steps.append(f"CStep ({text})" if cuts else text)
        if finder is not None:
            finder.add_clause(added)
    table = [
        f"({x}%positive, ({'true' if x in enc.global_vars else 'false'}, {_entry(enc, x)}))"
        for x in sorted(enc.definitions)
    ]
    sep = ";\n  "
    if kind == "worlds":
        certificate = f"""wcert := mk_wcert
  [{sep.join(table)}]
  ({enc.root})
  {enc.nvars}
  {k}
  [{sep.join(steps)}]
  {_pos(final)}"""
        theorem = "check_worlds_sound"
    else:  # the last step derived [root]: the final check's hint is that clause
        record, make, theorem = (
            ("ccert", "mk_ccert", "check_cuts_sound") if cuts else ("cert", "mk_cert", "check_sound")
        )
        certificate = f"""{record} := {make}
  [{sep.join(table)}]
  ({enc.root})
  [{sep.join(steps)}]
  {_pos([next_id])}"""
    return f"""(* Generated by pxl (workers/prover/coq.py): S5 validity of a formula, proved by a
   certificate checker of coq/, whose soundness is proved there. *)
From {LIBRARY} Require Import Kernel Checker Worlds Cuts.
From Coq Require Import String List ZArith PArith QArith.
Import ListNotations.

Definition formula : form :=
  {coq_formula(formula)}.

Definition certificate : {certificate}.

Theorem formula_valid : s5_valid formula.
Proof. apply ({theorem} formula certificate). vm_compute. reflexivity. Qed.
"""


def export_certificate(formula: Formula, certificate: str) -> str:
    """Check a base64 certificate with the independent checker, then export it
    (``CoqExportError`` when it does not check or is not covered)."""
    try:
        proof = cert.decode(certificate)
        cert.check_proof(formula, proof)
    except cert.CertificateError as exc:
        raise CoqExportError(f"the certificate does not check: {exc}") from None
    return export_proof(formula, proof)

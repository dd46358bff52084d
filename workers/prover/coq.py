"""Coq proofs of valid verdicts: a ``pxl-s5-cert/1`` certificate as a ``.v`` file.

The file states ``s5_valid φ`` for the formula (coq/Kernel.v) and proves it with the checker's
soundness theorem (coq/Checker.v, ``check_sound``) applied to the certificate, translated:

* the definition table of the one-world encoding (variable -> global flag, node with its
  children's literals; ``encoding.Encoding.definitions``), which Coq validates against φ;
* the encoding's clauses get ids 1, 2, … in the order ``Checker.enc_clauses`` derives them
  (``coq_clauses`` here mirrors it);
* ``a`` steps become ``SAdd id clause hints`` and ``n`` steps ``SNec id B hyps hints``, where the
  hints are the LRAT-style propagation chains of ``hints.HintedClauses``; ``d`` steps are dropped
  (the hinted checker looks clauses up by id, so deletions buy nothing);
* the final RUP check of the root unit gets its hints too.

Covered: kind ``lemmas`` without cutting-plane steps.  Kind ``worlds`` and ``c`` steps raise
``CoqExportError`` (docs/coq.md says why).  Pure: no I/O; the caller checks the certificate with
``certificate.check_proof`` first, so the exporter only meets well-formed proofs.
"""

from __future__ import annotations

from workers.prover import certificate as cert
from workers.prover.encoding import Encoding, encode
from workers.prover.hints import HintedClauses
from workers.prover.syntax import Formula

# The Coq library name the kernel is compiled under (``coqc -Q <dir> PXL``).
LIBRARY = "PXL"
COVERED_KINDS = ("lemmas",)

_ENTRY = {"and": "EAnd", "or": "EOr", "implies": "EImp", "iff": "EIff", "box": "EBox"}


class CoqExportError(ValueError):
    """The certificate has a kind or step the Coq checker does not cover."""


def coq_clauses(enc: Encoding) -> list[list[int]]:
    """The encoding's clauses in ``Checker.enc_clauses`` order (ids 1, 2, …)."""
    clauses: list[list[int]] = [[1]]
    for x in sorted(enc.definitions):
        kind, kids = enc.definitions[x]
        if kind == "and":
            clauses += [[-x, lit] for lit in kids]
            clauses.append([x, *(-lit for lit in kids)])
        elif kind == "or":
            clauses += [[x, -lit] for lit in kids]
            clauses.append([-x, *kids])
        elif kind == "implies":
            a, b = kids
            clauses += [[x, a], [x, -b], [-x, -a, b]]
        elif kind == "iff":
            a, b = kids
            clauses += [[-x, -a, b], [-x, a, -b], [x, a, b], [x, -a, -b]]
        elif kind == "box":
            clauses.append([-x, kids[0]])
    return clauses


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


def export_proof(formula: Formula, proof: dict) -> str:
    """The ``.v`` text proving ``s5_valid`` of ``formula`` from a checked proof object."""
    kind = proof.get("kind", "lemmas")
    if kind not in COVERED_KINDS:
        raise CoqExportError(f"certificate kind {kind!r} is not covered by the Coq checker")
    enc = encode(formula)
    db = HintedClauses(enc.nvars)
    next_id = 0
    for next_id, clause in enumerate(coq_clauses(enc), start=1):
        db.add(next_id, clause)
    steps: list[str] = []

    def hinted(lits: list[int], where: str) -> list[int]:
        hints = db.rup_hints(lits)
        if hints is None:
            raise CoqExportError(f"{where}: {lits} is not RUP")
        return hints

    for i, step in enumerate(proof["steps"]):
        tag = step[0]
        if tag == "d":
            continue
        if tag == "c":
            raise CoqExportError("cutting-plane ('c') steps are not covered by the Coq checker")
        next_id += 1
        if tag == "a":
            lits = step[1:]
            steps.append(f"SAdd {next_id} {_z(lits)} {_pos(hinted(lits, f'step {i}'))}")
            db.add(next_id, lits)
        else:  # "n"
            b, hyps = step[1], step[2:]
            premise = [enc.box_arg[b], *(-h for h in hyps)]
            hints = hinted(premise, f"step {i}")
            steps.append(f"SNec {next_id} {b} {_z(hyps)} {_pos(hints)}")
            db.add(next_id, [b, *(-h for h in hyps)])
    final = hinted([enc.root], "final")
    table = [
        f"({x}%positive, ({'true' if x in enc.global_vars else 'false'}, {_entry(enc, x)}))"
        for x in sorted(enc.definitions)
    ]
    sep = ";\n  "
    return f"""(* Generated by pxl (workers/prover/coq.py): S5 validity of a formula, proved by the
   certificate checker of coq/Checker.v, whose soundness is proved there. *)
From {LIBRARY} Require Import Kernel Checker.
From Coq Require Import String List ZArith PArith.
Import ListNotations.

Definition formula : form :=
  {coq_formula(formula)}.

Definition certificate : cert := mk_cert
  [{sep.join(table)}]
  ({enc.root})
  [{sep.join(steps)}]
  {_pos(final)}.

Theorem formula_valid : s5_valid formula.
Proof. apply (check_sound formula certificate). vm_compute. reflexivity. Qed.
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

"""Verify a saved result document (``pxl check FILE``) without trusting the prover.

Invalid verdicts: the countermodel is re-evaluated by modelcheck.py.  Valid
verdicts: the certificate is decoded and replayed by certificate.py's
independent checker, and a tableau, when there is one, is checked by tableau_check.py.  Neither path runs the search or a SAT solver.

A certificate needs only the formula's encoding, which cert_reader.py reads straight
from the text, much more cheaply than building the syntax tree; whatever that reader
leaves to the parser (errors, limits, rare spellings), and every document that needs the
formula itself (countermodels, tableaux), goes through parse_formula.
"""

from __future__ import annotations

from typing import NamedTuple

from workers.prover import certificate as cert
from workers.prover import gcpause
from workers.prover.cert_reader import read_encoding
from workers.prover.errors import FormulaError
from workers.prover.modelcheck import check_countermodel
from workers.prover.parser import parse_formula
from workers.prover.tableau_check import check_tableau


class CheckReport(NamedTuple):
    ok: bool
    reason: str


def check_result_document(doc: dict) -> CheckReport:
    """Verify a result document's evidence: a countermodel, or a certificate (and a
    tableau, when there is one)."""
    gcpause.pause()  # as prove() does (gcpause.py)
    try:
        return _check(doc)
    finally:
        gcpause.resume()


def _check(doc: dict) -> CheckReport:
    if not isinstance(doc, dict):
        return CheckReport(False, "a result document is a JSON object")
    verdict = doc.get("verdict")
    if verdict not in ("valid", "invalid", "unknown"):
        return CheckReport(False, f"unknown verdict {verdict!r}")
    text = doc.get("formula")
    if not isinstance(text, str):
        return CheckReport(False, "the document has no formula text")
    encoding = formula = None
    if verdict == "valid" and doc.get("tableau") is None:
        encoding = read_encoding(text)
    if encoding is None:
        try:
            formula = parse_formula(text)
        except FormulaError as exc:
            return CheckReport(False, f"the formula does not parse: {exc}")
    if verdict == "unknown":
        return CheckReport(False, "verdict unknown: the document claims nothing to check")
    if verdict == "invalid":
        if doc.get("szs_status") not in (None, "CounterSatisfiable"):
            return CheckReport(False, f"invalid verdict with SZS status {doc.get('szs_status')!r}")
        if doc.get("countermodel") is None:
            return CheckReport(False, "invalid verdict without a countermodel")
        ok, why = check_countermodel(formula, doc["countermodel"])
        return CheckReport(ok, f"countermodel: {why}")
    if doc.get("szs_status") not in (None, "Theorem"):
        return CheckReport(False, f"valid verdict with SZS status {doc.get('szs_status')!r}")
    tableau_note = ""
    if doc.get("tableau") is not None:
        assert formula is not None
        ok, why = check_tableau(formula, doc["tableau"])
        if not ok:
            return CheckReport(False, f"tableau: {why}")
        tableau_note = f"; tableau: {why}"
    certificate = doc.get("certificate")
    if certificate is None:
        why = doc.get("certificate_omitted") or "no reason given"
        return CheckReport(False, f"valid verdict without a certificate ({why})")
    fmt = doc.get("certificate_format")
    if fmt not in cert.FORMATS:
        return CheckReport(False, f"unsupported certificate_format {fmt!r}")
    ok, why = cert.check_certificate(formula, certificate, encoding)
    return CheckReport(ok, f"certificate: {why}{tableau_note}")

"""The v4 adapter table: the data that drives translate, validate and adapt.

Each domain tag (``knowledge``, ``action``, ``value``) maps to its IEL target, its
fields and three rules written as formula templates: nested lists whose head is
a connective (``and``, ``or``, ``not``, ``implies``, ``iff``, ``box``, ``dia``),
``le`` (the order of naturals, evaluated to a constant) or ``const``; strings
starting with ``$`` are slots filled from the object.  The code in this package
interprets these templates, so the table *is* the translation and its hash
(``adapter_table_sha256``, served as ``X-V4-SHA``) identifies the behaviour.
Change a rule => bump ``version``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ADAPTER_TABLE_VERSION = "1"

ADAPTER_TABLE: dict[str, Any] = {
    "name": "logos-pxl-core v4 adapter table",
    "version": ADAPTER_TABLE_VERSION,
    "semantics": "S5 Kripke validity (classical)",
    "domains": {
        "knowledge": {
            "source": "V4.Knowledge (claim : Prop)",
            "target": "GnosiPraxis",
            "fields": {"claim": "formula"},
            "translate": "$claim",
            "adapt": {"known": ["box", "$claim"]},
            "guard": [
                {"name": "conservativity", "check": "valid", "formula": "$translation"},
            ],
        },
        "action": {
            "source": "V4.Action (Hoare P a Q := (P -> a P) /\\ (a P -> Q))",
            "target": "ErgoPraxis",
            "fields": {
                "pre": "formula",
                "action": "name",
                "post": "formula",
                "effect": "formula?",
            },
            # "a P" is reified as the supplied effect formula, or a fresh atom.
            "effect_default": {"fresh_atom": "eff_{action}"},
            "translate": ["and", ["implies", "$pre", "$effect"], ["implies", "$effect", "$post"]],
            "adapt": {"pre": "$pre", "post": "$post"},
            "guard": [
                {
                    "name": "soundness",
                    "check": "valid",
                    "formula": ["implies", "$translation", ["implies", "$pre", "$post"]],
                },
                {
                    "name": "executable",
                    "check": "satisfiable",
                    "formula": ["and", "$translation", "$pre"],
                },
                {
                    "name": "correctness",
                    "check": "valid",
                    "formula": "$translation",
                    "when": "effect_given",
                },
            ],
        },
        "value": {
            "source": "V4.Value (value := nat, vle := <=)",
            "target": "Axiopraxis",
            "fields": {"x": "nat", "y": "nat"},
            "value_map": "identity",
            "neutral": 0,
            "translate": ["le", "$x", "$y"],
            "adapt": {"x": "$x", "y": "$y"},
            "guard": [
                {"name": "order", "check": "valid", "formula": "$translation"},
                {"name": "monotone", "check": "monotone", "pairs": [["$x", "$y"]]},
            ],
        },
    },
}


def canonical_json(value: Any) -> bytes:
    """Canonical serialisation: sorted keys, compact separators, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def adapter_table_sha256() -> str:
    """SHA-256 (hex) of the canonical adapter table, version included: ``X-V4-SHA``."""
    return hashlib.sha256(canonical_json(ADAPTER_TABLE)).hexdigest()

"""Counted nouns in the prover's human-readable text (traces, check reports): "1 world",
"2 worlds"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one (``plural`` when not just noun + "s")."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"

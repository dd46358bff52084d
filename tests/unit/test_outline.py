"""The lemma outline's literal texts (outline._literal_texts) against the formulas they stand
for, rebuilt from the encoding's definitions with the syntax classes and printed whole."""

from hypothesis import given, settings

from tests.unit.test_prover_oracle import bigger_formulas
from workers.prover.encoding import encode
from workers.prover.outline import _literal_texts
from workers.prover.printer import to_text
from workers.prover.syntax import TRUE, And, Atom, Box, Iff, Implies, Not, Or


def _formula(enc, literal):
    """The literal's formula, recursively (what the outline printed before)."""
    if abs(literal) == 1:
        base = TRUE
    else:
        kind, args = enc.definitions[abs(literal)]
        if kind == "atom":
            base = Atom(args)
        elif kind == "box":
            base = Box(_formula(enc, args[0]))
        elif kind in ("and", "or"):
            base = (And if kind == "and" else Or)([_formula(enc, a) for a in args])
        else:
            base = (Implies if kind == "implies" else Iff)(*(_formula(enc, a) for a in args))
    return base if literal > 0 else Not(base)


@settings(max_examples=200, deadline=None)
@given(bigger_formulas)
def test_literal_texts_are_the_printed_formulas(f):
    enc = encode(f)
    text = _literal_texts(enc)
    for var in [1, *range(2, enc.nvars + 1)]:
        for literal in (var, -var):
            assert text(literal) == to_text(_formula(enc, literal))

"""CPX text syntax -> CPX formula (the PXL syntax plus named operator calls).

Everything PXL accepts means the same here (docs/formula-language.md); the CPX
operators are written as calls whose first argument, where there is one, is a
natural number::

    At(t, φ)  Project(t, φ)  Knows(a, φ)  Believes(a, φ)  Intends(a, φ)
    Always(φ)  Eventually(φ)  Next(φ)  Prev(φ)  Eternal(φ)  Until(φ, ψ)  Since(φ, ψ)

An operator name is a call only when ``(`` follows it; otherwise it is an
ordinary atom name, so every PXL formula keeps its meaning.  ``Eternal``'s
payload must be pure PXL.  Like the PXL parser this is a shunting-yard parser
with explicit stacks (no recursion) and the same limits (bytes, nodes, depth),
reporting ``FormulaError`` with line, column and a caret.
"""

from __future__ import annotations

import re

from workers.overlays.chrono.syntax import (
    BINARY_KINDS,
    CPX_KINDS,
    INDEXED_KINDS,
    MAX_INDEX,
    OPERATOR_NAMES,
    CpxNode,
    is_pxl,
)
from workers.prover.errors import SYNTAX, TOO_DEEP, TOO_LARGE, TOO_MANY_NODES, FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.parser import BAD_HINTS, CHAR_HINTS, KEYWORD_UNARY, PRECEDENCE, UNARY
from workers.prover.syntax import FALSE, TRUE, And, Atom, Formula, Iff, Implies, Or, postorder

_TOKEN_RE = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<num>[0-9]+)
    |(?P<bad>&&|\|\||<=>|=>|==)
    |(?P<iff><->|↔)
    |(?P<implies>->|→)
    |(?P<dia><>|◇)
    |(?P<box>\[\]|□)
    |(?P<not>[~!¬])
    |(?P<and>[&∧])
    |(?P<or>[|∨])
    |(?P<lp>\()
    |(?P<rp>\))
    |(?P<comma>,)
    |(?P<top>⊤)
    |(?P<bot>⊥)
    """,
    re.VERBOSE,
)

_CALLS = {name: kind for kind, name in OPERATOR_NAMES.items()}
_LP = "lp"  # operator-stack marker of an open parenthesis
_CALL = "call"  # operator-stack marker of an open operator call
_MAX_INDEX_DIGITS = len(str(MAX_INDEX))


def parse_cpx(text: str) -> Formula:
    """Parse CPX text; raise ``FormulaError`` on bad input or a broken limit."""
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, not {type(text).__name__}")
    n = len(text) if len(text) > MAX_TEXT_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if n > MAX_TEXT_BYTES:
        raise FormulaError(
            f"formula text is {n} bytes; the limit is {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES)",
            code=TOO_LARGE,
        )
    return _Parser(text).parse()


def _describe(kind: str, lexeme: str) -> str:
    if kind == "eof":
        return "end of input"
    if kind == "id":
        return f"atom '{lexeme}'"
    if kind == "num":
        return f"number {lexeme}"
    return f"'{lexeme}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.operands: list[Formula] = []
        # Operators: [kind, offset, lexeme, arity]; calls: [_CALL, offset, cpx kind, args, index].
        self.ops: list[list] = []
        self.pending = 0
        self.open_parens = 0
        self.nodes = 0

    def error(self, offset: int, message: str, code: str = SYNTAX) -> FormulaError:
        return FormulaError.at(self.text, offset, message, code=code)

    def tokens(self):
        text, match, pos, end = self.text, _TOKEN_RE.match, 0, len(self.text)
        last_end = 0
        while pos < end:
            m = match(text, pos)
            if m is None:
                ch = text[pos]
                shown = repr(ch)[1:-1] if ch.isprintable() else f"U+{ord(ch):04X}"
                hint = CHAR_HINTS.get(ch)
                raise self.error(
                    pos, f"unexpected character '{shown}'" + (f"; {hint}" if hint else "")
                )
            kind, lexeme = m.lastgroup, m.group()
            if kind == "bad":
                raise self.error(pos, BAD_HINTS[lexeme])
            if kind != "ws":
                yield kind, pos, lexeme
                last_end = m.end()
            pos = m.end()
        yield "eof", last_end, ""

    def too_deep(self, offset: int) -> FormulaError:
        return self.error(
            offset, f"formula is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)", TOO_DEEP
        )

    def count_node(self, offset: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(
                offset, f"formula has more than {MAX_NODES} nodes (MAX_NODES)", TOO_MANY_NODES
            )

    def push_op(self, kind: str, offset: int, lexeme: str, arity: int = 1) -> None:
        self.pending += 1
        if self.pending + self.open_parens >= MAX_DEPTH:
            raise self.too_deep(offset)
        self.count_node(offset)
        self.ops.append([kind, offset, lexeme, arity])

    def open(self, entry: list) -> None:
        self.open_parens += 1
        if self.pending + self.open_parens > MAX_DEPTH:
            raise self.too_deep(entry[1])
        self.ops.append(entry)

    def push_operand(self, node: Formula, offset: int) -> None:
        if node.depth > MAX_DEPTH:
            raise self.too_deep(offset)
        self.operands.append(node)

    def reduce_top(self) -> None:
        kind, offset, _lexeme, arity = self.ops.pop()
        self.pending -= 1
        operands = self.operands
        if kind in UNARY:
            node = UNARY[kind](operands.pop())
        else:
            args = operands[-arity:]
            del operands[-arity:]
            node = {"and": And, "or": Or}[kind](args) if kind in ("and", "or") else (
                Implies if kind == "implies" else Iff
            )(*args)
        self.push_operand(node, offset)

    def reduce_above(self, prec: int) -> None:
        ops = self.ops
        while ops and ops[-1][0] not in (_LP, _CALL) and PRECEDENCE[ops[-1][0]] > prec:
            self.reduce_top()

    def parse(self) -> Formula:
        tokens = self.tokens()
        expect_operand = True
        prev = None
        for tok in tokens:
            kind, offset, lexeme = tok
            if expect_operand:
                if kind == "id":
                    if lexeme in KEYWORD_UNARY or lexeme in _CALLS:
                        nxt = next(tokens)
                        if nxt[0] == "lp":
                            if lexeme in KEYWORD_UNARY:
                                self.push_op(KEYWORD_UNARY[lexeme], offset, lexeme)
                                self.open([_LP, nxt[1], "(", 0])
                            else:
                                self.open_call(tokens, lexeme, offset)
                            prev = ("lp", nxt[1], "(")
                            continue
                        if lexeme in KEYWORD_UNARY:
                            raise self.error(
                                offset,
                                f"'{lexeme}' is a keyword, not an atom name; write {lexeme}(φ)",
                            )
                        # A CPX operator name without '(' is an ordinary atom.
                        self.count_node(offset)
                        self.operands.append(Atom(lexeme))
                        expect_operand = False
                        prev = tok
                        tok = nxt
                        kind, offset, lexeme = tok
                    else:
                        self.count_node(offset)
                        self.operands.append(
                            TRUE if lexeme == "true" else FALSE if lexeme == "false"
                            else Atom(lexeme)
                        )
                        expect_operand = False
                        prev = tok
                        continue
                elif kind in ("top", "bot"):
                    self.count_node(offset)
                    self.operands.append(TRUE if kind == "top" else FALSE)
                    expect_operand = False
                    prev = tok
                    continue
                elif kind in UNARY:
                    self.push_op(kind, offset, lexeme)
                    prev = tok
                    continue
                elif kind == "lp":
                    self.open([_LP, offset, "(", 0])
                    prev = tok
                    continue
                else:
                    raise self.missing_operand(tok, prev)
            # An operand has just been read.
            result = self.after_operand(tok, prev)
            if result is not None:
                return result
            expect_operand = kind not in ("rp",)
            prev = tok
        raise AssertionError("token stream ended without 'eof'")  # pragma: no cover

    def open_call(self, tokens, name: str, offset: int) -> None:
        kind = _CALLS[name]
        index = None
        if kind in INDEXED_KINDS:
            what = CPX_KINDS[kind].index_name
            num = next(tokens)
            if num[0] != "num":
                raise self.error(
                    num[1],
                    f"{name} takes a {what} (a natural number) first: {name}({what[0]}, φ); "
                    f"found {_describe(num[0], num[2])}",
                )
            # Compare the digits before int(): past 4,300 digits int() itself raises ValueError.
            digits = num[2].lstrip("0") or "0"
            if len(digits) > _MAX_INDEX_DIGITS or int(digits) > MAX_INDEX:
                shown = digits if len(digits) <= 40 else f"of {len(digits)} digits"
                raise self.error(num[1], f"{what} {shown} is too large (at most 2^63-1)")
            index = int(digits)
            comma = next(tokens)
            if comma[0] != "comma":
                raise self.error(
                    comma[1],
                    f"expected ',' after the {what} of {name}, found {_describe(comma[0], comma[2])}",
                )
        self.count_node(offset)
        self.open([_CALL, offset, kind, 0, index])

    def after_operand(self, tok, prev):
        kind, offset, lexeme = tok
        if kind in ("and", "or"):
            self.reduce_above(PRECEDENCE[kind])
            top = self.ops[-1] if self.ops else None
            if top is not None and top[0] == kind:
                top[3] += 1
            else:
                self.push_op(kind, offset, lexeme, 2)
        elif kind in ("implies", "iff"):
            self.reduce_above(PRECEDENCE[kind])
            self.push_op(kind, offset, lexeme, 2)
        elif kind == "comma":
            self.reduce_above(0)
            top = self.ops[-1] if self.ops else None
            if top is None or top[0] != _CALL:
                raise self.error(offset, "',' outside the arguments of a CPX operator")
            cpx_kind = top[2]
            if cpx_kind not in BINARY_KINDS or top[3] >= 1:
                raise self.error(
                    offset, f"too many arguments for {OPERATOR_NAMES[cpx_kind]}; expected ')'"
                )
            top[3] += 1
        elif kind == "rp":
            self.reduce_above(0)
            if not self.ops:
                raise self.error(offset, "unmatched ')'")
            top = self.ops.pop()
            self.open_parens -= 1
            if top[0] == _CALL:
                self.close_call(top, offset)
        elif kind == "eof":
            self.reduce_above(0)
            if self.ops:
                top = self.ops[-1]
                what = "'('" if top[0] == _LP else f"{OPERATOR_NAMES[top[2]]}("
                raise self.error(top[1], f"{what} is never closed")
            return self.operands[0]
        else:
            where = " or ')'" if self.open_parens else " or end of input"
            hint = ""
            if prev is not None and prev[0] == "id" and prev[2] in _CALLS:
                hint = f"; CPX operators take their arguments in parentheses: {prev[2]}(…)"
            elif kind == "lp" and prev is not None and prev[0] == "id":
                hint = "; an atom takes no arguments"
            raise self.error(
                offset,
                f"expected an operator (&, |, ->, <->){where} after "
                f"{_describe(prev[0], prev[2])}, found {_describe(kind, lexeme)}{hint}",
            )
        return None

    def close_call(self, entry: list, offset: int) -> None:
        _, call_offset, kind, commas, index = entry
        cls = CPX_KINDS[kind]
        name = OPERATOR_NAMES[kind]
        if kind in BINARY_KINDS:
            if commas != 1:
                raise self.error(offset, f"{name} takes two formulas: {name}(φ, ψ)")
            right = self.operands.pop()
            node = cls(self.operands.pop(), right)
        else:
            arg = self.operands.pop()
            if kind == "eternal" and not is_pxl(arg):
                inner = next(n for n in _cpx_nodes(arg))
                raise self.error(
                    call_offset,
                    f"Eternal takes a pure PXL formula; its payload contains "
                    f"{OPERATOR_NAMES[inner.kind]}(…)",
                )
            node = cls(index, arg) if kind in INDEXED_KINDS else cls(arg)
        self.push_operand(node, call_offset)

    def missing_operand(self, tok, prev) -> FormulaError:
        kind, offset, lexeme = tok
        found = _describe(kind, lexeme)
        if prev is None:
            if kind == "eof":
                return self.error(0, "empty formula")
            return self.error(offset, f"expected a formula, found {found}")
        if kind == "rp" and prev[0] == "lp":
            return self.error(offset, "empty parentheses: expected a formula, found ')'")
        if kind == "num":
            return self.error(
                offset, "a number is only allowed as the time or agent of a CPX operator"
            )
        return self.error(offset, f"expected a formula after '{prev[2]}', found {found}")


def _cpx_nodes(f: Formula):
    return (n for n in postorder(f) if isinstance(n, CpxNode))

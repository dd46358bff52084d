"""The PXL text syntax -> formula AST (see docs/formula-language.md).

An operator-precedence (shunting-yard) parser with explicit stacks, so no input
can exhaust the Python stack.  Precedence, tightest first: the prefix operators
``~ ! ¬``, ``[] □``, ``<> ◇``; ``& ∧``; ``| ∨``; ``-> →`` (right-assoc);
``<-> ↔`` (right-assoc).  A chain ``a & b & c`` is one n-ary node, while
parentheses always make their own node, so ``(a & b) & c`` keeps its shape and
the canonical printer round-trips exactly.

Limits (workers/prover/limits.py) are checked as the text is read: the byte
length before anything else, the node count per token, and the nesting depth
whenever an operator opens or a node is built.
"""

from __future__ import annotations

import re

from workers.prover.errors import SYNTAX, TOO_DEEP, TOO_LARGE, TOO_MANY_NODES, FormulaError
from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.syntax import FALSE, TRUE, And, Atom, Box, Dia, Formula, Iff, Implies, Not, Or

# Token kinds are the regex group names.  Leading whitespace is part of each match
# (the token itself starts at m.start(m.lastgroup)); any other character is "err",
# so finditer never skips input.
_TOKEN_RE = re.compile(
    r"""\s*(?:
     (?P<id>[A-Za-z_][A-Za-z0-9_]*)
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
    |(?P<top>⊤)
    |(?P<bot>⊥)
    |(?P<end>\Z)
    |(?P<err>.)
    )""",
    re.VERBOSE | re.DOTALL,
)

# Operator precedence: a larger number binds tighter.
_PREC = {"iff": 1, "implies": 2, "or": 3, "and": 4, "not": 5, "box": 5, "dia": 5}
_UNARY = {"not": Not, "box": Box, "dia": Dia}
_KEYWORD_UNARY = {"BOX": "box", "DIA": "dia"}

# Hints for look-alikes and other languages' spellings.
_BAD_HINTS = {
    "&&": "'&&' is not PXL syntax; write '&'",
    "||": "'||' is not PXL syntax; write '|'",
    "=>": "'=>' is not PXL syntax; write '->'",
    "<=>": "'<=>' is not PXL syntax; write '<->'",
    "==": "'==' is not PXL syntax; write '<->'",
}
_CHAR_HINTS = {
    "[": "did you mean '[]' (necessarily)?",
    "]": "did you mean '[]' (necessarily)?",
    "<": "did you mean '<>' (possibly) or '<->'?",
    ">": "did you mean '->'?",
    "-": "did you mean '->'?",
    "=": "did you mean '->' or '<->'?",
    "◻": "did you mean '□' (U+25A1)?",
    "◊": "did you mean '◇' (U+25C7)?",
    "⋄": "did you mean '◇' (U+25C7)?",
    "⇒": "did you mean '→' or '->'?",
    "⊃": "did you mean '→' or '->'?",
    "⇔": "did you mean '↔' or '<->'?",
    "∼": "did you mean '~' or '¬'?",
    "{": "a JSON formula object is not text syntax; send it as an object, not a string",
}

_LP = "lp"  # operator-stack marker for an open parenthesis


def parse_formula(text: str) -> Formula:
    """Parse PXL text into a formula; raise ``FormulaError`` on bad input or a broken limit."""
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, not {type(text).__name__}")
    _check_size(text)
    return _Parser(text).parse()


def _check_size(text: str) -> None:
    # Every character is at least one UTF-8 byte, so a long str fails without encoding.
    n = len(text) if len(text) > MAX_TEXT_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if n > MAX_TEXT_BYTES:
        raise FormulaError(
            f"formula text is {n} bytes; the limit is {MAX_TEXT_BYTES} bytes (MAX_TEXT_BYTES)",
            code=TOO_LARGE,
        )


def _describe(kind: str, lexeme: str) -> str:
    if kind == "eof":
        return "end of input"
    if kind == "id" and lexeme not in ("true", "false"):
        return f"atom '{lexeme}'"
    return f"'{lexeme}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.operands: list[Formula] = []
        # Entries: [kind, offset, lexeme, arity]; arity counts operands of an n-ary chain.
        self.ops: list[list] = []
        self.pending = 0  # operators (not parentheses) on self.ops
        self.open_parens = 0
        self.nodes = 0
        self.atoms: dict[str, Atom] = {}  # interning is costlier than a local lookup

    def error(self, offset: int, message: str, code: str = SYNTAX) -> FormulaError:
        return FormulaError.at(self.text, offset, message, code=code)

    # -- tokens ---------------------------------------------------------------

    def tokens(self):
        """Yield (kind, offset, lexeme) for each token, ending with ('eof', ...)."""
        last_end = 0
        for m in _TOKEN_RE.finditer(self.text):
            kind = m.lastgroup
            if kind == "end":
                break
            pos = m.start(kind)
            lexeme = m.group(kind)
            if kind == "err":
                ch = lexeme
                shown = repr(ch)[1:-1] if ch.isprintable() else f"U+{ord(ch):04X}"
                hint = _CHAR_HINTS.get(ch)
                if hint is None and ch.isdigit():
                    hint = "atom names start with a letter or '_'"
                msg = f"unexpected character '{shown}'" + (f"; {hint}" if hint else "")
                raise self.error(pos, msg)
            if kind == "bad":
                raise self.error(pos, _BAD_HINTS[lexeme])
            yield kind, pos, lexeme
            last_end = m.end()
        # End of input is reported just after the last token (not after trailing blank lines).
        yield "eof", last_end, ""

    # -- stacks ---------------------------------------------------------------

    def push_op(self, kind: str, offset: int, lexeme: str, arity: int = 1) -> None:
        self.pending += 1
        # Each pending operator encloses whatever operand comes next.
        if self.pending >= MAX_DEPTH:
            raise self.error(
                offset,
                f"formula is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)",
                TOO_DEEP,
            )
        self.count_node(offset)
        self.ops.append([kind, offset, lexeme, arity])

    def count_node(self, offset: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(
                offset,
                f"formula has more than {MAX_NODES} nodes (MAX_NODES)",
                TOO_MANY_NODES,
            )

    def reduce_top(self) -> None:
        kind, offset, _lexeme, arity = self.ops.pop()
        self.pending -= 1
        operands = self.operands
        if kind in _UNARY:
            node = _UNARY[kind](operands.pop())
        else:
            args = operands[-arity:]
            del operands[-arity:]
            if kind == "and":
                node = And(args)
            elif kind == "or":
                node = Or(args)
            elif kind == "implies":
                node = Implies(*args)
            else:
                node = Iff(*args)
        if node.depth > MAX_DEPTH:
            raise self.error(
                offset,
                f"formula is nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)",
                TOO_DEEP,
            )
        operands.append(node)

    def reduce_above(self, prec: int) -> None:
        """Reduce operators binding tighter than ``prec`` (stopping at a parenthesis)."""
        ops = self.ops
        while ops and ops[-1][0] != _LP and _PREC[ops[-1][0]] > prec:
            self.reduce_top()

    # -- grammar --------------------------------------------------------------

    def parse(self) -> Formula:
        tokens = self.tokens()
        expect_operand = True
        prev = None  # the previous token (kind, offset, lexeme)
        for tok in tokens:
            kind, offset, lexeme = tok
            if expect_operand:
                if kind == "id":
                    if lexeme in _KEYWORD_UNARY:
                        nxt = next(tokens)
                        if nxt[0] != "lp":
                            raise self.error(
                                offset,
                                f"'{lexeme}' is a keyword, not an atom name; write {lexeme}(φ)",
                            )
                        self.push_op(_KEYWORD_UNARY[lexeme], offset, lexeme)
                        self.open_paren(nxt[1])
                        prev = nxt
                        continue
                    self.count_node(offset)
                    if lexeme == "true":
                        self.operands.append(TRUE)
                    elif lexeme == "false":
                        self.operands.append(FALSE)
                    else:
                        atom = self.atoms.get(lexeme)
                        if atom is None:
                            atom = self.atoms[lexeme] = Atom(lexeme)
                        self.operands.append(atom)
                    expect_operand = False
                elif kind in ("top", "bot"):
                    self.count_node(offset)
                    self.operands.append(TRUE if kind == "top" else FALSE)
                    expect_operand = False
                elif kind in _UNARY:
                    self.push_op(kind, offset, lexeme)
                elif kind == "lp":
                    self.open_paren(offset)
                else:
                    raise self.missing_operand(tok, prev)
            else:
                if kind in ("and", "or"):
                    self.reduce_above(_PREC[kind])
                    top = self.ops[-1] if self.ops else None
                    if top is not None and top[0] == kind:
                        top[3] += 1  # one more argument of the same chain
                    else:
                        self.push_op(kind, offset, lexeme, 2)
                    expect_operand = True
                elif kind in ("implies", "iff"):
                    # Right-associative: leave an equal operator on the stack.
                    self.reduce_above(_PREC[kind])
                    self.push_op(kind, offset, lexeme, 2)
                    expect_operand = True
                elif kind == "rp":
                    self.reduce_above(0)
                    if not self.ops:
                        raise self.error(offset, "unmatched ')'")
                    self.ops.pop()
                    self.open_parens -= 1
                elif kind == "eof":
                    self.reduce_above(0)
                    if self.ops:
                        raise self.error(self.ops[-1][1], "'(' is never closed")
                    return self.operands[0]
                else:
                    where = " or ')'" if self.open_parens else " or end of input"
                    hint = ""
                    if kind == "lp" and prev[0] == "id" and prev[2] not in ("true", "false"):
                        hint = (
                            "; an atom takes no arguments (the modal operators are BOX(φ), DIA(φ))"
                        )
                    raise self.error(
                        offset,
                        f"expected an operator (&, |, ->, <->){where} after "
                        f"{_describe(*prev[::2])}, found {_describe(kind, lexeme)}{hint}",
                    )
            prev = tok
        raise AssertionError("token stream ended without 'eof'")  # pragma: no cover

    def open_paren(self, offset: int) -> None:
        self.open_parens += 1
        if self.open_parens > MAX_DEPTH:
            raise self.error(
                offset,
                f"parentheses are nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)",
                TOO_DEEP,
            )
        self.ops.append([_LP, offset, "(", 0])

    def missing_operand(self, tok, prev) -> FormulaError:
        kind, offset, lexeme = tok
        found = _describe(kind, lexeme)
        if prev is None:
            if kind == "eof":
                return self.error(0, "empty formula")
            return self.error(offset, f"expected a formula, found {found}")
        if kind == "rp" and prev[0] == "lp":
            return self.error(offset, "empty parentheses: expected a formula, found ')'")
        return self.error(offset, f"expected a formula after '{prev[2]}', found {found}")

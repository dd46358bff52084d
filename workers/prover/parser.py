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

# One scan: each match is optional whitespace and one token (its group).  Longer
# operators come first; a lone character the grammar does not know is its own
# token and is reported; "" (at the end) is the end of input, so findall never
# skips input.
_TOKEN_RE = re.compile(
    r"\s*(&&|\|\||<=>|=>|==|<->|->|<>|\[\]|[A-Za-z_][A-Za-z0-9_]*|\Z|.)", re.DOTALL
)
_KIND = {
    "~": "not", "!": "not", "¬": "not",
    "[]": "box", "□": "box",
    "<>": "dia", "◇": "dia",
    "&": "and", "∧": "and",
    "|": "or", "∨": "or",
    "->": "implies", "→": "implies",
    "<->": "iff", "↔": "iff",
    "(": "lp", ")": "rp",
    "true": "top", "⊤": "top",
    "false": "bot", "⊥": "bot",
    "BOX": "keyword", "DIA": "keyword",
    "&&": "bad", "||": "bad", "<=>": "bad", "=>": "bad", "==": "bad",
    "": "eof",
}  # fmt: skip
_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def _kind(lexeme: str) -> str:
    kind = _KIND.get(lexeme)
    if kind is None:
        kind = "id" if lexeme[0] in _ID_START else "err"
    return kind


# Operator precedence: a larger number binds tighter.
PRECEDENCE = {"iff": 1, "implies": 2, "or": 3, "and": 4, "not": 5, "box": 5, "dia": 5}
UNARY = {"not": Not, "box": Box, "dia": Dia}
_BINARY = frozenset({"and", "or", "implies", "iff"})
KEYWORD_UNARY = {"BOX": "box", "DIA": "dia"}
_CONST = {"top": TRUE, "bot": FALSE}

# Hints for look-alikes and other languages' spellings.
BAD_HINTS = {
    "&&": "'&&' is not PXL syntax; write '&'",
    "||": "'||' is not PXL syntax; write '|'",
    "=>": "'=>' is not PXL syntax; write '->'",
    "<=>": "'<=>' is not PXL syntax; write '<->'",
    "==": "'==' is not PXL syntax; write '<->'",
}
CHAR_HINTS = {
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


def parse_formula_spans(text: str) -> tuple[Formula, dict[str, Formula]]:
    """``parse_formula(text)`` and, for every node the parse built, its own text: the
    characters from its first token to its last (the parentheses around the node excluded,
    those inside it kept) mapped to the node.  Such a text parses to that very node
    (``parse_formula(t) is node``: a complete subexpression read alone, with fewer pending
    operators and parentheses than in context; tests/unit/test_parser.py checks it on random
    texts), so a reader of many texts that are parts of one (the tableau checker: every entry
    of a tableau is a subformula of its root) can look them up instead of parsing each."""
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, not {type(text).__name__}")
    _check_size(text)
    parser = _Parser(text)
    parser.spans = []
    formula = parser.parse()
    bounds = [m.span(1) for m in _TOKEN_RE.finditer(text)]
    own: dict[str, Formula] = {}
    for first, last, node in parser.spans:
        own.setdefault(text[bounds[first][0] : bounds[last][1]], node)
    return formula, own


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
    if kind == "id":
        return f"atom '{lexeme}'"
    return f"'{lexeme}'"


class _Parser:
    """One parse.  Stack entries and errors refer to tokens by index; their
    character offsets are only computed when an error is reported."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[str] = _TOKEN_RE.findall(text)
        self.toks.append("")  # findall ends with "" already; this makes it certain
        self._offsets: list[int] | None = None
        self.operands: list[Formula] = []
        # Entries: [kind, token index, arity]; arity counts operands of an n-ary chain.
        self.ops: list[list] = []
        self.pending = 0  # operators (not parentheses) on self.ops
        self.open_parens = 0
        self.nodes = 0
        self.atoms: dict[str, Atom] = {}  # interning is costlier than a local lookup
        # parse_formula_spans: (first token, last token, node) of every node built, and the
        # first token of each operand on the stack (its opening parenthesis, if any)
        self.spans: list[tuple[int, int, Formula]] | None = None
        self.starts: list[int] = []

    # -- errors ---------------------------------------------------------------

    def offset(self, index: int) -> int:
        """Character offset of token ``index`` (end of input: just after the last token)."""
        if self._offsets is None:
            self._offsets = [m.start(1) for m in _TOKEN_RE.finditer(self.text)]
        toks, offsets = self.toks, self._offsets
        if toks[index] == "":
            return offsets[index - 1] + len(toks[index - 1]) if index else 0
        return offsets[index]

    def error(self, index: int, message: str, code: str = SYNTAX) -> FormulaError:
        return FormulaError.at(self.text, self.offset(index), message, code=code)

    def bad_token(self, index: int, kind: str) -> FormulaError:
        lexeme = self.toks[index]
        if kind == "bad":
            return self.error(index, BAD_HINTS[lexeme])
        shown = repr(lexeme)[1:-1] if lexeme.isprintable() else f"U+{ord(lexeme):04X}"
        hint = CHAR_HINTS.get(lexeme)
        if hint is None and lexeme.isdigit():
            hint = "atom names start with a letter or '_'"
        return self.error(index, f"unexpected character '{shown}'" + (f"; {hint}" if hint else ""))

    def too_deep(self, index: int, what: str = "formula is") -> FormulaError:
        return self.error(
            index, f"{what} nested deeper than {MAX_DEPTH} levels (MAX_DEPTH)", TOO_DEEP
        )

    # -- stacks ---------------------------------------------------------------

    def count_node(self, index: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(
                index, f"formula has more than {MAX_NODES} nodes (MAX_NODES)", TOO_MANY_NODES
            )

    # -- grammar --------------------------------------------------------------

    def parse(self) -> Formula:
        # The loop keeps the stacks and counters in locals and reduces inline (this parser
        # also reads every entry of every tableau the prover checks: a method call per token
        # was most of its time).  The methods above build the
        # error messages; ``self.pending``/``self.open_parens``/``self.nodes`` are written
        # back before anything that reads them.
        toks, operands, atoms, ops = self.toks, self.operands, self.atoms, self.ops
        spans, starts = self.spans, self.starts
        kinds, precedence, unary = _KIND, PRECEDENCE, UNARY
        max_depth, max_nodes = MAX_DEPTH, MAX_NODES
        nodes = pending = open_parens = 0
        expect_operand = True
        i = 0
        while True:
            lexeme = toks[i]
            kind = kinds.get(lexeme)
            if kind is None:
                kind = "id" if lexeme[0] in _ID_START else "err"
            if kind == "err" or kind == "bad":
                raise self.bad_token(i, kind)
            if expect_operand:
                if kind == "id":
                    nodes += 1
                    if nodes > max_nodes:
                        self.nodes = nodes
                        self.count_node(i)
                    atom = atoms.get(lexeme)
                    if atom is None:
                        atom = atoms[lexeme] = Atom(lexeme)
                    operands.append(atom)
                    if spans is not None:
                        starts.append(i)
                        spans.append((i, i, atom))
                    expect_operand = False
                elif kind == "top" or kind == "bot":
                    nodes += 1
                    if nodes > max_nodes:
                        self.nodes = nodes
                        self.count_node(i)
                    operands.append(_CONST[kind])
                    if spans is not None:
                        starts.append(i)
                        spans.append((i, i, operands[-1]))
                    expect_operand = False
                elif kind in unary or kind == "keyword":
                    keyword = kind == "keyword"
                    if keyword:
                        if toks[i + 1] != "(":
                            raise self.error(
                                i, f"'{lexeme}' is a keyword, not an atom name; write {lexeme}(φ)"
                            )
                        kind = KEYWORD_UNARY[lexeme]
                    # push the operator; a pending operator encloses the next operand
                    pending += 1
                    if pending >= max_depth:
                        raise self.too_deep(i)
                    nodes += 1
                    if nodes > max_nodes:
                        self.nodes = nodes
                        self.count_node(i)
                    ops.append([kind, i, 1])
                    if keyword:
                        i += 1
                        open_parens += 1
                        if open_parens > max_depth:
                            raise self.too_deep(i, "parentheses are")
                        ops.append([_LP, i, 0])
                elif kind == "lp":
                    open_parens += 1
                    if open_parens > max_depth:
                        raise self.too_deep(i, "parentheses are")
                    ops.append([_LP, i, 0])
                else:
                    self.open_parens = open_parens
                    raise self.missing_operand(i, kind)
            elif kind == "rp" or kind == "eof" or kind in _BINARY:
                # build the nodes of pending operators binding tighter than this one (up to
                # a '(')
                prec = 0 if kind == "rp" or kind == "eof" else precedence[kind]
                while ops:
                    top = ops[-1]
                    top_kind = top[0]
                    if top_kind == _LP or precedence[top_kind] <= prec:
                        break
                    ops.pop()
                    pending -= 1
                    arity = top[2]
                    if arity == 1:
                        node = unary[top_kind](operands[-1])
                        operands[-1] = node
                        if spans is not None:
                            starts[-1] = top[1]  # from the operator (or BOX/DIA) on
                            spans.append((top[1], i - 1, node))
                    else:
                        args = operands[-arity:]
                        del operands[-arity:]
                        if top_kind == "and":
                            node = And(args)
                        elif top_kind == "or":
                            node = Or(args)
                        elif top_kind == "implies":
                            node = Implies(*args)
                        else:
                            node = Iff(*args)
                        operands.append(node)
                        if spans is not None:
                            first = starts[-arity]
                            del starts[-arity:]
                            starts.append(first)
                            spans.append((first, i - 1, node))
                    if node.depth > max_depth:
                        raise self.too_deep(top[1])
                if kind == "rp":
                    if not ops:
                        raise self.error(i, "unmatched ')'")
                    lp = ops.pop()
                    open_parens -= 1
                    if spans is not None:
                        starts[-1] = lp[1]  # the operand now starts at its '('

                elif kind == "eof":
                    if ops:
                        raise self.error(ops[-1][1], "'(' is never closed")
                    return operands[0]
                elif (kind == "and" or kind == "or") and ops and ops[-1][0] == kind:
                    ops[-1][2] += 1  # one more argument of the same chain
                    expect_operand = True
                else:
                    # push the operator (-> and <-> are right-associative: an equal operator
                    # stayed on the stack above); a pending operator encloses the next operand
                    pending += 1
                    if pending >= max_depth:
                        raise self.too_deep(i)
                    nodes += 1
                    if nodes > max_nodes:
                        self.nodes = nodes
                        self.count_node(i)
                    ops.append([kind, i, 2])
                    expect_operand = True
            else:
                self.open_parens = open_parens
                raise self.missing_operator(i, kind)
            i += 1

    def missing_operand(self, i: int, kind: str) -> FormulaError:
        found = _describe(kind, self.toks[i])
        if i == 0:
            if kind == "eof":
                return self.error(0, "empty formula")
            return self.error(i, f"expected a formula, found {found}")
        before = self.toks[i - 1]
        if kind == "rp" and before == "(":
            return self.error(i, "empty parentheses: expected a formula, found ')'")
        return self.error(i, f"expected a formula after '{before}', found {found}")

    def missing_operator(self, i: int, kind: str) -> FormulaError:
        where = " or ')'" if self.open_parens else " or end of input"
        before = self.toks[i - 1]
        before_kind = _kind(before)
        hint = ""
        if kind == "lp" and before_kind == "id":
            hint = "; an atom takes no arguments (the modal operators are BOX(φ), DIA(φ))"
        return self.error(
            i,
            f"expected an operator (&, |, ->, <->){where} after "
            f"{_describe(before_kind, before)}, found {_describe(kind, self.toks[i])}{hint}",
        )

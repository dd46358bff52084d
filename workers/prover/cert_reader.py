"""The certificate checker's own reader: PXL text straight to the ``pxl-s5-enc/1`` clauses.

Checking a certificate needs the formula's encoding, not its syntax tree.  Building the
hash-consed AST (parser.py, syntax.py) and then walking it (``certificate._encode``) cost
most of a check on large formulas proved in one or two SAT calls, more than the proof
itself; this reader does both in one pass over the tokens, with plain integers for the
nodes, so a check stays cheaper than the proof it checks (docs/benchmarks.md).

It reads the grammar of parser.py (same tokenizer, same precedence and n-ary chains,
parentheses make their own node) and numbers the nodes as ``certificate._encode`` does:
a node's identity is its kind and its children's identities (hash-consing with integer
ids), and a bottom-up parse completes the nodes in post-order, so the first completion
of each distinct node is ``syntax.postorder``'s order.  It returns ``None`` for anything
it does not handle — a syntax error, a broken limit, the ``BOX(…)``/``DIA(…)`` keyword
forms, a look-alike token — and the caller then parses with parse_formula (which gives the
error, or the formula for ``certificate._encode``).  So it never accepts a text the
parser rejects, and ``tests/unit/test_certificates.py`` compares its encoding with
``_encode(parse_formula(text))`` on generated and benchmark formulas.
"""

from __future__ import annotations

from workers.prover.limits import MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES
from workers.prover.parser import _TOKEN_RE

# Token codes.  Prefix operators 1-3, binary 4-7 (their precedence: _PREC).
_NOT, _BOX, _DIA, _AND, _OR, _IMP, _IFF, _LP, _RP, _TOP, _BOT, _EOF = range(1, 13)
_CODE = {
    "~": _NOT, "!": _NOT, "¬": _NOT,
    "[]": _BOX, "□": _BOX,
    "<>": _DIA, "◇": _DIA,
    "&": _AND, "∧": _AND,
    "|": _OR, "∨": _OR,
    "->": _IMP, "→": _IMP,
    "<->": _IFF, "↔": _IFF,
    "(": _LP, ")": _RP,
    "true": _TOP, "⊤": _TOP,
    "false": _BOT, "⊥": _BOT,
    "": _EOF,
    # Handled by parse_formula only (keyword forms, look-alikes): code 0.
    "BOX": 0, "DIA": 0, "&&": 0, "||": 0, "<=>": 0, "=>": 0, "==": 0,
}  # fmt: skip
_ID_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
# Precedence by code (a larger number binds tighter; parser.PRECEDENCE); the '(' marker 0.
_PREC = (0, 5, 5, 5, 4, 3, 2, 1)


def read_encoding(text: str) -> tuple | None:
    """(root literal, number of variables, clauses, box variable -> argument literal,
    global variables, number of distinct atoms) of the formula ``text`` — what
    ``certificate._encode`` gives, and the atom count the worlds bound needs — or None
    when parse_formula must decide."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_BYTES:
        return None
    if not text.isascii() and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        return None
    toks = _TOKEN_RE.findall(text)
    toks.append("")
    code_of = _CODE.get
    id_start = _ID_START

    lit: list[int] = []  # node id -> literal
    depth: list[int] = []  # node id -> nesting depth (a leaf has 1)
    interned: dict = {}  # (children ids..., code) or atom name -> node id
    box_of: dict[int, int] = {}  # argument literal -> box variable
    box_arg: dict[int, int] = {}
    clauses: list[list[int]] = [[1]]
    glob = bytearray(MAX_NODES + 2)  # variable -> 1 when global
    glob[1] = 1
    nvars = 1
    atoms = 0

    operands: list[int] = []  # node ids
    # Operator stack: code | 16 * arity (arity counts an n-ary chain's operands); 0 is '('.
    ops: list[int] = []
    prec_of = _PREC
    pending = 0  # operators (not parentheses) on the stack
    parens = 0
    nodes = 0

    def build(code: int, kids: tuple) -> int:
        """The node ``code(kids)``: its id, made (and encoded) on first sight."""
        nonlocal nvars
        key = (*kids, code)
        node = interned.get(key)
        if node is not None:
            return node
        node = len(lit)
        interned[key] = node
        d = 0
        for k in kids:
            if depth[k] > d:
                d = depth[k]
        depth.append(d + 1)
        if code <= _DIA:
            a = lit[kids[0]]
            if code == _NOT:
                lit.append(-a)
                return node
            if code == _DIA:
                a = -a
            b = box_of.get(a)
            if b is None:
                nvars += 1
                b = box_of[a] = nvars
                box_arg[b] = a
                glob[b] = 1
                clauses.append([-b, a])
            lit.append(b if code == _BOX else -b)
            return node
        nvars += 1
        x = nvars
        lit.append(x)
        args = [lit[k] for k in kids]
        for a in args:
            if not glob[a if a > 0 else -a]:
                break
        else:
            glob[x] = 1
        if code == _AND:
            clauses.extend([[-x, a] for a in args])
            clauses.append([x, *[-a for a in args]])
        elif code == _OR:
            clauses.extend([[x, -a] for a in args])
            clauses.append([-x, *args])
        elif code == _IMP:
            a, b = args
            clauses.extend(([x, a], [x, -b], [-x, -a, b]))
        else:
            a, b = args
            clauses.extend(([-x, -a, b], [-x, a, -b], [x, a, b], [x, -a, -b]))
        return node

    def leaf(key, literal: int) -> int:
        node = len(lit)
        interned[key] = node
        lit.append(literal)
        depth.append(1)
        return node

    def reduce_above(prec: int) -> bool:
        """Build the pending operators binding tighter than ``prec``; False: too deep."""
        nonlocal pending
        while ops and prec_of[ops[-1] & 15] > prec:
            entry = ops.pop()
            code, arity = entry & 15, entry >> 4
            pending -= 1
            if arity == 1:
                node = build(code, (operands[-1],))
                operands[-1] = node
            else:
                kids = tuple(operands[-arity:])
                del operands[-arity:]
                node = build(code, kids)
                operands.append(node)
            if depth[node] > MAX_DEPTH:
                return False
        return True

    expect_operand = True
    for tok in toks:
        code = code_of(tok)
        if code is None:  # an atom name (or a character the grammar does not know)
            if not expect_operand or tok[0] not in id_start:
                return None
            nodes += 1
            node = interned.get(tok)
            if node is None:
                nvars += 1
                atoms += 1
                node = leaf(tok, nvars)
            operands.append(node)
            expect_operand = False
        elif expect_operand:
            if code <= _DIA and code:
                pending += 1
                nodes += 1
                if pending >= MAX_DEPTH:
                    return None
                ops.append(code | 16)
            elif code == _LP:
                parens += 1
                if parens > MAX_DEPTH:
                    return None
                ops.append(0)
            elif code in (_TOP, _BOT):
                nodes += 1
                node = interned.get(code)
                if node is None:
                    node = leaf(code, 1 if code == _TOP else -1)
                operands.append(node)
                expect_operand = False
            else:
                return None
        elif code in (_AND, _OR):
            if ops and prec_of[ops[-1] & 15] > prec_of[code] and not reduce_above(prec_of[code]):
                return None
            if ops and ops[-1] & 15 == code:
                ops[-1] += 16  # one more argument of the same chain
            else:
                pending += 1
                nodes += 1
                if pending >= MAX_DEPTH:
                    return None
                ops.append(code | 32)
            expect_operand = True
        elif code in (_IMP, _IFF):
            # Right-associative: an equal operator stays on the stack.
            if ops and prec_of[ops[-1] & 15] > prec_of[code] and not reduce_above(prec_of[code]):
                return None
            pending += 1
            nodes += 1
            if pending >= MAX_DEPTH:
                return None
            ops.append(code | 32)
            expect_operand = True
        elif code == _RP:
            if not reduce_above(0) or not ops:
                return None
            ops.pop()
            parens -= 1
        elif code == _EOF:
            if not reduce_above(0) or ops:
                return None
            break
        else:
            return None
    if nodes > MAX_NODES:
        return None
    global_vars = {v for v in range(1, nvars + 1) if glob[v]}
    return lit[operands[0]], nvars, clauses, box_arg, global_vars, atoms

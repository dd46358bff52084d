"""Independent checker of closed S5 tableaux (format ``pxl-s5-tableau/1``, docs/tableau.md).

It shares nothing with the procedure that builds them (tableau.py) but the formula syntax and
the parser: its own rule table below, its own walk over the tree.  A tableau is accepted when

* node 0 is the root, rule ``goal``, with the single entry ``w F φ`` for the formula checked;
* every other node names an earlier node as parent (so the nodes form a tree) and a premise
  entry on its branch (the entries of its ancestors), and its entries are exactly what its
  rule gives from that premise: ``alpha``/``nu``/``pi`` as the only child of its parent,
  ``beta`` as one of exactly as many siblings as the premise has alternatives, in order, all
  from the same premise;  a ``nu`` conclusion is at a label already on the branch, a ``pi``
  conclusion at a label nowhere on the branch;
* every leaf is closed: ``closed`` names entries on its branch that clash (``w T a`` and
  ``w F a``, or one entry ``w T false`` / ``w F true``), and no inner node claims closure.

Soundness: if φ were false at a world of some S5 model, the root is satisfied by mapping label
w to that world; every rule keeps some child branch satisfiable (alpha and nu: consequences,
the relation being universal; beta: one alternative holds; pi: the fresh label is mapped to a
witness world, which no earlier entry constrains); a closed branch is unsatisfiable; so a
tableau whose every leaf is closed proves φ valid.
"""

from __future__ import annotations

from workers.prover.errors import FormulaError
from workers.prover.parser import parse_formula, parse_formula_spans
from workers.prover.syntax import And, Box, Const, Dia, Formula, Iff, Implies, Not, Or

FORMAT = "pxl-s5-tableau/1"
MAX_NODES = 20_000
# A root text up to this long is parsed with its parts' texts (parse_formula_spans): at most
# about this many squared characters of part texts (16 M), and well above the texts of the
# formulas the prover builds tableaux for (tableau.MAX_FORMULA_NODES = 200 nodes).
SPAN_TEXT_CHARS = 4_096
Entry = tuple[int, bool, Formula]  # world, sign (True = T), formula


class TableauError(ValueError):
    pass


def _linear(rule: str, sign: bool, f: Formula) -> list[tuple[bool, Formula]] | None:
    """The signed conclusions of a one-child rule (labels aside), or None if it does not apply."""
    if rule == "alpha":
        if isinstance(f, Not):
            return [(not sign, f.arg)]
        if sign and isinstance(f, And) or not sign and isinstance(f, Or):
            return [(sign, a) for a in f.args]
        if not sign and isinstance(f, Implies):
            return [(True, f.left), (False, f.right)]
        return None
    universal = sign and isinstance(f, Box) or not sign and isinstance(f, Dia)
    existential = not sign and isinstance(f, Box) or sign and isinstance(f, Dia)
    if rule == "nu" and universal or rule == "pi" and existential:
        return [(sign, f.arg)]
    return None


def _alternatives(sign: bool, f: Formula) -> list[list[tuple[bool, Formula]]] | None:
    if not sign and isinstance(f, And) or sign and isinstance(f, Or):
        return [[(sign, a)] for a in f.args]
    if sign and isinstance(f, Implies):
        return [[(False, f.left)], [(True, f.right)]]
    if isinstance(f, Iff):
        a, b = f.left, f.right
        if sign:
            return [[(True, a), (True, b)], [(False, a), (False, b)]]
        return [[(True, a), (False, b)], [(False, a), (True, b)]]
    return None


def _entry(raw: object, seen_ids: set[int], parsed: dict[str, Formula]) -> tuple[int, Entry]:
    if not isinstance(raw, dict):
        raise TableauError("an entry is an object")
    eid, world, sign, text = raw.get("id"), raw.get("world"), raw.get("sign"), raw.get("formula")
    if type(eid) is not int or type(world) is not int or sign not in ("T", "F"):
        raise TableauError(f"entry {eid!r}: needs an integer id and world and a sign T or F")
    if not isinstance(text, str):
        raise TableauError(f"entry {eid}: formula text missing")
    if eid in seen_ids:
        raise TableauError(f"entry id {eid} used twice")
    seen_ids.add(eid)
    formula = parsed.get(text)
    if formula is None:  # the same texts recur on many entries: each is parsed once
        try:
            if parsed or len(text) > SPAN_TEXT_CHARS:
                formula = parsed[text] = parse_formula(text)
            else:
                # The first text read (the root's): its parse also gives the text of each of
                # its subformulas (parse_formula_spans), which is what the other entries
                # are, so they are looked up, not parsed again (parse(t) is the same node).
                # Only for short texts: the parts' texts together can be as long as the
                # text times its nesting depth (a tableau from a file is untrusted input).
                formula, parts = parse_formula_spans(text)
                parsed.update(parts)
                parsed[text] = formula
        except FormulaError as exc:
            raise TableauError(f"entry {eid}: {exc}") from None
    return eid, (world, sign == "T", formula)


def check_tableau(formula: Formula, tableau: object) -> tuple[bool, str]:
    """(True, summary) if ``tableau`` is a closed S5 tableau for ``formula``, else (False, why)."""
    try:
        return True, _check(formula, tableau)
    except TableauError as exc:
        return False, str(exc)


def _check(formula: Formula, tableau: object) -> str:
    if not isinstance(tableau, dict) or tableau.get("format") != FORMAT:
        raise TableauError(f"not a {FORMAT} tableau")
    nodes = tableau.get("nodes")
    if not isinstance(nodes, list) or not nodes or len(nodes) > MAX_NODES:
        raise TableauError(f"nodes: a list of 1..{MAX_NODES} nodes")
    seen_ids: set[int] = set()
    parsed: dict[str, Formula] = {}
    entries: list[list[tuple[int, Entry]]] = []
    children: list[list[int]] = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or node.get("id") != index:
            raise TableauError(f"node {index}: nodes are objects numbered 0, 1, 2, ... in order")
        raw_entries = node.get("entries")
        if not isinstance(raw_entries, list) or not raw_entries:
            raise TableauError(f"node {index}: no entries")
        entries.append([_entry(e, seen_ids, parsed) for e in raw_entries])
        parent = node.get("parent")
        if index == 0:
            if parent is not None or node.get("rule") != "goal":
                raise TableauError("node 0 must be the root (rule goal, no parent)")
            if len(entries[0]) != 1 or entries[0][0][1][1:] != (False, formula):
                raise TableauError("the root must be the single entry F <the formula>")
        else:
            if type(parent) is not int or not 0 <= parent < index:
                raise TableauError(f"node {index}: parent must be an earlier node")
            children[parent].append(index)

    leaves = 0
    # Depth-first over the tree with one branch (entry id -> entry) and the number of its
    # entries at each world, extended on the way down and undone on the way up (``~index``
    # on the stack): a copy per node made the check quadratic in the tree's depth.
    branch: dict[int, Entry] = {}
    worlds: dict[int, int] = {}
    stack = [0]
    while stack:
        index = stack.pop()
        if index < 0:
            for eid, (world, _sign, _f) in entries[~index]:
                del branch[eid]
                worlds[world] -= 1
                if not worlds[world]:
                    del worlds[world]
            continue
        for eid, entry in entries[index]:
            branch[eid] = entry
            worlds[entry[0]] = worlds.get(entry[0], 0) + 1
        stack.append(~index)
        node = nodes[index]
        kids = children[index]
        if not kids:
            _check_closed(index, node.get("closed"), branch)
            leaves += 1
            continue
        if node.get("closed") is not None:
            raise TableauError(f"node {index}: an inner node cannot be closed")
        _check_expansion(
            index, [nodes[k] for k in kids], [entries[k] for k in kids], branch, worlds
        )
        stack.extend(kids)
    return f"closed tableau: {len(nodes)} nodes, {len(seen_ids)} entries, {leaves} closed branches"


def _check_closed(index: int, closed: object, branch: dict[int, Entry]) -> None:
    if not isinstance(closed, list) or not all(type(i) is int for i in closed):
        raise TableauError(f"node {index}: an open branch (a leaf must be closed)")
    if any(i not in branch for i in closed):
        raise TableauError(f"node {index}: closed names an entry not on its branch")
    found = [branch[i] for i in closed]
    if len(found) == 1:
        _world, sign, f = found[0]
        if isinstance(f, Const) and f.value != sign:
            return
    elif len(found) == 2:
        (w1, s1, f1), (w2, s2, f2) = found
        if w1 == w2 and f1 is f2 and s1 != s2:
            return
    raise TableauError(f"node {index}: the entries {closed} do not clash")


def _check_expansion(
    index: int, kids: list[dict], kid_entries: list[list[tuple[int, Entry]]],
    branch: dict[int, Entry], labels: dict[int, int],
) -> None:
    """``labels``: the worlds of the branch's entries (with their counts)."""
    rules = {k.get("rule") for k in kids}
    premises = {k.get("premise") for k in kids}
    if len(rules) != 1 or len(premises) != 1:
        raise TableauError(f"node {index}: its children come from different rules or premises")
    rule, premise = rules.pop(), premises.pop()
    if type(premise) is not int or premise not in branch:
        raise TableauError(f"node {index}: a child's premise is not an entry on its branch")
    world, sign, f = branch[premise]
    got = [[(w, s, g) for _id, (w, s, g) in es] for es in kid_entries]
    if rule == "beta":
        alternatives = _alternatives(sign, f)
        if alternatives is None or len(alternatives) != len(kids):
            raise TableauError(f"node {index}: beta needs one child per alternative of the premise")
        want = [[(world, s, g) for s, g in alt] for alt in alternatives]
        if got != want:
            raise TableauError(f"node {index}: beta children are not the premise's alternatives")
        return
    if len(kids) != 1:
        raise TableauError(f"node {index}: only beta may branch")
    conclusions = _linear(rule, sign, f) if rule in ("alpha", "nu", "pi") else None
    if conclusions is None:
        raise TableauError(f"node {index}: rule {rule!r} does not apply to entry {premise}")
    if rule == "alpha":
        ok = got[0] == [(world, s, g) for s, g in conclusions]
    else:
        (s, g), = conclusions
        ok = len(got[0]) == 1 and got[0][0][1:] == (s, g)
        target = got[0][0][0] if got[0] else None
        if rule == "nu" and target not in labels:
            raise TableauError(f"node {index}: nu conclusion at a label not on the branch")
        if rule == "pi" and target in labels:
            raise TableauError(f"node {index}: pi conclusion needs a label new on the branch")
    if not ok:
        raise TableauError(f"node {index}: the entries are not what {rule} gives from {premise}")

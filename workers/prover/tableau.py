"""A small prefixed (labelled) S5 tableau prover, for proofs people can read.

The certificate of a valid verdict (certificate.py) is a DRUP proof over a SAT encoding:
checkable, but not something to look at.  For small formulas this module builds a *closed
signed tableau* instead, which the console draws as a tree.  It is never trusted: the result
is handed to the independent checker in tableau_check.py and attached to the result document
only when that accepts it (``checked_tableau``).

Entries are signed formulas at world labels, ``w T φ`` (φ is true at w) or ``w F φ``.  S5's
relation is universal, so a label is just a number and every label sees every other.  The
root is ``1 F φ``.  Rules (docs/tableau.md):

* alpha (one child, several entries): ``T ~a → F a``, ``F ~a → T a``, ``T a∧b → T a, T b``,
  ``F a∨b → F a, F b``, ``F a→b → T a, F b``;
* beta (one child per alternative): ``F a∧b``, ``T a∨b``, ``T a→b → F a | T b``,
  ``T a↔b → T a, T b | F a, F b``, ``F a↔b → T a, F b | F a, T b``;
* nu: ``w T []a → u T a`` and ``w F <>a → u F a`` for a label u already on the branch;
* pi: ``w F []a → n F a`` and ``w T <>a → n T a`` for a label n new on the branch;
* a branch closes on ``w T a`` and ``w F a``, or on ``w T false`` / ``w F true``.

The procedure: alpha first, then pi (at most one new world per pi formula and branch: with a
universal relation one witness serves every label), then nu, and beta last, choosing the beta
entry with the most alternatives that close at once.  Every rule is applied at most once per
premise (nu: once per premise and label), so a branch saturates: the search ends, and an
open saturated branch means the formula is not valid (no tree).  Budgets (entries and a
deadline) bound the work; over budget there is simply no tree.

The tree is a flat list of nodes (parents before children, no nesting, so any depth fits a
JSON document): ``{"id", "parent", "rule", "premise", "entries": [{"id", "world", "sign",
"formula"}], "closed": [entry ids] | null}``.
"""

from __future__ import annotations

import time

from workers.prover.printer import Texts
from workers.prover.syntax import And, Box, Const, Dia, Formula, Iff, Implies, Not, Or

FORMAT = "pxl-s5-tableau/1"
# Formulas larger than this get no tree (the console shows the certificate's lemmas instead).
MAX_FORMULA_NODES = 200
MAX_ENTRIES = 2_000
TIME_BUDGET_SECONDS = 1.0

Signed = tuple[int, bool, Formula]  # (world, sign, formula); sign True = "T"


class _OverBudget(Exception):
    pass


def alpha(sign: bool, f: Formula) -> list[tuple[bool, Formula]] | None:
    if isinstance(f, Not):
        return [(not sign, f.arg)]
    if isinstance(f, And) and sign:
        return [(True, a) for a in f.args]
    if isinstance(f, Or) and not sign:
        return [(False, a) for a in f.args]
    if isinstance(f, Implies) and not sign:
        return [(True, f.left), (False, f.right)]
    return None


def beta(sign: bool, f: Formula) -> list[list[tuple[bool, Formula]]] | None:
    if isinstance(f, And) and not sign:
        return [[(False, a)] for a in f.args]
    if isinstance(f, Or) and sign:
        return [[(True, a)] for a in f.args]
    if isinstance(f, Implies) and sign:
        return [[(False, f.left)], [(True, f.right)]]
    if isinstance(f, Iff):
        if sign:
            return [[(True, f.left), (True, f.right)], [(False, f.left), (False, f.right)]]
        return [[(True, f.left), (False, f.right)], [(False, f.left), (True, f.right)]]
    return None


def modal(sign: bool, f: Formula) -> tuple[str, bool, Formula] | None:
    """("nu" | "pi", sign of the conclusion, its formula) for a modal entry, else None."""
    if isinstance(f, Box):
        return ("nu" if sign else "pi", sign, f.arg)
    if isinstance(f, Dia):
        return ("pi" if sign else "nu", sign, f.arg)
    return None


class _Branch:
    # A plain class: ``dataclasses`` imports ``inspect``, which costs `pxl prove` ~5 ms of start-up.
    __slots__ = ("entries", "present", "labels", "used", "witnessed", "alpha_at", "pi_at",
                 "nu_at", "nu_labels")

    def __init__(self) -> None:
        # (entry id, signed, its rule: ("alpha" | "beta" | "pi" | "nu" | "", what it gives))
        self.entries: list[tuple[int, Signed, tuple]] = []
        self.present: dict[Signed, int] = {}
        self.labels: list[int] = []
        self.used: set = set()  # premises (and (premise, label)) already expanded
        self.witnessed: set = set()  # (sign, formula) of pi entries with a world
        # Where the next rule search starts: every entry before ``alpha_at`` (``pi_at``) is
        # expanded or not of that rule (``used`` only grows, entries are only appended), and
        # every nu entry before ``nu_at`` is expanded at the first ``nu_labels`` labels.
        # Without them each step rescanned the branch (quadratic: 0.6 s on 120 nodes).
        self.alpha_at = self.pi_at = self.nu_at = self.nu_labels = 0

    def copy(self) -> _Branch:
        other = _Branch()
        other.entries, other.present = list(self.entries), dict(self.present)
        other.labels, other.used = list(self.labels), set(self.used)
        other.witnessed = set(self.witnessed)
        other.alpha_at, other.pi_at = self.alpha_at, self.pi_at
        other.nu_at, other.nu_labels = self.nu_at, self.nu_labels
        return other

    def clash(self, s: Signed) -> list[int] | None:
        world, sign, f = s
        if isinstance(f, Const) and f.value != sign:
            return [self.present[s]]
        other = self.present.get((world, not sign, f))
        return None if other is None else [other, self.present[s]]


class _Builder:
    def __init__(self, max_entries: int, deadline: float) -> None:
        # Nodes as built: entries are (id, signed) pairs; _pruned writes the document's
        # entries (with their texts) for the nodes it keeps.
        self.nodes: list[dict] = []
        self.next_entry = 1
        self.max_entries = max_entries
        self.deadline = deadline
        # The rule each signed formula is subject to, found once (the same signed formulas
        # recur on many entries and branches, and each entry is looked at by several scans).
        self.rules: dict[tuple[bool, Formula], tuple] = {}

    def rule(self, sign: bool, f: Formula) -> tuple:
        """("alpha", parts) | ("beta", alternatives) | ("pi" | "nu", modal(...)) | ("", None)."""
        key = (sign, f)
        found = self.rules.get(key)
        if found is None:
            parts = alpha(sign, f)
            if parts is not None:
                found = ("alpha", parts)
            else:
                alternatives = beta(sign, f)
                if alternatives is not None:
                    found = ("beta", alternatives)
                else:
                    m = modal(sign, f)
                    found = (m[0], m) if m is not None else ("", None)
            self.rules[key] = found
        return found

    def node(self, parent: int | None, rule: str, premise: int | None,
             signed: list[Signed], branch: _Branch) -> tuple[dict, list[int] | None]:
        """Add a node with these entries to the branch; return it and a clash if one appears."""
        if self.next_entry + len(signed) > self.max_entries or time.monotonic() > self.deadline:
            raise _OverBudget
        entries, clash = [], None
        for s in signed:
            eid = self.next_entry
            self.next_entry += 1
            world, sign, f = s
            entries.append((eid, s))
            branch.entries.append((eid, s, self.rule(sign, f)))
            branch.present.setdefault(s, eid)
            if world not in branch.labels:
                branch.labels.append(world)
            if clash is None:
                clash = branch.clash(s)
        node = {"id": len(self.nodes), "parent": parent, "rule": rule, "premise": premise,
                "entries": entries, "closed": None}
        self.nodes.append(node)
        return node, clash

    def expand(self, node: dict, branch: _Branch, clash: list[int] | None) -> bool:
        """Grow the branch below ``node`` until it closes (True) or saturates open (False)."""
        while clash is None:
            step = self._linear_step(branch)
            if step is None:
                return self._split(node, branch)
            rule, premise, signed = step
            node, clash = self.node(node["id"], rule, premise, signed, branch)
        node["closed"] = clash
        return True

    def _linear_step(self, branch: _Branch) -> tuple[str, int, list[Signed]] | None:
        entries, used = branch.entries, branch.used
        while branch.alpha_at < len(entries):
            eid, (world, _sign, _f), (rule, parts) = entries[branch.alpha_at]
            branch.alpha_at += 1
            if rule == "alpha" and eid not in used:
                used.add(eid)
                return "alpha", eid, [(world, s, g) for s, g in parts]
        while branch.pi_at < len(entries):
            eid, (_world, sign, f), (rule, m) = entries[branch.pi_at]
            branch.pi_at += 1
            if rule == "pi" and eid not in used:
                used.add(eid)
                if (sign, f) in branch.witnessed:
                    continue
                branch.witnessed.add((sign, f))
                return "pi", eid, [(max(branch.labels) + 1, m[1], m[2])]
        if branch.nu_labels != len(branch.labels):  # a new world: every nu entry applies again
            branch.nu_at, branch.nu_labels = 0, len(branch.labels)
        while branch.nu_at < len(entries):
            eid, _signed, (rule, m) = entries[branch.nu_at]
            if rule == "nu":
                for label in branch.labels:
                    if (eid, label) not in used:
                        used.add((eid, label))
                        return "nu", eid, [(label, m[1], m[2])]
            branch.nu_at += 1
        return None

    def _split(self, node: dict, branch: _Branch) -> bool:
        best = None
        for eid, (world, _sign, _f), (rule, alternatives) in branch.entries:
            if rule != "beta" or eid in branch.used:
                continue
            closing = sum(
                any(branch.present.get((world, not s, g)) or (isinstance(g, Const) and g.value != s)
                    for s, g in alt)
                for alt in alternatives
            )
            if best is None or closing > best[0]:
                best = (closing, eid, world, alternatives)
        if best is None:
            return False  # saturated and open
        _, eid, world, alternatives = best
        branch.used.add(eid)
        for alt in alternatives:
            child_branch = branch.copy()
            child, clash = self.node(node["id"], "beta", eid,
                                     [(world, s, g) for s, g in alt], child_branch)
            if not self.expand(child, child_branch, clash):
                return False
        return True


def build_tableau(formula: Formula, *, max_entries: int = MAX_ENTRIES,
                  time_budget: float = TIME_BUDGET_SECONDS) -> dict | None:
    """A closed tableau for ``formula`` (an unchecked proposal), or None (not valid, or over
    budget)."""
    builder = _Builder(max_entries, time.monotonic() + time_budget)
    branch = _Branch()
    try:
        root, clash = builder.node(None, "goal", None, [(1, False, formula)], branch)
        if not builder.expand(root, branch, clash):
            return None
    except _OverBudget:
        return None
    return {"format": FORMAT, "nodes": _pruned(builder.nodes, Texts())}


def _pruned(nodes: list[dict], texts: Texts) -> list[dict]:
    """The tree without alpha/nu steps no closure depends on, renumbered (nodes and entries).

    Needed entries: those closures name, and the premises of needed nodes (premises come from
    earlier nodes, so one backward pass finds them all).  Beta and pi nodes always stay (a
    split is the tree's shape; a pi step brings the label later steps are at)."""
    needed: set[int] = set()
    keep = [False] * len(nodes)
    for node in reversed(nodes):
        needed.update(node["closed"] or ())
        ids = {eid for eid, _signed in node["entries"]}
        if node["rule"] in ("goal", "beta", "pi") or ids & needed:
            keep[node["id"]] = True
            if node["premise"] is not None:
                needed.add(node["premise"])
    new_index: dict[int, int] = {}
    new_entry: dict[int, int] = {}
    out: list[dict] = []
    for node in nodes:
        parent = node["parent"]
        while parent is not None and not keep[parent]:
            parent = nodes[parent]["parent"]
        if not keep[node["id"]]:
            continue
        new_index[node["id"]] = len(out)
        entries = []
        for eid, (world, sign, f) in node["entries"]:
            new_entry[eid] = len(new_entry) + 1
            entries.append({"id": new_entry[eid], "world": world, "sign": "T" if sign else "F",
                            "formula": texts(f)})
        out.append({
            "id": len(out),
            "parent": None if parent is None else new_index[parent],
            "rule": node["rule"],
            "premise": None if node["premise"] is None else new_entry[node["premise"]],
            "entries": entries,
            "closed": None if node["closed"] is None else [new_entry[i] for i in node["closed"]],
        })
    return out


def checked_tableau(formula: Formula, *, max_nodes: int = MAX_FORMULA_NODES,
                    time_budget: float = TIME_BUDGET_SECONDS) -> dict | None:
    """A closed tableau that the independent checker accepted, or None.  Only for formulas of
    at most ``max_nodes`` nodes."""
    from workers.prover.tableau_check import check_tableau

    if formula.size > max_nodes:
        return None
    tableau = build_tableau(formula, time_budget=time_budget)
    if tableau is None or not check_tableau(formula, tableau)[0]:
        return None
    return tableau


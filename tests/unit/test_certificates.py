"""The independent checkers reject corrupted certificates and countermodels."""

import base64
import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.prover import (
    And,
    Atom,
    Box,
    Implies,
    check_result_document,
    parse_formula,
    prove,
    to_text,
)
from workers.prover import certificate as cert
from workers.prover.encoding import encode
from workers.prover.modelcheck import check_countermodel

ROOT = Path(__file__).resolve().parents[2]


def _canonical(proof: dict) -> str:
    data = json.dumps(proof, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(data.encode("utf-8")).decode("ascii")


# Valid formulas whose certificates need lemmas and propositional steps.
VALID = [
    "[](p -> q) -> ([]p -> []q)",
    "<>p -> []<>p",
    "[](p | []q) -> []p | []q",
    "[](p -> q) & [](q -> r) & <>p -> <>r",
    "~([](p -> q) & [](q -> r) & []p & <>~r)",
]


@pytest.fixture(params=["propagation", "solver"])
def certificate_path(request, monkeypatch):
    """Both ways the prover builds a lemma certificate (search.make_certificate): the hint
    pass alone when the lemma chain follows by unit propagation (these small formulas), and
    the proof-logging solver's replay otherwise (forced here).  Every mutation test runs on
    the certificates of both, so neither can slip a proof past the checker untested."""
    from workers.prover import search

    if request.param == "solver":
        monkeypatch.setattr(search, "_propagation_proof", lambda *_args: None)
    return request.param


def _doc(text):
    doc = prove(text).to_document()
    assert doc["verdict"] == "valid" and doc["certificate"], doc
    return doc


def _with_proof(doc, proof):
    bad = dict(doc)
    bad["certificate"] = _canonical(proof)
    return bad


@pytest.mark.parametrize("text", VALID)
def test_certificate_checks(text, certificate_path):
    doc = _doc(text)
    assert check_result_document(doc).ok


def test_checker_encoding_matches_search_encoding():
    for text in VALID + ["<>(p <-> ~[]q) | (true & false) | ~~<>~p", "[]([]p | <>(q & []r)) -> p"]:
        f = parse_formula(text)
        enc = encode(f)
        mine = cert._encode(f)
        assert mine == (enc.root, enc.nvars, enc.clauses, enc.box_arg, enc.global_vars)


@pytest.mark.parametrize("text", VALID)
def test_flipped_or_dropped_necessitation_steps_are_rejected(text, certificate_path):
    doc = _doc(text)
    proof = cert.decode(doc["certificate"])
    assert proof["format"] == cert.FORMAT == "pxl-s5-cert/2"
    steps = proof["steps"]
    for i, step in enumerate(steps):
        if step[0] != "n":
            continue
        # Flip the box or one hypothesis of a necessitation step.
        for j in [None, *range(len(step[2]))]:
            bad = copy.deepcopy(proof)
            if j is None:
                bad["steps"][i][1] = -step[1]
            else:
                bad["steps"][i][2][j] = -step[2][j]
            assert not check_result_document(_with_proof(doc, bad)).ok, (i, j, step)
    # Dropping every necessitation step at once can never leave a proof (these formulas all
    # need at least one).
    bare = {**proof, "steps": [s for s in steps if s[0] != "n"]}
    assert len(bare["steps"]) < len(steps)
    assert not check_result_document(_with_proof(doc, bare)).ok
    # An empty proof proves nothing modal.
    assert not check_result_document(_with_proof(doc, {**proof, "steps": []})).ok


def _as_v1(proof):
    """The same proof in the unhinted format ``pxl-s5-cert/1`` (flat literals, no hints)."""
    steps = []
    for s in proof["steps"]:
        if s[0] == "a":
            steps.append(["a", *s[1]])
        elif s[0] == "n":
            steps.append(["n", s[1], *s[2]])
        else:
            steps.append(s)
    return {**proof, "format": cert.FORMAT_V1, "steps": steps}


@pytest.mark.parametrize("text", VALID)
def test_hints_are_followed_and_wrong_hints_are_rejected(text, certificate_path):
    doc = _doc(text)
    proof = cert.decode(doc["certificate"])
    hinted = [i for i, s in enumerate(proof["steps"]) if s[0] in ("a", "n") and s[-1]]
    assert hinted
    first_free = len(encode(parse_formula(text)).clauses) + len(proof["steps"]) + 1
    for i in hinted:
        hints = proof["steps"][i][-1]
        for wrong in (
            hints[:-1],  # the conflict clause left out: propagation stops short
            [*hints, hints[0]],  # a hint after the conflict (and repeated)
            [first_free, *hints],  # an id that is not an earlier clause
            [0, *hints],
            [*hints[:-1], "1"],
        ):
            bad = copy.deepcopy(proof)
            bad["steps"][i][-1] = wrong
            report = check_result_document(_with_proof(doc, bad))
            assert not report.ok, (i, wrong)


@pytest.mark.parametrize("text", VALID)
def test_old_unhinted_certificates_stay_readable(text, certificate_path):
    doc = _doc(text)
    old = _as_v1(cert.decode(doc["certificate"]))
    report = check_result_document({**_with_proof(doc, old), "certificate_format": cert.FORMAT_V1})
    assert report.ok, report.reason
    # ... and are still checked: a flipped box variable fails.
    n = next(i for i, s in enumerate(old["steps"]) if s[0] == "n")
    old["steps"][n][1] = -old["steps"][n][1]
    assert not check_result_document(_with_proof(doc, old)).ok


def test_dropping_a_needed_lemma_is_rejected(certificate_path):
    doc = _doc("[](p -> q) -> ([]p -> []q)")
    proof = cert.decode(doc["certificate"])
    lemma_steps = [i for i, s in enumerate(proof["steps"]) if s[0] == "n"]
    assert lemma_steps
    for i in lemma_steps:
        bad = {**proof, "steps": proof["steps"][:i] + proof["steps"][i + 1 :]}
        assert not check_result_document(_with_proof(doc, bad)).ok
        # Unhinted (format /1), the later steps are searched for and not found.
        report = check_result_document(_with_proof(doc, _as_v1(bad)))
        assert not report.ok and "RUP" in report.reason


def test_unsound_necessitation_is_rejected():
    # p -> []p is invalid; claim the lemma p -> []p with an atom as hypothesis.
    f = Implies(Atom("p"), Box(Atom("p")))
    enc = encode(f)
    p = enc.atom_vars["p"]
    (b,) = enc.boxes
    proof = {"format": cert.FORMAT, "encoding": cert.ENCODING, "steps": [["n", b, [p], []]]}
    ok, reason = cert.check_certificate(f, _canonical(proof))
    assert not ok and "not a global literal" in reason
    # The lemma clause [B] would need hints that do not exist: the reflexivity clause
    # [-B, p] is not unit under the assumption -B.
    for hints in ([], [2], [3], [2, 3]):
        proof["steps"] = [["a", [b], hints]]
        ok, reason = cert.check_certificate(f, _canonical(proof))
        assert not ok and "RUP" in reason or "unit" in reason or "earlier" in reason, reason
    proof = {**proof, "format": cert.FORMAT_V1, "steps": [["n", b, p]]}
    ok, reason = cert.check_certificate(f, _canonical(proof))
    assert not ok and "not a global literal" in reason
    proof["steps"] = [["a", b]]
    ok, reason = cert.check_certificate(f, _canonical(proof))
    assert not ok and "not RUP" in reason


def test_changed_formula_is_rejected(certificate_path):
    doc = _doc("[](p -> q) -> ([]p -> []q)")
    for other in ["[](p -> q) -> ([]q -> []p)", "[](p -> q) -> ([]p -> []r)", "p -> []p"]:
        assert not check_result_document({**doc, "formula": other}).ok


def test_corrupted_encodings_are_rejected():
    doc = _doc("<>p -> []<>p")
    raw = doc["certificate"]
    for bad in [
        raw[:-8],
        "%%%" + raw,
        base64.b64encode(b"not json").decode(),
        _canonical([1, 2]),
        _canonical({**cert.decode(raw), "format": "other/1"}),
        _canonical({**cert.decode(raw), "steps": [["x", 1]]}),
        _canonical({**cert.decode(raw), "steps": [["a", [10**9], []]]}),
        _canonical({**cert.decode(raw), "steps": [["a", ["1"], []]]}),
        _canonical({**cert.decode(raw), "steps": [["a", [1], "1"]]}),
        _canonical({**cert.decode(raw), "steps": [["a", 1, [1]]]}),
        _canonical({**cert.decode(raw), "steps": [["n", [7], [1], []]]}),
        _canonical({**cert.decode(raw), "steps": [["n", True]]}),
        _canonical({**cert.decode(raw), "steps": [["d", [1, 2]]]}),  # no deletions in /2
        _canonical({**cert.decode(raw), "format": cert.FORMAT_V1, "steps": [["a", 10**9]]}),
        _canonical({**cert.decode(raw), "format": cert.FORMAT_V1, "steps": [["n", [7], 1]]}),
        _canonical({**cert.decode(raw), "format": cert.FORMAT_V1, "steps": [["d", {"x": 1}]]}),
        _canonical({**cert.decode(raw), "steps": "abc"}),
        _canonical({**cert.decode(raw), "steps": [[]]}),
    ]:
        report = check_result_document({**doc, "certificate": bad})
        assert not report.ok, bad
    assert not check_result_document({**doc, "certificate": None}).ok
    assert not check_result_document({**doc, "certificate_format": "x"}).ok
    assert not check_result_document({**doc, "verdict": "invalid"}).ok


def test_mutated_countermodels_are_rejected():
    doc = prove("<>p & <>q -> <>(p & q)").to_document()
    assert check_result_document(doc).ok
    cm = doc["countermodel"]
    f = parse_formula(doc["formula"])
    # Any single change to a world's valuation must be caught or keep the model a countermodel.
    for w in range(len(cm["worlds"])):
        for atom in cm["atoms"]:
            bad = copy.deepcopy(cm)
            world = bad["worlds"][w]["true_atoms"]
            world.remove(atom) if atom in world else world.append(atom)
            ok, _ = check_countermodel(f, bad)
            assert ok == (not _oracle_true_at_actual(f, bad))
    broken = [
        {**cm, "relation": "reflexive"},
        {**cm, "actual_world": "w9"},
        {**cm, "worlds": []},
        {**cm, "atoms": []},
        {**cm, "worlds": [{"id": "w0", "true_atoms": ["p", "q"]}]},
        {**cm, "worlds": cm["worlds"] + [cm["worlds"][0]]},
        "nonsense",
    ]
    for bad in broken:
        assert not check_result_document({**doc, "countermodel": bad}).ok
    assert not check_result_document({**doc, "formula": "<>p & <>q -> <>p"}).ok


def test_a_countermodel_must_declare_every_atom_of_the_formula():
    model = {"atoms": ["p"], "worlds": [{"id": "w0", "true_atoms": []}],
             "relation": "universal", "actual_world": "w0"}
    # False at w0 whatever q is, but q is not declared: not a model of this formula.
    ok, why = check_countermodel(parse_formula("p | q -> []p & r"), model)
    assert not ok and why == "countermodel does not declare atoms ['q', 'r']"
    assert check_countermodel(parse_formula("p | ~p -> []p"), model)[0]

    from workers.prover.syntax import UnaryNode

    class Someday(UnaryNode):  # not PXL: only an undeclared atom answers before the error
        __slots__ = ()
        kind = "someday"

    ok, why = check_countermodel(And([Someday(Atom("p")), Atom("q")]), model)
    assert not ok and "['q']" in why
    with pytest.raises(TypeError):
        check_countermodel(And([Someday(Atom("p")), Atom("p")]), model)


def _oracle_true_at_actual(f, cm):
    from tests.unit.s5_oracle import _eval

    worlds = [frozenset(w["true_atoms"]) for w in cm["worlds"]]
    ids = [w["id"] for w in cm["worlds"]]
    return _eval(f, worlds)[ids.index(cm["actual_world"])]


def test_unknown_and_malformed_documents():
    assert not check_result_document(prove("p", timeout=0).to_document()).ok
    assert not check_result_document({"verdict": "valid", "formula": "p ->"}).ok
    assert not check_result_document([]).ok


_junk = st.recursive(
    st.one_of(st.integers(-50, 50), st.booleans(), st.none(), st.sampled_from(["a", "d", "n"])),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_junk, max_size=8), st.data())
def test_checker_never_crashes_on_junk(junk_steps, data):
    f = parse_formula("[](p -> q) -> ([]p -> []q)")
    base = cert.decode(_doc("[](p -> q) -> ([]p -> []q)")["certificate"])
    steps = list(base["steps"])
    pos = data.draw(st.integers(0, len(steps)))
    proof = {**base, "steps": steps[:pos] + junk_steps + steps[pos:]}
    ok, reason = cert.check_certificate(f, _canonical(proof))
    assert isinstance(ok, bool) and isinstance(reason, str)


def _php_formula(n):
    x = {(i, j): Atom(f"x{i}_{j}") for i in range(n + 1) for j in range(n)}
    from workers.prover import And, Not, Or

    clauses = [Or([x[i, j] for j in range(n)]) for i in range(n + 1)]
    clauses += [
        Or([Not(x[i, j]), Not(x[k, j])])
        for j in range(n)
        for i in range(n + 1)
        for k in range(i + 1, n + 1)
    ]
    return Not(Box(And(clauses)))  # valid: no world satisfies PHP(n+1, n)


def _worlds_doc(f):
    from unittest import mock

    from workers.prover import search

    with (
        mock.patch.object(search, "WORLDS_FIRST_ROUND", 1),
        mock.patch.object(search, "WORLDS_LITERALS_PER_ROUND", 10**9),
        mock.patch.object(search, "COMPLETE_WAIT", 0.0),
    ):
        doc = prove(f).to_document()
    proof = cert.decode(doc["certificate"])
    assert proof["kind"] == "worlds", proof["kind"]
    return doc, proof


def test_worlds_certificate_checks_and_mutations_fail():
    f = _php_formula(4)
    doc, proof = _worlds_doc(f)
    assert check_result_document(doc).ok
    assert proof["worlds"] == 2 and proof["steps"]
    # Fewer worlds than the S5 bound prove nothing.
    assert not check_result_document(_with_proof(doc, {**proof, "worlds": 1})).ok
    # More worlds than needed are fine only with a proof for them: the numbering shifts.
    assert not check_result_document(_with_proof(doc, {**proof, "steps": []})).ok
    assert not check_result_document(_with_proof(doc, {**proof, "kind": "lemmas"})).ok
    assert not check_result_document(_with_proof(doc, {**proof, "kind": "magic"})).ok
    assert not check_result_document(_with_proof(doc, {**proof, "worlds": "2"})).ok
    bad = copy.deepcopy(proof)
    bad["steps"].append(["n", 2, [1], []])
    assert not check_result_document(_with_proof(doc, bad)).ok
    # The last step derives the empty clause; without it nothing is refuted.
    assert proof["steps"][-1][:2] == ["a", []]
    assert not check_result_document(_with_proof(doc, {**proof, "steps": proof["steps"][:-1]})).ok
    # The unhinted form of the same refutation still checks (format /1).
    old = {**_as_v1(proof), "steps": [s for s in _as_v1(proof)["steps"] if len(s) > 1]}
    assert check_result_document(_with_proof(doc, old)).ok
    # Truncating the proof anywhere before its end leaves the encoding unrefuted.
    adds = [i for i, s in enumerate(proof["steps"]) if s[0] == "a"]
    for cut in adds[: len(adds) // 2 : max(1, len(adds) // 20)]:
        truncated = {**proof, "steps": proof["steps"][:cut]}
        assert not check_result_document(_with_proof(doc, truncated)).ok
    # The same proof does not refute a different (invalid) formula.
    other = Implies(_php_formula(4).arg, Box(Atom("x0_0")))
    assert not check_result_document({**doc, "formula": to_text(other)}).ok


def test_worlds_bound_counts_free_boxes_and_atoms():
    from workers.prover.search import worlds_bound

    assert worlds_bound(encode(parse_formula("[]p -> p"))) == 2
    assert worlds_bound(encode(parse_formula("[][]p -> <>q"))) == 3
    assert worlds_bound(encode(parse_formula("[]p & []~p & [](p|q) & <>q & <>~q"))) == 4


def _cut_doc():
    doc = prove(_php_formula(9)).to_document()
    proof = cert.decode(doc["certificate"])
    cuts = [i for i, s in enumerate(proof["steps"]) if s[0] == "c"]
    assert doc["verdict"] == "valid" and cuts
    return doc, proof, cuts[-1]


def _mutated(proof, at, change):
    bad = copy.deepcopy(proof)
    change(bad["steps"][at][1])
    return bad


def test_cutting_plane_certificate_checks_and_mutations_fail():
    doc, proof, at = _cut_doc()
    assert check_result_document(doc).ok
    body = proof["steps"][at][1]
    assert body["rows"] and body["cliques"]

    def rejected(change):
        return not check_result_document(_with_proof(doc, _mutated(proof, at, change))).ok

    # Altered multipliers: a pigeon row left out of the sum, a negative or malformed one.
    assert rejected(lambda b: b["rows"][0].__setitem__(0, "0"))
    assert rejected(lambda b: b["rows"][0].__setitem__(0, "-1"))
    assert rejected(lambda b: b["rows"][0].__setitem__(0, "1/0"))
    assert rejected(lambda b: b["rows"][0].__setitem__(0, 1.5))
    assert rejected(lambda b: b["cliques"][0].__setitem__(0, "x" * 100))
    assert rejected(lambda b: b["rows"][0].__setitem__(0, "1e-999999999"))  # no exponents
    assert rejected(lambda b: b["rows"][0].__setitem__(0, True))
    # Making a hole cut weaker (multiplier halved) breaks the exact combination.
    assert rejected(lambda b: b["cliques"][0].__setitem__(0, "1/2"))
    # A bogus clique pair: a literal of another hole does not conflict with this hole.
    other = next(lit for lit in body["cliques"][1][1] if lit not in body["cliques"][0][1])
    assert rejected(lambda b: b["cliques"][0][1].append(other))
    # A dropped cut or row; a row that does not follow from the clauses.
    assert rejected(lambda b: b["cliques"].pop())
    assert rejected(lambda b: b["rows"].pop())
    assert rejected(lambda b: b["rows"].append(["1", [body["rows"][0][1][0]]]))
    # A different derived clause: without the assumption, the rows are not implied.
    assert rejected(lambda b: b.__setitem__("clause", []))
    # Shape errors.
    assert rejected(lambda b: b.__setitem__("cliques", {"a": 1}))
    assert rejected(lambda b: b["cliques"][0].__setitem__(1, [body["cliques"][0][1][0]]))
    bad = copy.deepcopy(proof)
    bad["steps"][at] = ["c"]
    assert not check_result_document(_with_proof(doc, bad)).ok
    # The same proof does not refute a different (invalid) formula: one pigeon fewer.
    from workers.prover import And, Not

    php = _php_formula(9)
    fewer = Not(Box(And(list(php.arg.arg.args[1:]))))
    assert not check_result_document({**doc, "formula": to_text(fewer)}).ok


def test_cut_check_rejects_a_feasible_combination():
    # PHP(3, 3) clauses: three pigeons fit into three holes, so the pigeonhole combination
    # (every row and every hole cut with multiplier 1) gives 3 <= 3, which proves nothing.
    x = {(i, j): 1 + 3 * i + j for i in range(3) for j in range(3)}
    db = cert.RupChecker(9)
    for i in range(3):
        db.add([x[i, j] for j in range(3)])
    for j in range(3):
        for i in range(3):
            for k in range(i + 1, 3):
                db.add([-x[i, j], -x[k, j]])
    rows = [["1", [x[i, j] for j in range(3)]] for i in range(3)]
    cliques = [["1", [x[i, j] for i in range(3)]] for j in range(3)]
    with pytest.raises(cert.CertificateError, match="satisfiable"):
        cert.check_cut(db, {"clause": [], "rows": rows, "cliques": cliques})
    # One pigeon more (a fourth row over the same holes) makes the same cuts a refutation.
    extra = cert.RupChecker(12)
    for c in [[x[i, j] for j in range(3)] for i in range(3)] + [[10, 11, 12]]:
        extra.add(c)
    for j in range(3):
        col = [x[i, j] for i in range(3)] + [10 + j]
        for a in range(4):
            for b in range(a + 1, 4):
                extra.add([-col[a], -col[b]])
    rows4 = rows + [["1", [10, 11, 12]]]
    cliques4 = [["1", [x[i, j] for i in range(3)] + [10 + j]] for j in range(3)]
    assert cert.check_cut(extra, {"clause": [], "rows": rows4, "cliques": cliques4}) == []


_junk_value = st.recursive(
    st.one_of(
        st.integers(-60, 60),
        st.booleans(),
        st.none(),
        st.floats(allow_nan=True),
        st.sampled_from(["1", "1/2", "-1", "0/0", "x", "c", "1e-999999999", " 1", "1.5"]),
    ),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["clause", "rows", "cliques"]), inner, max_size=3),
    max_leaves=14,
)


@settings(max_examples=200, deadline=None)
@given(_junk_value, st.data())
def test_checker_never_crashes_on_junk_cut_steps(junk, data):
    f = _php_formula(4)
    base = cert.decode(prove(f).to_document()["certificate"])
    body = {"clause": [], "rows": [], "cliques": []}
    key = data.draw(st.sampled_from(["clause", "rows", "cliques", "whole"]))
    step = ["c", junk] if key == "whole" else ["c", {**body, key: junk}]
    pos = data.draw(st.integers(0, len(base["steps"])))
    proof = {**base, "steps": base["steps"][:pos] + [step] + base["steps"][pos:]}
    ok, reason = cert.check_certificate(f, _canonical(proof))
    assert isinstance(ok, bool) and isinstance(reason, str)


def test_lemmas_found_by_propagation_alone_give_checked_certificates():
    # []([]s -> s) is valid by reflexivity alone: its box gets the lemma "-> []a" before any
    # witness search, and the certificate proves it with a hypothesis-free necessitation.
    for text in ["([](p -> q) & [](q -> r)) | []([]s -> s)", "~[](p | ~p) -> q"]:
        res = prove(text)
        assert res.verdict == "valid" and res.stats["unconditional_lemmas"] >= 1
        doc = res.to_document()
        assert check_result_document(doc).ok
        steps = cert.decode(doc["certificate"])["steps"]
        assert any(s[0] == "n" and s[2] == [] for s in steps), steps


def test_both_certificate_paths_are_taken_and_give_checked_proofs(monkeypatch):
    # The mutation tests above are only worth something if certificate_path really switches
    # path: these formulas take the hint pass alone; forced, the solver's replay builds a
    # different (also checked) proof; a formula whose lemma chain needs the solver's learned
    # clauses falls back by itself.
    from workers.prover import search

    taken = []
    real = search._propagation_proof

    def spy(*args):
        proof = real(*args)
        taken.append(proof is not None)
        return proof

    monkeypatch.setattr(search, "_propagation_proof", spy)
    for text in VALID:
        taken.clear()
        assert check_result_document(_doc(text)).ok and taken == [True], text
    needs_solver = "[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> []~([]~[]p1 | []~[]p2))"
    taken.clear()
    doc = _doc(needs_solver)
    assert taken == [False] and check_result_document(doc).ok


def test_the_encoding_given_back_by_a_failed_propagation_pass_hints_like_a_fresh_one(monkeypatch):
    # make_certificate loads the encoding for hints once (hints.Loaded): a failed
    # propagation-only pass takes its steps back out, and the pass over the solver's proof
    # then runs on it.  Its proofs must check as those made on an encoding loaded afresh do.
    from workers.prover import hints, search

    texts = [json.loads(line)["formula"]
             for line in (ROOT / "bench" / "sample.jsonl").read_text().splitlines()
             if '"expected": "valid"' in line]
    texts.append("[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> []~([]~[]p1 | []~[]p2))")
    gave_back = []
    real = search._propagation_proof

    def spy(enc, lemmas, watch, loaded=None):
        proof = real(enc, lemmas, watch, loaded)
        if proof is None and loaded is not None:
            gave_back.append(not loaded.used)
        return proof

    class Fresh(hints.Loaded):  # marked used: neither pass may take it, each loads its own
        def __init__(self, *args):
            super().__init__(*args)
            self.used = True

    compared = differ = 0
    for text in texts:
        f = parse_formula(text)
        res = prove(f, timeout=10)
        if res.verdict != "valid" or res.stats.get("worlds") or not res.certificate:
            continue
        enc = encode(f)
        cegar_lemmas = _lemmas_of(f)
        if cegar_lemmas is None:
            continue
        gave_back.clear()
        with monkeypatch.context() as m:
            m.setattr(search, "_propagation_proof", spy)
            reused, _ = search.make_certificate(enc, cegar_lemmas)
        if gave_back != [True]:
            continue  # the propagation pass succeeded: nothing was given back
        with monkeypatch.context() as m:
            m.setattr(search.hints, "Loaded", Fresh)
            fresh, _ = search.make_certificate(enc, cegar_lemmas)
        # Both check.  They may differ: propagation on the reused database meets its watch
        # lists in another order, so the hints, and with them the steps the backward pass
        # keeps, can differ.
        assert reused is not None and fresh is not None, text
        for proof in (reused, fresh):
            ok, why = cert.check_certificate(f, search.encode_certificate(proof))
            assert ok, (text, why)
        differ += reused != fresh
        compared += 1
    assert compared >= 3, (compared, differ)


def _lemmas_of(f):
    """The search's lemma chain for a valid formula decided by the loop, else None."""
    import time

    from workers.prover import search

    watch = search._Watch(time.monotonic() + 10, None)
    cegar = search._Cegar(encode(f), watch, [])
    try:
        valid, _ = cegar.run()
        ok = valid and not cegar.valid_by_worlds and not cegar.cuts and cegar.final_cut is None
        return list(cegar.lemmas) if ok else None
    finally:
        cegar.close()
        watch.close()


def test_the_hint_pass_alone_refuses_a_lemma_that_does_not_follow():
    # search._propagation_proof on a lemma chain with a premise that is not RUP (here: an
    # unsound lemma) gives no proof (the solver's replay then refuses it too), never a
    # certificate with made-up hints.
    from workers.prover import search

    f = Implies(Atom("p"), Box(Atom("p")))  # invalid: no lemma may make it provable
    enc = encode(f)
    (b,) = enc.boxes
    assert search._propagation_proof(enc, [(b, [])], None) is None
    text = "[](p -> q) -> ([]p -> []q)"
    enc = encode(parse_formula(text))
    proof = search._propagation_proof(enc, [(b, []) for b in enc.boxes], None)
    assert proof is None  # [](p -> q) does not hold by propagation alone


def test_hinting_an_unhinted_proof_gives_the_same_verdict_for_the_checker():
    # The prover's hint pass turns a /1 step list into /2 steps the checker accepts; a /1
    # list with a step that is not RUP is refused (HintError), never hinted into a proof.
    from workers.prover.hints import HintError, hint_lemmas_proof

    text = "[](p -> q) -> ([]p -> []q)"
    f = parse_formula(text)
    enc = encode(f)
    old = _as_v1(cert.decode(_doc(text)["certificate"]))
    steps = hint_lemmas_proof(
        enc.nvars, enc.clauses, enc.box_arg, enc.root, old["steps"], lambda: None
    )
    proof = {"format": cert.FORMAT, "encoding": cert.ENCODING, "kind": "lemmas", "steps": steps}
    assert cert.check_certificate(f, _canonical(proof))[0]
    b = enc.boxes[0]
    with pytest.raises(HintError):
        hint_lemmas_proof(enc.nvars, enc.clauses, enc.box_arg, enc.root, [["a", b]], lambda: None)


def test_the_canonical_json_of_a_certificate_is_json_dumps():
    # encode_certificate keeps one encoder instead of calling json.dumps: the same text, for
    # every kind of step (cut multipliers as strings, nested keys out of order) and for text
    # outside ASCII.
    from workers.prover.search import encode_certificate

    proofs = [
        {"format": "pxl-s5-cert/2", "encoding": "pxl-s5-enc/1", "kind": "lemmas",
         "steps": [["n", 7, [5, 6], [5, 6, 4]], ["a", [9], [11, 12, 8, 9, 14]]]},
        {"kind": "worlds", "worlds": 3, "steps": [["a", [], [1, 2]]], "format": "f",
         "encoding": "e"},
        {"steps": [["c", {"rows": [["1/2", [1, -2]]], "clause": [-3], "cliques": [[2, [4, 5]]]}],
                   ["a", [-1, 2, -3], []]], "kind": "lemmas", "note": "s\u00e9mantique \u2610"},
    ]
    for proof in proofs:
        text = json.dumps(proof, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert encode_certificate(proof) == base64.b64encode(text.encode("utf-8")).decode("ascii")


@pytest.mark.parametrize("text", [
    "[](p -> q) -> ([]p -> []q)",
    "<>p -> []<>p",
    "[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> []~([]~[]p1 | []~[]p2))",
])
def test_the_builder_counts_a_proof_as_the_checker_does(text, monkeypatch):
    # The budget (MAX_PROOF_LITERALS) is applied to the size the checker counts: a proof of
    # exactly the budget is kept, one literal over it is omitted.
    from workers.prover import search

    proof = json.loads(base64.b64decode(prove(text).certificate))
    steps = proof["steps"]
    size = sum(cert._hinted_size(s, i) for i, s in enumerate(steps))
    monkeypatch.setattr(search, "MAX_PROOF_LITERALS", size)
    assert search._hinted_proof(steps, {"kind": "lemmas"})[0] is not None
    monkeypatch.setattr(search, "MAX_PROOF_LITERALS", size - 1)
    kept, why = search._hinted_proof(steps, {"kind": "lemmas"})
    assert kept is None and why == f"proof exceeds the budget of {size - 1} literals"


def test_lemmas_the_refutation_does_not_need_are_trimmed_and_the_rest_still_checks():
    # qmltp-GSY391+1: the search learns 4 lemmas, the refutation needs 2 of them; the trimmed
    # chain (re-indexed) is what the certificate holds, and the independent checker accepts it.
    import time

    from workers.prover import search

    text = ("[]((([]p1 | []p2) & (([]~[]p1 | []p2) & ([]p1 | []~[]p2))) -> "
            "[]~([]~[]p1 | []~[]p2))")
    formula = parse_formula(text)
    enc = encode(formula)
    watch = search._Watch(time.monotonic() + 30, None)
    try:
        cegar = search._Cegar(enc, watch, [])
        valid, _ = cegar.run()
        cegar.close()
        assert valid and len(cegar.lemmas) > 2
        proof, why = search.make_certificate(enc, cegar.lemmas, watch)
    finally:
        watch.close()
    assert proof is not None, why
    kept = [s for s in proof["steps"] if s[0] == "n"]
    assert 0 < len(kept) < len(cegar.lemmas)
    assert {(s[1], tuple(s[2])) for s in kept} <= {(b, tuple(h)) for b, h in cegar.lemmas}
    doc = {"verdict": "valid", "szs_status": "Theorem", "formula": text,
           "certificate": search.encode_certificate(proof), "certificate_format": cert.FORMAT}
    report = check_result_document(doc)
    assert report.ok, report.reason

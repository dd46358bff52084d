"""prove() against the brute-force S5 oracle on generated small formulas."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.s5_oracle import s5_valid, s5_valid_sat
from workers.prover import (
    FALSE,
    TRUE,
    And,
    Atom,
    Box,
    Dia,
    Iff,
    Implies,
    Not,
    Or,
    check_result_document,
    prove,
    read_formula,
    to_text,
)

leaves = st.sampled_from([Atom("p"), Atom("q"), Atom("r"), TRUE, FALSE])


def _assert_agrees_with_the_oracle(res, f):
    """The verdict is the SAT-based oracle's, and the document's evidence checks (the
    check's report is returned)."""
    assert res.verdict == ("valid" if s5_valid_sat(f) else "invalid"), to_text(f)
    report = check_result_document(res.to_document())
    assert report.ok, (report.reason, to_text(f))
    return report


def _extend(children):
    pairs = st.tuples(children, children)
    return st.one_of(
        children.map(Not),
        children.map(Box),
        children.map(Dia),
        st.lists(children, min_size=2, max_size=3).map(And),
        st.lists(children, min_size=2, max_size=3).map(Or),
        pairs.map(lambda ab: Implies(*ab)),
        pairs.map(lambda ab: Iff(*ab)),
    )


formulas = st.recursive(leaves, _extend, max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_prove_agrees_with_oracle_and_evidence_checks(f):
    res = prove(f, timeout=30)
    expected = "valid" if s5_valid(f) else "invalid"
    assert res.verdict == expected
    doc = res.to_document()
    if expected == "valid":
        assert doc["certificate"] is not None, doc["certificate_omitted"]
    else:
        assert doc["countermodel"] is not None
    report = check_result_document(doc)
    assert report.ok, report.reason


def test_oracle_sanity():
    p = Atom("p")
    assert s5_valid(Implies(Box(p), p))
    assert not s5_valid(Implies(p, Box(p)))
    assert s5_valid(Implies(Dia(p), Box(Dia(p))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_direct_k_world_search_agrees_with_oracle(f):
    # Force the k-world countermodel attempt from the first round on.
    from unittest import mock

    from workers.prover import search

    with (
        mock.patch.object(search, "WORLDS_FIRST_ROUND", 1),
        mock.patch.object(search, "WORLDS_LITERALS_PER_ROUND", 10**9),
        mock.patch.object(search, "COMPLETE_WAIT", 0.0),
    ):
        res = prove(f, timeout=30)
    assert res.verdict == ("valid" if s5_valid(f) else "invalid")
    report = check_result_document(res.to_document())
    assert report.ok, report.reason


five_atoms = st.sampled_from([Atom(f"p{i}") for i in range(5)] + [TRUE])
bigger_formulas = st.recursive(five_atoms, _extend, max_leaves=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bigger_formulas, st.lists(bigger_formulas, min_size=2, max_size=6))
def test_prove_agrees_with_sat_oracle_on_bigger_formulas(f, clauses):
    # ~(C1 & ... & Cn) with modal clauses is valid far more often than a random formula.
    for g in (f, Not(And(clauses))):
        res = prove(g, timeout=30)
        _assert_agrees_with_the_oracle(res, g)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bigger_formulas, st.lists(bigger_formulas, min_size=2, max_size=6))
def test_countermodel_probes_every_round_agree_with_the_oracle(f, clauses):
    # A probe (k worlds below the bound) before every round, the scheduled attempts never.
    from unittest import mock

    from workers.prover import search

    with (
        mock.patch.object(search, "WORLDS_FIRST_ROUND", 0),
        mock.patch.object(search, "PROBE_WAIT", 0.0),
        mock.patch.object(search, "PROBE_SECONDS_PER_LITERAL", 0.0),
    ):
        for g in (f, Not(And(clauses))):
            res = prove(g, timeout=30)
            _assert_agrees_with_the_oracle(res, g)


def test_a_proof_outlasting_many_probes_still_answers():
    # A long proof makes any number of probes; each doubles its conflict budget, which past
    # 52 doublings no longer fit the solver's C long (prove() raised OverflowError).  Probes
    # every round, cheap ones (3 worlds) that run out of budget every time (a probe that finds
    # no countermodel is never repeated), on an LWB formula valid by construction that takes
    # ~67 rounds without the propagation lemmas (which prove it in a few) and the one-world
    # attempt (which changes the solver's phases): both switched off here.
    from unittest import mock

    from workers.prover import search

    formula = read_formula(_gen_lwb().s4_path_p(20))
    literals = sum(len(c) for c in search.encode(formula).clauses)
    probes = []

    def out_of_budget(cegar, k, conflicts):
        probes.append((k, conflicts))
        return None

    with (
        mock.patch.object(search, "WORLDS_FIRST_ROUND", 0),
        mock.patch.object(search, "PROBE_WAIT", 0.0),
        mock.patch.object(search, "PROBE_SECONDS_PER_LITERAL", 0.0),
        mock.patch.object(search, "WORLDS_MAX_LITERALS", 3 * literals),
        mock.patch.object(search._Cegar, "_try_worlds", out_of_budget),
        mock.patch.object(search, "SATURATE_FIRST_ROUND", 10**9),
        mock.patch.object(search, "ONE_WORLD_ROUND", 10**9),
    ):
        res = prove(formula, timeout=60, certificate=False)
    assert res.verdict == "valid"
    assert len(probes) > 60 and {k for k, _ in probes} == {3}
    assert max(c for _, c in probes) == search.WORLDS_CONFLICTS << search.PROBE_MAX_DOUBLINGS


def test_no_attempt_repeats_a_size_without_countermodels():
    # A k-world attempt that finds no countermodel excludes every size up to k for good (the
    # lemmas only ever exclude more): later attempts are larger, up to the complete one.
    from unittest import mock

    from workers.prover import search

    sizes = []
    try_worlds = search._Cegar._try_worlds

    def counted(cegar, k, conflicts):
        sizes.append((k, cegar.bound))
        return try_worlds(cegar, k, conflicts)

    rnd = random.Random(5)
    with _attempts_every_round(), mock.patch.object(search._Cegar, "_try_worlds", counted):
        complete = 0
        for _ in range(20):
            sizes.clear()
            f = Not(And([_random_clause(rnd, 3, 2) for _ in range(40)]))
            res = prove(f, timeout=30)
            _assert_agrees_with_the_oracle(res, f)
            ks = [k for k, _ in sizes]
            assert ks == sorted(set(ks)), ks
            assert all(k <= bound for k, bound in sizes)
            complete += "the S5 world bound: valid" in " ".join(res.trace)
    assert complete >= 10  # the complete attempt (its refutation is the certificate) was made


def test_an_interrupted_complete_attempt_decides_nothing():
    # The complete k-world attempt's solver stopped (budget, interrupt: solve_limited gives
    # None) must not count as "no countermodel": the verdicts still agree with the oracle,
    # and none comes from the world bound.  Fails if None were taken as unsatisfiable.
    import sys
    from unittest import mock

    from workers.prover import search

    real = search._proof_solver
    stopped = []

    def solver_of_the_complete_attempt(*args, **kwargs):
        solver = real(*args, **kwargs)
        if sys._getframe(1).f_code.co_name == "_try_all_worlds":
            stopped.append(1)
            solver.solve_limited = lambda *a, **k: None
        return solver

    rnd = random.Random(11)
    with (
        _attempts_every_round(),
        mock.patch.object(search, "_proof_solver", solver_of_the_complete_attempt),
    ):
        for _ in range(20):
            f = Not(And([_random_clause(rnd, 3, 2) for _ in range(40)]))
            res = prove(f, timeout=30)
            _assert_agrees_with_the_oracle(res, f)
            assert "the S5 world bound: valid" not in " ".join(res.trace)
    assert len(stopped) >= 10  # the complete attempt was made (and stopped) that often


def test_no_complete_attempt_without_time_for_it():
    # The complete attempt's Glucose sees an interrupt only at a restart: it is not started
    # with less than COMPLETE_TIME_LEFT times its estimated cost left (here that factor is
    # made huge), and the loop decides alone.
    from unittest import mock

    from workers.prover import search

    made = []
    real = search._Cegar._try_all_worlds

    def spy(cegar, conflicts):
        made.append(1)
        return real(cegar, conflicts)

    rnd = random.Random(12)
    with (
        _attempts_every_round(),
        mock.patch.object(search, "COMPLETE_TIME_LEFT", 1e9),
        mock.patch.object(search._Cegar, "_try_all_worlds", spy),
    ):
        for _ in range(10):
            f = Not(And([_random_clause(rnd, 3, 2) for _ in range(40)]))
            res = prove(f, timeout=30)
            assert res.verdict == ("valid" if s5_valid_sat(f) else "invalid")
    assert made == []
    with _attempts_every_round(), mock.patch.object(search._Cegar, "_try_all_worlds", spy):
        for _ in range(10):
            prove(Not(And([_random_clause(rnd, 3, 2) for _ in range(40)])), timeout=30)
    assert made  # with the usual estimate it is made


def _attempts_every_round():
    """k-world attempts (probes) from the first round on, the complete one without its wait."""
    import contextlib
    from unittest import mock

    from workers.prover import search

    stack = contextlib.ExitStack()
    for name, value in (("WORLDS_FIRST_ROUND", 1), ("PROBE_WAIT", 0.0),
                        ("PROBE_SECONDS_PER_LITERAL", 0.0), ("COMPLETE_WAIT", 0.0)):
        stack.enter_context(mock.patch.object(search, name, value))
    return stack


def _random_clause(rnd, atoms, depth):
    lits = []
    for _ in range(3):
        if depth and rnd.random() < 0.5:
            lit = Box(_random_clause(rnd, atoms, depth - 1))
        else:
            lit = Atom(f"p{rnd.randrange(atoms)}")
        lits.append(Not(lit) if rnd.random() < 0.5 else lit)
    return Or(lits)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_the_two_oracles_agree(f):
    # Both are written in the tests, independently of the prover and of each other.
    assert s5_valid_sat(f) == s5_valid(f)


def test_sat_oracle_agrees_with_brute_force():
    p, q = Atom("p"), Atom("q")
    for f in [
        Implies(Box(p), p),
        Implies(p, Box(p)),
        Implies(And([Dia(p), Dia(q)]), Dia(And([p, q]))),
        Implies(Dia(p), Box(Dia(p))),
        Or([Box(p), Box(Not(p))]),
    ]:
        assert s5_valid_sat(f) == s5_valid(f)


def _amo_formula(rnd):
    """~(at-most-one groups & clauses) over mixed atoms / boxes / diamonds: small
    pigeonhole-like sets whose refutations are often cutting planes."""

    def lit(name):
        a = Atom(name)
        k = rnd.random()
        base = a if k < 0.5 else (Box(a) if k < 0.75 else Dia(a))
        return Not(base) if rnd.random() < 0.15 else base

    atoms = [f"a{i}" for i in range(rnd.randint(3, 7))]
    lits = [lit(rnd.choice(atoms)) for _ in range(rnd.randint(4, 9))]
    parts = []
    for _ in range(rnd.randint(1, 3)):
        group = rnd.sample(lits, min(len(lits), rnd.randint(3, 5)))
        parts += [Or([Not(x), Not(y)]) for i, x in enumerate(group) for y in group[i + 1 :]]
    for _ in range(rnd.randint(2, 6)):
        parts.append(Or(rnd.sample(lits, min(len(lits), rnd.randint(2, 4)))))
    f = Not(And(parts)) if rnd.random() < 0.7 else Not(Box(And(parts)))
    if rnd.random() < 0.3:
        f = Or([f, Dia(And([Atom(atoms[0]), Atom(atoms[1])]))])
    return f


def test_cutting_planes_everywhere_agree_with_the_oracle(monkeypatch):
    # LP attempts after every conflict and generalisation after every witness failure:
    # the cutting-plane path must give the oracle's verdicts and checkable certificates.
    from workers.prover import search

    monkeypatch.setattr(search, "LP_CONFLICTS", 1)
    monkeypatch.setattr(search, "GENERALIZE_AFTER_FAILS", 1)
    rnd = random.Random(11)
    with_cuts = 0
    for _ in range(150):
        f = _amo_formula(rnd)
        res = prove(f, timeout=30)
        report = _assert_agrees_with_the_oracle(res, f)
        with_cuts += "cutting-plane" in report.reason
    assert with_cuts >= 10  # the path under test was taken


def _gen_lwb():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "gen_lwb.py"
    spec = importlib.util.spec_from_file_location("bench_gen_lwb", path)
    gen_lwb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen_lwb)
    return gen_lwb


def _saturating_every_round():
    """Propagation lemmas (saturation.py) from the first round on, before every round."""
    from unittest import mock

    from workers.prover import search

    return (
        mock.patch.object(search, "SATURATE_FIRST_ROUND", 1),
        mock.patch.object(search, "SATURATE_GROWTH", 0),
        mock.patch.object(search, "SATURATE_SECONDS_PER_LITERAL", 0.0),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bigger_formulas, st.lists(bigger_formulas, min_size=2, max_size=6))
def test_propagation_lemmas_every_round_agree_with_the_oracle(f, clauses):
    patches = _saturating_every_round()
    with patches[0], patches[1], patches[2]:
        for g in (f, Not(And(clauses))):
            res = prove(g, timeout=30)
            _assert_agrees_with_the_oracle(res, g)


def test_propagation_lemmas_are_taken_and_checked_on_random_formulas():
    # The path under test is taken (lemmas learned, and needed by the certificates).
    patches = _saturating_every_round()
    learned = valid = 0
    with patches[0], patches[1], patches[2]:
        for g in _random_problems(5, 120):
            res = prove(g, timeout=30)
            _assert_agrees_with_the_oracle(res, g)
            learned += bool(res.stats.get("propagation_lemmas"))
            valid += res.verdict == "valid" and bool(res.stats.get("propagation_lemmas"))
    assert learned >= 20 and valid >= 5, (learned, valid)


def _random_modal_clause(rnd):
    atoms = [Atom(f"p{i}") for i in range(4)]

    def lit(depth):
        a = rnd.choice(atoms)
        x = a if rnd.random() < 0.5 else Not(a)
        if depth and rnd.random() < 0.6:
            inner = _or([lit(depth - 1) for _ in range(rnd.randint(1, 3))])
            x = Box(inner) if rnd.random() < 0.5 else Dia(inner)
            x = x if rnd.random() < 0.7 else Not(x)
        return x

    return _or([lit(2) for _ in range(rnd.randint(1, 3))])


def _or(parts):
    return parts[0] if len(parts) == 1 else Or(parts)


def test_s4_path_p_takes_a_few_rounds_with_propagation_lemmas(monkeypatch):
    # LWB s4_path_p: a chain of one propagation lemma per level, which the main loop found
    # one level per round (81 rounds at n = 24); the saturation at round 4 finds it at once.
    from workers.prover import search

    monkeypatch.setattr(search, "SATURATE_SECONDS_PER_LITERAL", 0.0)
    formula = read_formula(_gen_lwb().s4_path_p(24))
    res = prove(formula, timeout=60)
    assert res.verdict == "valid" and res.stats["rounds"] <= 8, res.stats
    assert res.stats["propagation_lemmas"] >= 24
    report = check_result_document(res.to_document())
    assert report.ok, report.reason


def _local_facts_patches(monkeypatch):
    """Mutation: the side solver takes the w0-local literals that ~phi implies as facts too
    and proposes hypotheses among them, as if every variable were global."""
    from workers.prover import saturation, search

    init = saturation.Saturation.__init__

    def every_variable_global(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.glob = range(1 << 30)

    monkeypatch.setattr(search._Cegar, "_facts", lambda self, implied: implied)
    monkeypatch.setattr(saturation.Saturation, "__init__", every_variable_global)


def _random_problems(seed, count):
    rnd = random.Random(seed)
    for _ in range(count):
        yield Not(And([_random_modal_clause(rnd) for _ in range(rnd.randint(3, 12))]))


def test_unsound_propagation_lemmas_would_be_caught(monkeypatch):
    # The mutation above, and the lemmas learned without the main solver's checks: wrong
    # verdicts (invalid formulas "proved").  The oracle comparisons above would catch it.
    from workers.prover import search

    _local_facts_patches(monkeypatch)

    def unchecked(self, b, hyps):
        self._learn(b, hyps)
        return True

    monkeypatch.setattr(search._Cegar, "_learn_propagation", unchecked)
    wrong = caught = 0
    patches = _saturating_every_round()
    with patches[0], patches[1], patches[2]:
        for g in _random_problems(5, 120):
            res = prove(g, timeout=30)
            bad = res.verdict != ("valid" if s5_valid_sat(g) else "invalid")
            wrong += bad
            caught += bad or not check_result_document(res.to_document()).ok
    assert wrong >= 5 and caught >= 10, (wrong, caught)  # measured 13 and 23


def test_the_main_solver_check_rejects_unsound_proposals(monkeypatch):
    # The same mutation with the checks in place: the side solver only proposes lemmas;
    # non-global hypotheses and ones that unit propagation on the main solver does not
    # confirm are rejected, and every verdict and certificate stays right.
    from workers.prover import search

    _local_facts_patches(monkeypatch)
    learn = search._Cegar._learn_propagation
    rejected = []

    def counted(self, b, hyps):
        ok = learn(self, b, hyps)
        rejected.append(not ok)
        return ok

    monkeypatch.setattr(search._Cegar, "_learn_propagation", counted)
    patches = _saturating_every_round()
    with patches[0], patches[1], patches[2]:
        for g in _random_problems(5, 120):
            res = prove(g, timeout=30)
            _assert_agrees_with_the_oracle(res, g)
    assert sum(rejected) >= 50, (sum(rejected), len(rejected))  # measured 273 of 331


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bigger_formulas, st.lists(bigger_formulas, min_size=2, max_size=6))
def test_one_world_attempt_at_the_first_round_agrees_with_the_oracle(f, clauses):
    from unittest import mock

    from workers.prover import search

    with (
        mock.patch.object(search, "ONE_WORLD_ROUND", 1),
        mock.patch.object(search, "ONE_WORLD_SECONDS_PER_LITERAL", 0.0),
    ):
        for g in (f, Not(And(clauses))):
            res = prove(g, timeout=30)
            _assert_agrees_with_the_oracle(res, g)


def test_one_world_countermodels_are_taken_and_checked(monkeypatch):
    # The path is taken: one-world countermodels (checked like all others), and a valid
    # formula after a one-world attempt still gets its certificate (the selector clauses
    # stay out of the proof).
    from workers.prover import search

    monkeypatch.setattr(search, "ONE_WORLD_ROUND", 1)
    monkeypatch.setattr(search, "ONE_WORLD_SECONDS_PER_LITERAL", 0.0)
    one_world = valid = 0
    for g in _random_problems(7, 120):
        res = prove(g, timeout=30)
        _assert_agrees_with_the_oracle(res, g)
        one_world += any("countermodel of one world" in line for line in res.trace)
        valid += res.verdict == "valid"
    assert one_world >= 10 and valid >= 10, (one_world, valid)

"""Hash-consing of formula nodes (workers/prover/syntax.py): one object per live node, the
look-up without the lock, entries dropped when their nodes die, bad arguments refused."""

import gc
import threading

import pytest

from workers.prover import syntax
from workers.prover.syntax import FALSE, TRUE, And, Atom, Box, Dia, Iff, Implies, Not, Or


def test_equal_nodes_are_one_object_and_distinct_ones_differ():
    p, q = Atom("p"), Atom("q")
    assert Atom("p") is p and Atom("p" + "") is p
    assert Not(p) is Not(p) and Box(p) is Box(p) and Dia(p) is Dia(p)
    assert Not(p) is not Box(p) and Box(p) is not Dia(p)
    assert And([p, q]) is And((p, q)) and And([p, q]) is not And([q, p])
    assert And([p, q]) is not Or([p, q]) and And([p, q, p]) is not And([p, q])
    assert Implies(p, q) is Implies(p, q) and Implies(p, q) is not Iff(p, q)
    assert Implies(p, q) is not Implies(q, p)
    f = Implies(Box(And([p, Not(q)])), Dia(Or([TRUE, FALSE, p])))
    assert f is Implies(Box(And([p, Not(q)])), Dia(Or([TRUE, FALSE, p])))
    assert (f.size, f.depth) == (11, 5)


def test_bad_arguments_are_refused_as_before():
    p = Atom("p")
    for bad in ("1p", "", "true", "BOX", "p q", ["p"], 3, None):
        with pytest.raises(ValueError):
            Atom(bad)
    for make in (Not, Box, Dia):
        with pytest.raises(TypeError):
            make("p")
        with pytest.raises(TypeError):
            make(id(p))  # the id of a live formula is not that formula
    with pytest.raises(ValueError):
        And([p])
    with pytest.raises(TypeError):
        Or([p, "q"])
    with pytest.raises(TypeError):
        And([p, id(p)])
    with pytest.raises(TypeError):
        Implies(p, id(p))


def test_entries_go_when_their_nodes_die():
    p = Atom("p_entries_go")
    before = len(syntax._interned)
    f = Box(Not(Implies(p, And([p, Dia(p)]))))
    assert len(syntax._interned) == before + 5
    del f
    gc.collect()
    assert len(syntax._interned) == before
    # Built again after dying: a new node, interned again.
    assert Box(Not(p)) is Box(Not(p))


def test_threads_building_the_same_nodes_get_one_object():
    barrier = threading.Barrier(8)
    results: list[list] = []

    def build(i: int) -> None:
        barrier.wait()
        out = []
        for n in range(300):
            a = Atom(f"t{n % 17}")
            out.append(Implies(Box(a), And([Not(a), Dia(a)])))
        results.append(out)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = results[0]
    for other in results[1:]:
        assert all(x is y for x, y in zip(first, other, strict=True))

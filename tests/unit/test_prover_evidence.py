"""A valid verdict's evidence is built on first read (result.py ``defer``), once, inside the
call's time limit when read before it ends, and checks like evidence built at once."""

from __future__ import annotations

import gc
import threading
import time

from workers.prover import check_result_document, prove, search

K = "[](p -> q) -> ([]p -> []q)"


def _counting(monkeypatch, pause: float = 0.0) -> list[int]:
    calls: list[int] = []
    real = search.make_certificate

    def counted(*args, **kwargs):
        calls.append(1)
        assert not gc.isenabled()  # built with the collector paused, like the proof
        time.sleep(pause)
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "make_certificate", counted)
    return calls


def test_the_evidence_is_built_on_first_read_and_only_once(monkeypatch):
    calls = _counting(monkeypatch)
    res = prove(K)
    assert res.verdict == "valid" and calls == []
    decided_ms = res.elapsed_ms
    assert res.certificate is not None and calls == [1]
    doc = res.to_document()
    assert calls == [1] and check_result_document(doc).ok
    assert doc["tableau"] is not None and doc["outline"] is not None
    assert any(line.startswith("certificate: ") for line in doc["trace"])
    assert doc["stats"]["proof_steps"] >= 1
    # elapsed_ms then counts the evidence too, in the result and in its stats
    assert res.elapsed_ms > decided_ms and doc["stats"]["elapsed_ms"] == round(res.elapsed_ms, 3)
    assert gc.isenabled()


def test_reading_stats_or_trace_builds_the_evidence_they_describe(monkeypatch):
    calls = _counting(monkeypatch)
    res = prove(K)
    assert "proof_steps" in res.stats and calls == [1]
    res = prove(K)
    assert any(line.startswith("closed S5 tableau") for line in res.trace) and calls == [1, 1]


def test_two_threads_reading_at_once_build_it_once(monkeypatch):
    calls = _counting(monkeypatch, pause=0.05)
    res = prove(K)
    seen: list[str | None] = []
    readers = [threading.Thread(target=lambda: seen.append(res.certificate)) for _ in range(2)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert calls == [1] and len(seen) == 2 and seen[0] is not None and seen[0] == seen[1]


def test_read_before_the_limit_is_bounded_by_what_is_left_of_it():
    res = prove(K, timeout=30)
    # The call's limit all but gone (white box: the pending builder's limit moved forward).
    res._evidence.__self__.limit = time.monotonic() + 0.001
    assert res.certificate is None
    assert res.certificate_omitted == "stopped while building the certificate (Timeout)"
    assert res.verdict == "valid"


def test_read_after_the_limit_gets_a_limit_as_long_as_the_call_had():
    res = prove(K, timeout=0.2)
    time.sleep(0.25)
    assert res.certificate is not None and check_result_document(res.to_document()).ok


def test_a_stop_request_also_stops_the_evidence():
    stop = threading.Event()
    res = prove(K, should_stop=stop.is_set)
    stop.set()
    assert res.certificate is None
    assert res.certificate_omitted == "stopped while building the certificate (User)"


def test_invalid_and_skipped_evidence_are_not_deferred(monkeypatch):
    calls = _counting(monkeypatch)
    res = prove("[]p -> p", certificate=False)
    assert res._evidence is None and res.certificate_omitted == "not requested"
    res = prove("p -> []p")
    assert res.verdict == "invalid" and res._evidence is None and res.countermodel
    assert calls == []


def test_equal_results_compare_their_evidence():
    a, b = prove(K), prove(K)
    assert a.certificate == b.certificate and a.tableau == b.tableau and a.outline == b.outline

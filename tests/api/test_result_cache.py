"""The proof result cache (workers/cache.py) through the API and the real worker."""

from __future__ import annotations

import pytest

from tests.api.conftest import HARD, poll
from workers import cache
from workers.prover.check import check_result_document

pytestmark = pytest.mark.integration

K = "[](p -> q) -> ([]p -> []q)"
NOT_VALID = "<>p -> []p"


def proved(client, headers, formula, **extra) -> dict:
    response = client.post("/v1/proofs", json={"formula": formula, **extra.pop("body", {})},
                           headers={**headers, **extra})
    assert response.status_code == 202, response.text
    return poll(client, f"/v1/proofs/{response.json()['id']}", headers)


def test_a_second_proof_of_a_formula_is_a_visible_cache_hit(client, tokens, worker):
    alice = tokens()
    for formula in (K, NOT_VALID):
        first = proved(client, alice, formula)
        second = proved(client, alice, formula)
        assert "cached" not in first["result"]
        assert second["result"]["cached"] is True
        assert second["result"]["cached_from"] == first["id"]
        assert second["result"]["verdict"] == first["result"]["verdict"]
        for evidence in ("certificate", "countermodel"):
            assert second["result"].get(evidence) == first["result"].get(evidence)
        assert check_result_document(second["result"]).ok  # still verifiable on its own
    metrics = client.get("/v1/metrics", params={"section": "fleet"}, headers=alice).text
    assert 'pxl_proof_cache_total{outcome="hit"}' in metrics
    assert 'pxl_proof_cache_total{outcome="miss"}' in metrics  # counted with the entry


def test_the_cache_is_per_client_and_bypassed_with_no_cache(client, tokens, worker):
    alice, bob = tokens(), tokens()
    first = proved(client, alice, K)
    assert "cached" not in proved(client, bob, K)["result"]  # nothing of alice's job
    fresh = proved(client, alice, K, **{"Cache-Control": "no-cache"})
    assert "cached" not in fresh["result"] and fresh["id"] != first["id"]
    assert fresh["params"]["cache"] is False
    metrics = client.get("/v1/metrics", params={"section": "fleet"}, headers=alice).text
    assert 'pxl_proof_cache_total{outcome="bypass"}' in metrics


def test_unknown_verdicts_are_not_cached(client, tokens, worker):
    alice = tokens()
    first = proved(client, alice, HARD, body={"timeout": 1})
    assert first["result"]["verdict"] == "unknown"
    again = proved(client, alice, HARD, body={"timeout": 1})
    assert "cached" not in again["result"]


def test_a_new_prover_version_misses_the_old_entries(monkeypatch):
    params = {"formula": {"atom": "p"}, "overlay": "modal"}
    before = cache.cache_key("pxl:", "alice", params)
    assert before == cache.cache_key("pxl:", "alice", dict(params))
    assert before != cache.cache_key("pxl:", "bob", params)
    assert before != cache.cache_key("pxl:", "alice", {**params, "coq": True})
    monkeypatch.setattr(cache, "prover_fingerprint", lambda: "another-prover")
    assert cache.cache_key("pxl:", "alice", params) != before

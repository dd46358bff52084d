"""POST /v1/proofs:batch and GET /v1/batches/{id} against the real app, Redis and worker."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import assert_problem

pytestmark = pytest.mark.integration


def wait_done(client, url: str, headers: dict, limit: float = 240.0) -> dict:
    deadline = time.monotonic() + limit
    while True:
        view = client.get(url, headers=headers).json()
        if view["done"]:
            return view
        assert time.monotonic() < deadline, view["counts"]
        time.sleep(0.5)


@pytest.fixture(scope="module")
def roomy_client(api_settings):
    """The app with room for a 500-job batch (PXL_MAX_LIVE_JOBS_PER_CLIENT is 200)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api_settings.model_copy(
            update={"max_live_jobs_per_client": 1000}))) as client:
        yield client


def test_a_500_item_batch_runs_end_to_end_with_per_item_results(roomy_client, auth, worker):
    client = roomy_client
    formulas = []
    for i in range(500):
        if i % 50 == 7:
            formulas.append({"formula": f"[](p{i} ->"})  # refused alone: a parse error
        elif i % 2:
            formulas.append({"formula": f"[]p{i} -> p{i}"})  # valid (T)
        else:
            formulas.append({"formula": f"<>p{i} -> []p{i}"})  # invalid
    response = client.post("/v1/proofs:batch", json={"items": formulas}, headers=auth)
    assert response.status_code == 202, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    assert batch["size"] == 500 and batch["counts"]["rejected"] == 10
    refused = [item for item in batch["items"] if "error" in item and item["error"]]
    assert [item["index"] for item in refused] == [i for i in range(500) if i % 50 == 7]
    assert all(item["error"]["type"].endswith("invalid-formula") for item in refused)

    done = wait_done(client, f"/v1/batches/{batch['id']}", auth)
    assert done["counts"] == {"rejected": 10, "succeeded": 490}
    for item in done["items"]:
        if item.get("id"):
            expected = "valid" if item["index"] % 2 else "invalid"
            assert (item["status"], item["verdict"]) == ("succeeded", expected), item
    one = next(item for item in done["items"] if item.get("id"))
    job = client.get(f"/v1/proofs/{one['id']}", headers=auth).json()
    assert job["result"]["verdict"] == one["verdict"]  # ordinary proof jobs


def test_batches_are_private_and_bounded(client, tokens, worker):
    alice, bob = tokens(), tokens()
    batch = client.post("/v1/proofs:batch", json={"items": [{"formula": "p -> p"}]},
                        headers=alice).json()
    assert_problem(client.get(f"/v1/batches/{batch['id']}", headers=bob), 404,
                   "batch-not-found")
    too_many = {"items": [{"formula": "p"}] * 501}
    assert_problem(client.post("/v1/proofs:batch", json=too_many, headers=alice), 422,
                   "validation-error")
    assert_problem(client.post("/v1/proofs:batch", json={"items": []}, headers=alice), 422,
                   "validation-error")


def test_a_batch_is_charged_in_proportion_to_its_size(api_settings, tokens, pxl_env):
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = api_settings.model_copy(update={
        "rate_limit_per_minute": 100, "rate_limit_burst": 20,
        "key_prefix": api_settings.key_prefix + "batch-rl:",
    })  # fmt: skip
    headers = tokens()
    with TestClient(create_app(settings)) as client:
        big = {"items": [{"formula": "p -> p"}] * 400}  # 16 requests' worth
        first = client.post("/v1/proofs:batch", json=big, headers=headers)
        assert first.status_code == 202, first.text
        again = client.post("/v1/proofs:batch", json=big, headers=headers)  # 4 tokens left
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1

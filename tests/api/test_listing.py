"""Listing with thousands of jobs (issue 10, finding 4): a status filter reads an index, list
items are summaries.  Before, `GET /v1/jobs?status=failed&limit=1` read every job document
of the owner (2,092 large jobs: 12 s, 10.8 CPU-s) and gave up with a bare cursor past 5,000;
`?limit=100` returned the whole documents (116 MB)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import VALID, proof_params
from workers.record import JobStatus

pytestmark = pytest.mark.integration

JOBS = 5_100  # past the 5,000 documents a filtered listing used to read before giving up
FILLER = "x" * 2_000  # each job document is a few KB; its summary a few hundred bytes


@pytest.fixture(scope="module")
def crowded(pxl_env):
    """A store whose owner "lister" has JOBS queued jobs and, the oldest of them, one failed.
    The jobs are never run, so the store hands them to no queue (publishing 5,100 Celery
    messages would only slow the test); the session's cleanup removes the keys."""
    from workers.connection import redis_client
    from workers.jobs import JobStore
    from workers.settings import get_settings

    settings = get_settings().model_copy(
        update={"queue_name": f"{pxl_env['PXL_QUEUE_NAME']}-listing",
                "max_live_jobs_per_client": 10**6})
    store = JobStore(redis_client(settings), settings, enqueue=lambda *_: None,
                     queue_depth=lambda: 0, schedule_webhook=lambda *_: None)
    params = {**proof_params(VALID), "formula_text": FILLER}
    ids = [store.submit(kind="proof", owner="lister", params=params)[0]["id"]
           for _ in range(JOBS)]
    store.finish(ids[0], JobStatus.FAILED, error={"type": "internal", "detail": "made to fail"})
    return store, ids


def test_a_status_filter_finds_the_one_match_among_thousands(crowded):
    store, ids = crowded
    page, cursor = store.list("lister", status="failed", limit=1)
    assert [s["id"] for s in page] == [ids[0]] and cursor is None
    assert page[0]["error_type"] == "internal" and page[0]["status"] == "failed"
    queued, cursor = store.list("lister", status="queued", limit=3)
    assert [s["id"] for s in queued] == ids[:0:-1][:3] and cursor == ids[-3]


def test_list_items_are_summaries_and_a_page_is_bounded(crowded, client, tokens):
    _store, ids = crowded
    response = client.get("/v1/jobs?limit=100", headers=tokens("lister"))
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == ids[::-1][:100]
    assert all("params" not in i and "result" not in i for i in items)
    assert items[0]["links"]["self"] == f"/v1/proofs/{ids[-1]}"
    assert len(response.content) < 100 * 600  # each document is over 2,000 bytes
    assert len(json.dumps(items[0])) < 600
    assert items[0]["formula_preview"] == FILLER[:119] + "…"

"""The run_job message the job store pushes itself (workers.celery_app.job_message) is the one
Celery would have published: same body, headers and properties, on the same Redis list.

Both are written to a real Redis under a queue no worker consumes and compared field by
field; only what is unique per message (delivery tag, publishing process, reply_to, which
is unused without a result backend) may differ.
"""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.integration.conftest import proof_params

pytestmark = pytest.mark.integration


def test_job_message_is_the_message_celery_publishes(pxl_env):
    from workers import logs
    from workers.celery_app import job_message, publish_job
    from workers.connection import redis_client
    from workers.keys import broker_queue_keys
    from workers.settings import get_settings

    settings = get_settings().model_copy(
        update={"queue_name": f"pxltest-message-{uuid.uuid4().hex[:8]}"})
    client = redis_client(settings)
    job_id = "0" * 10 + uuid.uuid4().hex[:16]
    params = proof_params("[]p -> p", timeout=7.0)
    token = logs.request_id_var.set("req-123")
    try:
        publish_job(settings, job_id, params)
    finally:
        logs.request_id_var.reset(token)
    key = broker_queue_keys(settings, settings.queue_name)[0]
    published = client.rpop(key)
    assert published is not None and client.llen(key) == 0
    celery = json.loads(published)

    ours_key, payload = job_message(settings, job_id, params, "req-123")
    ours = json.loads(payload)
    assert ours_key == key
    for message in (celery, ours):
        message["properties"].pop("reply_to")
        assert uuid.UUID(message["properties"].pop("delivery_tag"))
        assert message["headers"].pop("origin")
    assert ours == celery
    assert json.loads(base64.b64decode(ours["body"]))[0] == [job_id]
    assert ours["headers"]["timelimit"] == [7.0 + 2 + 3, 7.0 + 2]  # the test env's grace

"""docs/api.md's examples and numbers are what the service does: the documented request is sent
and its answer compared with the documented one; the documented limits are the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workers.record import MAX_DOCUMENT_NESTING, RECURSION_LIMIT_FOR_DOCUMENTS

pytestmark = pytest.mark.integration

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_the_parse_error_example_is_the_servers_answer(client, auth):
    intro, _, rest = DOC.partition("Example: the answer to `POST /v1/proofs` with `")
    assert rest, "the example is gone from docs/api.md"
    request = json.loads(rest.split("`", 1)[0])
    documented = json.loads(re.search(r"```json\n(.*?)```", rest, re.S).group(1))
    answer = client.post("/v1/proofs", json=request, headers=auth)
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json() == documented


def test_the_documented_nesting_and_recursion_limits_are_the_codes():
    row = next(line for line in DOC.splitlines() if line.startswith("| `json-too-deep`"))
    assert f"= {MAX_DOCUMENT_NESTING:,} levels" in row
    assert f"= {RECURSION_LIMIT_FOR_DOCUMENTS:,} so that" in DOC

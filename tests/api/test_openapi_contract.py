"""The committed contract openapi/prooftoken.yaml is exactly what the app serves.

When this fails the API changed: run scripts/export-openapi, review the diff of
openapi/prooftoken.yaml and commit it with the code change.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from api.app import create_app

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "prooftoken.yaml"
HOW_TO_FIX = "the app's OpenAPI differs from openapi/prooftoken.yaml: run scripts/export-openapi, "
HOW_TO_FIX += "review `git diff openapi/prooftoken.yaml`, commit it with the change"


def differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a:
                out.append(f"{path}/{key}: only in the app")
            elif key not in b:
                out.append(f"{path}/{key}: only in the file")
            else:
                out.extend(differences(a[key], b[key], f"{path}/{key}"))
        return out
    if a != b:
        return [f"{path}: file {json.dumps(a)[:80]} != app {json.dumps(b)[:80]}"]
    return []


def generated() -> dict:
    return json.loads(json.dumps(create_app().openapi()))


def test_contract_file_matches_the_app():
    committed = yaml.safe_load(CONTRACT.read_text())
    diff = differences(committed, generated())
    assert not diff, HOW_TO_FIX + ":\n" + "\n".join(diff[:30])


def test_contract_declares_the_promised_surface():
    schema = generated()
    paths = schema["paths"]
    submit = paths["/v1/proofs"]["post"]
    headers = {p["name"].lower() for p in submit["parameters"] if p["in"] == "header"}
    assert {"prefer", "idempotency-key"} <= headers
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ProofSubmission"
    )
    for status in ("200", "202"):
        assert {"Location", "Preference-Applied"} <= set(submit["responses"][status]["headers"])
    assert "Retry-After" in submit["responses"]["503"]["headers"]
    for status in ("400", "409", "413", "415", "422", "503"):
        assert "application/problem+json" in submit["responses"][status]["content"]
    for path_item in paths.values():
        for operation in path_item.values():
            for response in operation["responses"].values():
                assert {"X-PXL-Coqchk", "X-Build-SHA", "X-V4-SHA"} <= set(response["headers"])
    assert set(paths["/v1/jobs/{job_id}"]) >= {"get", "delete"}
    events = paths["/v1/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]
    assert "404" in events["responses"] and "/v1/jobs" in paths and "/v1/health" in paths
    described = json.dumps(schema)
    for slug in (
        "malformed-json",
        "invalid-formula",
        "job-not-found",
        "idempotency-conflict",
        "queue-full",
        "body-too-large",
        "unsupported-media-type",
    ):
        assert f"https://pxl.logos/problems/{slug}" in described


def test_a_changed_contract_is_noticed():
    schema = generated()
    changed = json.loads(json.dumps(schema))
    changed["paths"]["/v1/proofs"]["post"]["responses"].pop("409")
    changed["components"]["schemas"]["ProofSubmission"]["properties"]["timeout"]["anyOf"][0][
        "maximum"
    ] = 600
    diff = differences(changed, schema)
    assert any("/409: only in the app" in d for d in diff)
    assert any("timeout" in d and "600" in d for d in diff)

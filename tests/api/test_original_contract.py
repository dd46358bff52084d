"""The original v1 contract's requests still work (docs/api.md "Differences from the original
v1 contract"): its formula objects, `context`, the v4 overlay's `formula`, `proof_id`, the
contract's servers and JWT bearer format. Against the real app, Redis and worker."""

from __future__ import annotations

import pytest
import yaml

from tests.api.conftest import poll
from tests.integration.conftest import ROOT
from workers.prover.errors import FormulaError
from workers.prover.original_form import original_to_json
from workers.prover.printer import to_text
from workers.prover.reader import read_formula

pytestmark = pytest.mark.integration

# The example of the original's GUI default, k6 payloads and api/spec/prooftoken.md.
ORIGINAL = {"formula": {"type": "implies", "left": "A", "right": "B"}, "context": {},
            "overlay": "chrono"}


def test_the_originals_example_request_runs_and_is_answered_with_proof_id(client, auth, worker):
    response = client.post("/v1/proofs", json=ORIGINAL, headers=auth)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["proof_id"] == job["id"]
    assert job["params"]["formula_text"] == "A -> B" and job["params"]["context"] == {}
    done = poll(client, f"/v1/proofs/{job['proof_id']}", auth)
    assert done["status"] == "succeeded" and done["proof_id"] == job["id"]
    assert done["result"]["verdict"] == "invalid"  # A -> B is not valid
    assert isinstance(done["result"]["elapsed_ms"], float)


def test_original_objects_with_context_in_every_overlay(client, auth, worker):
    k_axiom = {"type": "implies",
               "left": {"type": "box", "arg": {"type": "implies", "left": "p", "right": "q"}},
               "right": {"type": "implies", "left": {"type": "box", "arg": "p"},
                         "right": {"type": "box", "arg": "q"}}}  # fmt: skip
    context = {"session": "s-1", "notes": ["from the original client"]}
    for overlay in ("modal", "chrono"):
        response = client.post("/v1/proofs", headers=auth,
                               json={"formula": k_axiom, "context": context, "overlay": overlay})
        assert response.status_code == 202, response.text
        done = poll(client, f"/v1/proofs/{response.json()['id']}", auth)
        assert done["result"]["verdict"] == "valid", overlay
        assert done["params"]["context"] == context


def test_the_v4_overlay_takes_the_originals_formula_field(client, auth, worker):
    body = {"operation": "validate", "formula": {"kind": "knowledge", "claim": "[]p -> p"}}
    response = client.post("/v1/overlays/v4", json=body, headers=auth)
    assert response.status_code == 202, response.text
    assert poll(client, f"/v1/jobs/{response.json()['id']}", auth)["status"] == "succeeded"


def test_bad_original_objects_are_a_422_with_the_place(client, auth):
    for formula, pointer in (({"type": "implies", "left": "A"}, ""),
                             ({"type": "and", "left": "A", "right": {"type": "xor"}},
                              "/right/type"),
                             ({"type": "not", "arg": 7}, "/arg")):
        response = client.post("/v1/proofs", json={"formula": formula}, headers=auth)
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("invalid-formula")
        assert response.json()["path"] == pointer, response.text  # within the formula
    too_big = {"formula": "p", "context": {"pad": "x" * 5000}}
    assert client.post("/v1/proofs", json=too_big, headers=auth).status_code == 422


def test_both_original_shapes_read_as_the_same_formula():
    plain = {"type": "implies", "left": {"type": "box", "arg": "p"}, "right": "p"}
    branch = {"type": "MImpl", "antecedent": {"type": "MBox", "operand": {"type": "MProp",
              "value": "p"}}, "consequent": {"type": "MProp", "value": "p"}}  # fmt: skip
    assert to_text(read_formula(plain)) == to_text(read_formula(branch)) == "[]p -> p"
    assert original_to_json({"type": "bot"}) == {"const": False}
    deep = "p"
    for _ in range(1500):  # iterative: no recursion limit
        deep = {"type": "not", "arg": deep}
    assert to_text(read_formula(deep)).startswith("~~~")
    with pytest.raises(FormulaError):
        read_formula({"type": "atom"})


def test_the_contract_names_servers_and_a_jwt_bearer():
    contract = yaml.safe_load((ROOT / "openapi" / "prooftoken.yaml").read_text())
    assert contract["servers"][0]["url"] == "/"
    schemes = contract["components"]["securitySchemes"]
    assert any(s.get("bearerFormat") == "JWT" for s in schemes.values())

"""The GitHub Actions workflow cannot run here; its structure is checked instead: it runs the
project's own CI entry point and scripts (which exist), builds the image with the build SHA,
produces an SBOM and a bandit report, scans the image, and deploys only from main, after every
other job and through an approval-gated environment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


CI = load(ROOT / ".github" / "workflows" / "ci.yml")
JOBS = CI["jobs"]


def runs(job: str) -> str:
    return "\n".join(step.get("run", "") for step in JOBS[job]["steps"])


def uses(job: str) -> list[str]:
    return [step["uses"] for step in JOBS[job]["steps"] if "uses" in step]


def test_every_workflow_is_well_formed():
    assert WORKFLOWS
    for path in WORKFLOWS:
        doc = load(path)
        assert doc["name"] and doc["on"] and doc["jobs"], path
        for name, job in doc["jobs"].items():
            assert job["runs-on"] and job["steps"], (path, name)
            assert isinstance(job.get("timeout-minutes"), int), (path, name)
            for need in job.get("needs", []):
                assert need in doc["jobs"], (path, name, need)
            for step in job["steps"]:
                assert ("run" in step) != ("uses" in step), (path, name, step)
                if "uses" in step:  # every action pinned to a version
                    assert re.fullmatch(r"[\w.-]+/[\w.-]+@[\w.-]+", step["uses"]), step["uses"]


def test_scripts_the_workflow_runs_exist():
    for job in JOBS:
        for script in re.findall(r"(?:bash |\./)((?:scripts|\.ci)/[\w.-]+)", runs(job)):
            assert (ROOT / script).is_file(), (job, script)


def test_the_test_job_is_the_projects_own_ci():
    assert "bash .ci/run" in runs("test")
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert set(CI["on"]) >= {"push", "pull_request"}


def test_security_job_makes_an_sbom_and_a_bandit_report_that_ci_runs_too():
    assert "bash scripts/security-scan" in runs("security")
    scan = (ROOT / "scripts" / "security-scan").read_text()
    assert "cyclonedx-py environment" in scan and "reports/sbom.cdx.json" in scan
    assert "--severity-level medium" in scan and "reports/bandit.json" in scan
    assert "scripts/security-scan" in (ROOT / ".ci" / "run").read_text()


def test_image_job_builds_with_the_sha_and_scans_the_image():
    assert "docker build --build-arg GIT_SHA=${{ github.sha }}" in runs("image")
    actions = " ".join(uses("image"))
    assert "anchore/sbom-action" in actions and "aquasecurity/trivy-action" in actions
    trivy = next(s for s in JOBS["image"]["steps"] if "trivy" in s.get("uses", ""))
    assert trivy["with"]["exit-code"] == "1"


def test_deploy_waits_for_everything_and_an_approval_on_main_only():
    deploy = JOBS["deploy"]
    assert set(deploy["needs"]) == set(JOBS) - {"deploy"}
    assert deploy["environment"] == "production"
    assert "refs/heads/main" in deploy["if"]

"""The dependency rule: api -> workers -> workers/prover; workers/overlays -> workers/prover.

The prover and the overlays are pure (no api, Celery, Redis, HTTP or web framework), and
``workers`` never imports ``api``.  Checked on the source, so a lazy import inside a function
counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMPURE = ("api", "celery", "kombu", "redis", "fakeredis", "httpx", "fastapi", "starlette",
          "uvicorn", "requests", "socket", "urllib")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in sources(folder):
        bad = sorted(m for m in imported_modules(path)
                     if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


@pytest.mark.parametrize("folder", ["workers/prover", "workers/overlays"])
def test_the_logic_core_is_pure(folder):
    assert sources(folder), folder
    assert offending(folder, IMPURE) == {}


def test_the_overlays_use_the_prover_and_not_the_platform():
    assert offending("workers/overlays", ("workers.jobs", "workers.tasks", "workers.celery_app",
                                          "workers.webhooks", "workers.runners")) == {}


def test_the_prover_does_not_import_the_overlays():
    assert offending("workers/prover", ("workers.overlays",)) == {}


def test_workers_never_import_api():
    assert offending("workers", ("api",)) == {}

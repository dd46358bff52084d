"""The dependency rule: api -> workers -> workers/prover; workers/overlays -> workers/prover.

The prover and the overlays are pure (no api, Celery, Redis, HTTP or web framework), and
``workers`` never imports ``api``.  Within api/ and workers/ no two modules import each other,
however indirectly, and the platform's modules import only down its layers (LAYERS below).
Checked on the source, so a lazy import inside a function counts too.
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


# --- the module graph of api/ and workers/: no cycles, and the platform's layers ----------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for folder in ("api", "workers") for p in sources(folder)}


def _known(name: str) -> str | None:
    """The module of ours ``name`` refers to (a module, or a name inside one), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Our modules that ``module`` imports anywhere in its source: at the top, inside
    functions and under ``if TYPE_CHECKING`` alike (every Import / ImportFrom node)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # ``from package import submodule`` depends on the submodule, not on the package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        found.update(t for t in map(_known, targets) if t and t != module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles_through_function_level_imports():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    # The graph is read from the source: an import inside a function is an edge too.
    assert "workers.jobs" in GRAPH["workers.celery_app"]
    assert "workers.supervisor" in GRAPH["api.cli.service"]  # imported inside worker_command


def test_no_import_cycles_in_api_and_workers():
    assert cycles(GRAPH) == []


# The platform under api/, bottom-up, in one sentence: settings -> Redis keys, the job record
# and the rate limiter's Lua
# -> the Redis structures beside the records (events, idempotency ledger, heartbeats, metrics,
# the client) -> the job store (knows nothing of Celery) -> the queue (the Celery app: publish,
# revoke, depth) -> what workers run (runners, webhooks, tasks) -> the supervisor.  A module
# imports its own layer (acyclically) and those below; the pure prover and overlays are below
# all of it; the API sits on top and calls the store and the queue.
LAYERS: list[tuple[str, ...]] = [
    ("workers.prover", "workers.overlays"),
    ("workers.settings", "workers.logs", "workers.tracing", "workers.clients",
     "workers.embedded", "workers.processes"),
    ("workers.keys", "workers.record", "workers.limits"),
    ("workers.events", "workers.idempotency", "workers.cache", "workers.batches",
     "workers.heartbeats",
     "workers.metrics", "workers.fleet_collector", "workers.connection"),
    ("workers.jobs",),
    ("workers.reconciler",),
    ("workers.celery_app",),
    ("workers.runners", "workers.webhooks", "workers.tasks"),
    ("workers.supervisor",),
    ("api",),
]


def layer_of(module: str) -> int:
    for level, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return level
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_every_module_is_in_a_layer():
    for module in MODULES:
        if module not in ("api", "workers"):  # the (empty) top-level packages
            layer_of(module)


def test_imports_point_down_the_layers():
    upward = {
        f"{module} -> {target}"
        for module, targets in GRAPH.items() if module not in ("api", "workers")
        for target in targets if target not in ("api", "workers")
        and layer_of(target) > layer_of(module)
    }
    assert upward == set()


def below(module: str) -> set[str]:
    """``module`` and every module of ours it imports, directly or not."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(GRAPH[current])
    return seen


def test_the_store_knows_nothing_of_celery():
    # (workers.keys takes the broker's key layout from kombu's Redis transport: key names only)
    store = below("workers.jobs")
    assert {"workers.jobs", "workers.keys", "workers.metrics"} <= store
    found = {m: bad for m in sorted(store)
             if (bad := offending_module(m, ("celery", "workers.celery_app")))}
    assert found == {}


def test_metrics_read_keys_not_the_store_or_the_queue():
    for module in ("workers.metrics", "workers.fleet_collector"):
        assert not below(module) & {"workers.jobs", "workers.celery_app"}
        assert "workers.keys" in GRAPH[module]


def offending_module(module: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imported_modules(MODULES[module])
                  if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_the_python_client_stands_alone():
    """pxl_client is for the service's users: it must not need the service's code."""
    assert sources("pxl_client")
    assert offending("pxl_client", ("api", "workers", "celery", "redis", "fastapi")) == {}

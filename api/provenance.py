"""Provenance of the running service: which code, which v4 adapter table, which kernel check.

Every response carries the three values as headers (``api.security`` adds them) and
``/v1/health`` shows them. Each comes from something real, computed once per process:

* ``build_sha`` / ``X-Build-SHA`` — the git commit the code was built from. First the build-info
  file written at build or install time (``python -m api.provenance write-build-info``, run by
  the container build with the commit as argument), else ``git rev-parse HEAD`` of the source
  checkout the code runs from (suffixed ``-dirty`` when that tree has uncommitted changes, since
  then the commit does not describe the code), else ``unknown``.
* ``v4_sha`` / ``X-V4-SHA`` — SHA-256 of the canonical JSON of the v4 overlay's adapter table,
  which embeds its version (``workers.overlays.v4.adapter_table_sha256``).
* ``coqchk`` / ``X-PXL-Coqchk`` — the result of ``coqchk`` on the PXL kernel (``coq/``), read from
  the stamp ``pxl coq-check`` writes (``settings.coqchk_result_file``; unset: the checkout's
  ``build/coq/coqchk.json``; empty: none); ``unchecked`` when there is none.  The stamp names
  the status (``passed``/``failed``), the SHA-256 of the kernel sources (``sources_sha256``), the coqchk
  version and the SHA-256 of every source and ``.vo`` file (``files``, relative to the stamp).
  Those files are hashed again at startup; a mismatch reports ``stale`` (the check was of other
  text).  docs/coq.md.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from workers.overlays.v4 import adapter_table_sha256
from workers.settings import Settings, get_settings

SOURCE_ROOT = Path(__file__).resolve().parent.parent
BUILD_INFO_FILE = Path(__file__).resolve().parent / "build_info.json"
UNKNOWN = "unknown"
UNCHECKED = "unchecked"
# where `pxl coq-check` stamps the kernel it built (build/ is gitignored); the default stamp
DEFAULT_COQCHK_STAMP = SOURCE_ROOT / "build" / "coq" / "coqchk.json"
COQCHK_STATES = ("passed", "failed", "stale", UNCHECKED)  # first word of the coqchk value

# response header -> field of provenance()
PROVENANCE_HEADERS = {"X-Build-SHA": "build_sha", "X-V4-SHA": "v4_sha", "X-PXL-Coqchk": "coqchk"}


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(SOURCE_ROOT), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit() -> str | None:
    """The checkout's HEAD (with ``-dirty`` when the tree differs from it), or None."""
    if not (SOURCE_ROOT / ".git").exists():
        return None
    sha = _git("rev-parse", "HEAD")
    if not sha:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}-dirty" if status else sha


def build_sha(build_info: Path = BUILD_INFO_FILE) -> str:
    try:
        sha = json.loads(build_info.read_text())["build_sha"]
        if isinstance(sha, str) and sha:
            return sha
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return git_commit() or UNKNOWN


def v4_sha() -> str:
    return adapter_table_sha256()


def file_digests(directory: Path, names: list[str]) -> tuple[str, dict[str, str]]:
    """(digest of the set, {name: SHA-256}) of files in ``directory``: the set's digest is the
    SHA-256 of their ``sha256sum`` lines in name order."""
    digests = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in names}
    lines = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))
    return hashlib.sha256(lines.encode()).hexdigest(), digests


def coqchk_status(result_file: str | Path | None) -> str:
    """``<status> kernel-sha256=<hex>[ coqchk=<version>]``, ``stale …``, or ``unchecked``."""
    if not result_file:
        return UNCHECKED
    path = Path(result_file)
    try:
        result = json.loads(path.read_text())
        status = str(result["status"])
        kernel_sha = str(result["sources_sha256"])
        files = dict(result["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return UNCHECKED
    if status not in {"passed", "failed"} or not files:
        return UNCHECKED
    try:
        current = file_digests(path.parent, list(files))[1]
    except (OSError, TypeError, ValueError):
        current = None
    if current != files:
        status = "stale"  # the kernel or its build changed (or vanished) since it was checked
    value = f"{status} kernel-sha256={kernel_sha}"
    version = result.get("coqchk_version")
    if isinstance(version, str) and version.replace(".", "").isalnum():
        value += f" coqchk={version}"
    return value


@lru_cache(maxsize=1)
def _computed(coqchk_result_file: str | None) -> tuple[tuple[str, str], ...]:
    return (
        ("build_sha", build_sha()),
        ("v4_sha", v4_sha()),
        ("coqchk", coqchk_status(coqchk_result_file)),
    )


def provenance(settings: Settings | None = None) -> dict[str, str]:
    """``{"build_sha", "v4_sha", "coqchk"}``, computed once per process."""
    settings = settings or get_settings()
    stamp = settings.coqchk_result_file
    return dict(_computed(str(DEFAULT_COQCHK_STAMP) if stamp is None else stamp))


def provenance_headers(settings: Settings | None = None) -> dict[str, str]:
    values = provenance(settings)
    return {header: values[field] for header, field in PROVENANCE_HEADERS.items()}


def write_build_info(sha: str | None = None, path: Path = BUILD_INFO_FILE) -> str:
    """Record the commit being built (default: the checkout's HEAD) for ``build_sha``."""
    sha = sha or git_commit() or UNKNOWN
    path.write_text(json.dumps({"build_sha": sha}) + "\n")
    return sha


if __name__ == "__main__":  # python -m api.provenance write-build-info [SHA]
    if len(sys.argv) >= 2 and sys.argv[1] == "write-build-info":
        print(write_build_info(sys.argv[2] if len(sys.argv) > 2 else None))
    else:
        print(json.dumps(provenance(), indent=2))

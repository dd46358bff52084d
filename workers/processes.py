"""The process tree of a service command (`pxl worker`, `pxl up`), so that stopping it leaves
nothing behind: a child's own children are found and ended too, whatever process group or
session they put themselves in.

On Linux the command becomes a "child subreaper": a descendant whose parent died is re-parented
to it instead of to init, so it still shows up in ``descendants(os.getpid())``.  Elsewhere only
the live tree is seen.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux prctl); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """{pid: parent pid} of every process, from /proc (empty where there is no /proc)."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children first)."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        below = [p for p, parent in parents.items() if parent in frontier and p not in found]
        found += below
        frontier = below
    return found


def kill_tree(pid: int, signum: int = signal.SIGKILL) -> list[int]:
    """Signal ``pid`` and everything below it; returns the pids signalled."""
    pids = [pid, *descendants(pid)]
    for each in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(each, signum)
    return pids


def end_descendants() -> None:
    """SIGKILL whatever still runs below this process (adopted orphans included) and reap
    those that are its children: the last step of stopping a service command."""
    pids = descendants(os.getpid())
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)  # only this process's children can be waited for

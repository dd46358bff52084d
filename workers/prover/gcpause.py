"""Python's cyclic garbage collector, paused while proofs and checks run.

A proof or a certificate check allocates millions of small lists (clauses, hint chains)
that live until it ends and form no cycles; every full collection traverses all of them
again.  On LWB k_poly_p at 49,000 nodes that was more than half of a proof (4.2 s with,
1.9 s without) and up to a quarter of its check (docs/benchmarks.md).  Reference counting
still frees everything.  One count for every caller in the process (proofs and checks, any
thread): collection resumes, and catches up, when the last of them ends, and a collector
the caller had disabled stays disabled.  ``pause``/``resume`` are two plain calls (for a
``try``/``finally``): a generator-based context manager cost a small proof a few per cent.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_pauses = 0  # proofs and checks running with the collector paused
_was_enabled = False


def pause() -> None:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1


def resume() -> None:
    global _pauses
    with _lock:
        _pauses -= 1
        if _pauses == 0 and _was_enabled:
            gc.enable()

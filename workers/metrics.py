"""Job lifecycle metrics hooks (interface; the observability issue fills them in).

The job platform calls these at each lifecycle point; they must never raise.
"""

from __future__ import annotations


def job_submitted(kind: str) -> None:
    pass


def job_started(kind: str, queue_wait_s: float) -> None:
    pass


def job_finished(kind: str, status: str, verdict: str | None, run_s: float, end_to_end_s: float) -> None:
    pass


def webhook_delivery(outcome: str) -> None:
    """outcome: delivered | retry | failed | refused"""

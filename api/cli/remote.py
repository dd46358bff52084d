"""``pxl submit``, ``pxl job``, ``pxl events``, ``pxl ping``: a running service, through
pxl_client.

The service is ``PXL_URL`` (default http://127.0.0.1:8080, or ``--url``); the token is
``PXL_TOKEN``, or one is fetched with ``PXL_CLIENT_ID`` and ``PXL_CLIENT_SECRET``. These are
the client's variables, not settings of the service. Exit status of ``submit --wait`` follows
``pxl prove``: 0 valid, 1 invalid, 2 unknown; 3 for a refused submission, 4 when the job
failed or was cancelled. ``pxl ping URL`` has the service send a signed ``ping`` webhook to
URL and prints its delivery log: 0 delivered, 4 failed (or still pending), 3 refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_URL = "http://127.0.0.1:8080"
VERDICT_EXIT = {"valid": 0, "invalid": 1, "unknown": 2}


def register(sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None,
                        help=f"the service (default: $PXL_URL or {DEFAULT_URL})")

    submit = sub.add_parser("submit", parents=[common], help="submit a proof job to a service")
    submit.add_argument("formula", help="PXL text, or @FILE to read it from a file")
    submit.add_argument("--wait", action="store_true",
                        help="wait for the result (event stream, else polling)")
    submit.add_argument("--timeout", type=float, default=None, help="prover budget, seconds")
    submit.add_argument("--overlay", choices=["modal", "chrono", "v4"], default=None,
                        help="formula language (default modal)")
    submit.add_argument("--idempotency-key", default=None,
                        help="the key to retry with (default: a new UUID)")
    submit.set_defaults(func=_submit)

    job = sub.add_parser("job", parents=[common], help="print a job's document")
    job.add_argument("job_id")
    job.set_defaults(func=_job)

    events = sub.add_parser("events", parents=[common],
                            help="follow a job's events until its final one")
    events.add_argument("job_id")
    events.set_defaults(func=_events)

    ping = sub.add_parser("ping", parents=[common],
                          help="have a service send a signed ping webhook to a URL")
    ping.add_argument("callback_url")
    ping.set_defaults(func=_ping)


def _client(args):
    from pxl_client import Client

    return Client(
        args.url or os.environ.get("PXL_URL") or DEFAULT_URL,
        token=os.environ.get("PXL_TOKEN") or None,
        client_id=os.environ.get("PXL_CLIENT_ID") or None,
        client_secret=os.environ.get("PXL_CLIENT_SECRET") or None,
    )


def _print(document: dict) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _failure(exc: Exception) -> int:
    print(f"pxl: {exc}", file=sys.stderr)
    return 3


def _submit(args) -> int:
    import httpx

    from pxl_client import PxlError

    formula = args.formula
    if formula.startswith("@"):
        with open(formula[1:], encoding="utf-8") as handle:
            formula = handle.read()
    try:
        with _client(args) as client:
            job = client.submit(formula, timeout=args.timeout, overlay=args.overlay,
                                idempotency_key=args.idempotency_key)
            if not args.wait:
                _print(job)
                return 0
            job = client.wait(job["id"])
    except (PxlError, httpx.HTTPError) as exc:
        return _failure(exc)
    _print(job)
    if job["status"] != "succeeded":
        return 4
    return VERDICT_EXIT.get((job.get("result") or {}).get("verdict"), 2)


def _job(args) -> int:
    import httpx

    from pxl_client import PxlError

    try:
        with _client(args) as client:
            _print(client.get(args.job_id))
    except (PxlError, httpx.HTTPError) as exc:
        return _failure(exc)
    return 0


def _events(args) -> int:
    import httpx

    from pxl_client import PxlError

    try:
        with _client(args) as client:
            for name, data in client.events(args.job_id):
                print(f"{name} {json.dumps(data, ensure_ascii=False)}", flush=True)
    except (PxlError, httpx.HTTPError) as exc:
        return _failure(exc)
    return 0


def _ping(args) -> int:
    import httpx

    from pxl_client import PxlError

    try:
        with _client(args) as client:
            log = client.ping(args.callback_url)
    except (PxlError, httpx.HTTPError) as exc:
        return _failure(exc)
    _print(log)
    return 0 if log["state"] == "delivered" else 4

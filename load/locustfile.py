"""Locust scenarios for the PXL service, with an SLO gate on the exit code.

Run headless against a loopback service whose clients file holds the load clients (``run.py``
sets all of this up; see load/README.md):

    locust -f load/locustfile.py --headless --host http://127.0.0.1:18800 \\
        --credentials DIR/credentials.json --stages 10:60,50:60,100:60 --summary-json out.json

Users (FastHttpUser: geventhttpclient, a fraction of requests' CPU on the same cores):

* ``ApiClient`` — each user is one client id from the credentials file: it gets a token with
  ``POST /v1/auth/token`` (client credentials, HTTP Basic) like a real client, then runs the
  MIX of job flows below with 1–3 s of think time (under its own 100/min rate limit).
* ``HealthProbe`` — two load-balancer-like probes of ``GET /v1/health``, one per second.
* ``LimiterProbe`` — one client sending back to back, to show the limiter refusing (only when
  named on the command line: ``locust ... LimiterProbe``).

Every job flow is also recorded as one request of type ``JOB``: its end-to-end latency, from
submission to the finished job in the client's hands.  Flows that learn the end by polling are
type ``JOB (polled)``: their latency is mostly the client's poll schedule (50, 150, 350, 750 ms
…), so they are reported but not part of the P95 gate. 429 answers are not failures: they are
counted apart (request type ``429``) and the client waits ``Retry-After``.

The gate (``quitting`` listener): the exit code is 1 when the P95 of the ``JOB`` latencies,
the error rate (failed requests and jobs over all of them, 429s excluded) or the largest
``pxl_queue_depth`` scraped from ``/v1/metrics`` once a second breaks its threshold
(``--slo-p95-ms`` 300, ``--slo-error-rate`` 0.05, ``--slo-queue-depth`` 10).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import resource
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import gevent
from gevent.pywsgi import WSGIServer
from locust import FastHttpUser, LoadTestShape, between, constant, events, task
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load.mix import (  # noqa: E402
    CHRONO_BODIES,
    HARD_FORMULA,
    INVALID_FORMULAS,
    MALFORMED_FORMULAS,
    V4_BODIES,
    VALID_FORMULAS,
)
from workers.webhooks import verify as verify_webhook  # noqa: E402

FINAL = ("succeeded", "failed", "cancelled")
# Shares of the proof formulas (the rest of the mix is in ApiClient's task weights).
PROOF_SHARES = (("valid", 0.58), ("invalid", 0.39), ("hard", 0.03))
JOB = "JOB"  # request type of the end-to-end entries
JOB_POLLED = "JOB (polled)"  # the same, for flows that poll for the end
RATE_LIMITED = "429"  # request type of the refused requests' entries


@events.init_command_line_parser.add_listener
def _options(parser):
    group = parser.add_argument_group("pxl")
    group.add_argument("--credentials", help="credentials.json written by load/service.py")
    group.add_argument("--stages", default="10:60,50:60,100:60",
                       help="users:seconds,... (the ramp; each stage holds its user count)")
    group.add_argument("--spawn-rate-per-s", type=float, default=10.0)
    group.add_argument("--max-requests", type=int, default=0, help="stop after N (0: no cap)")
    group.add_argument("--slo-p95-ms", type=float, default=300.0)
    group.add_argument("--slo-error-rate", type=float, default=0.05)
    group.add_argument("--slo-queue-depth", type=float, default=10.0)
    group.add_argument("--webhook-port", type=int, default=0, help="0: no webhook jobs")
    group.add_argument("--jobs-file", help="write the ids of accepted jobs here")
    group.add_argument("--summary-json", help="write the gate's figures here")
    group.add_argument("--timeline-csv", help="per second: users, queue depth")


def parse_stages(text: str) -> list[tuple[int, float]]:
    return [(int(u), float(s)) for u, s in (part.split(":") for part in text.split(","))]


class Stages(LoadTestShape):
    """The ramp: each stage holds its user count for its seconds; then the run ends."""

    def tick(self):
        opts = self.runner.environment.parsed_options
        end = 0.0
        for users, seconds in parse_stages(opts.stages):
            end += seconds
            if self.get_run_time() < end:
                return users, opts.spawn_rate_per_s
        return None


# --- shared state of this load generator -------------------------------------------------------

STATE = {"accepted": set(), "max_queue_depth": 0.0, "scrapes": 0, "scrape_errors": 0,
         "webhooks": Counter(), "webhook_bad": 0, "limiter": Counter()}
_client_ids = itertools.count()


def credentials(environment) -> dict:
    if "creds" not in STATE:
        STATE["creds"] = json.loads(Path(environment.parsed_options.credentials).read_text())
    return STATE["creds"]


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def record(environment, request_type: str, name: str, elapsed_s: float, error=None) -> None:
    environment.events.request.fire(
        request_type=request_type, name=name, response_time=elapsed_s * 1000.0,
        response_length=0, exception=error, context={},
    )


class JobFailed(Exception):
    pass


class PxlUser(FastHttpUser):
    abstract = True
    connection_timeout = 10.0
    network_timeout = 40.0

    def on_start(self):
        creds = credentials(self.environment)
        ids = creds["clients"]
        self.client_id = ids[next(_client_ids) % len(ids)]
        self.token = None
        while self.token is None:
            with self.client.post(
                "/v1/auth/token", data="grant_type=client_credentials",
                headers={"Authorization": basic(self.client_id, creds["secret"]),
                         "Content-Type": "application/x-www-form-urlencoded"},
                catch_response=True,
            ) as r:
                if r.status_code == 200:
                    self.token = r.json()["access_token"]
                    r.success()
                elif self._limited(r, "/v1/auth/token"):
                    continue
                else:
                    r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
                    gevent.sleep(1.0)

    def _limited(self, r, name: str) -> bool:
        """A 429: not a failure; counted apart, and the client waits as told."""
        if r.status_code != 429:
            return False
        r.success()
        record(self.environment, RATE_LIMITED, name, 0.0)
        gevent.sleep(float(r.headers.get("Retry-After") or 1))
        return True

    def call(self, method: str, path: str, name: str, expect=(200, 202), **kw):
        """One request; returns the response when its status is expected, else None.
        ``None`` with ``self.was_limited`` set means a 429 (already waited out)."""
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        self.was_limited = False
        with self.client.request(method, path, name=name, headers=headers,
                                 catch_response=True, **kw) as r:
            if self._limited(r, name):
                self.was_limited = True
                return None
            if r.status_code in expect:
                r.success()
                return r
            r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
            return None


class ApiClient(PxlUser):
    wait_time = between(1.0, 3.0)  # ~1 request/s per client: under its 100/min, 20 burst

    def formula(self) -> str:
        kind = random.choices([k for k, _ in PROOF_SHARES], [w for _, w in PROOF_SHARES])[0]
        if kind == "hard":
            return HARD_FORMULA
        return random.choice(VALID_FORMULAS if kind == "valid" else INVALID_FORMULAS)

    def submit(self, path: str, body: dict, name: str, wait: int = 0):
        headers = {"Prefer": f"wait={wait}"} if wait else {}
        r = self.call("POST", path, name, json=body, headers=headers)
        if r is None:
            return None
        doc = r.json()
        STATE["accepted"].add(doc["id"])
        return doc

    def finish(self, name: str, t0: float, doc: dict | None, kind: str = JOB) -> None:
        """Record the flow's end-to-end entry (failure if the job did not succeed)."""
        if doc is None:
            return
        error = None if doc.get("status") == "succeeded" else JobFailed(
            f"job {doc.get('id')} ended {doc.get('status')}: {doc.get('error')}")
        record(self.environment, kind, name, time.perf_counter() - t0, error)

    def poll(self, doc: dict, path: str) -> dict | None:
        delay = 0.05
        deadline = time.monotonic() + 60
        while doc["status"] not in FINAL:
            if time.monotonic() > deadline:
                record(self.environment, JOB, "poll timeout", 60.0,
                       JobFailed(f"job {doc['id']} not final after 60 s"))
                return None
            gevent.sleep(delay)
            delay = min(delay * 2, 0.5)
            r = self.call("GET", f"{path}/{doc['id']}", f"GET {path}/{{id}}")
            if r is not None:
                doc = r.json()
            elif not self.was_limited:
                return None
        return doc

    @task(35)
    def prefer_wait(self):
        t0 = time.perf_counter()
        doc = self.submit("/v1/proofs", {"formula": self.formula(), "timeout": 10},
                          "POST /v1/proofs (Prefer: wait)", wait=10)
        if doc is not None and doc["status"] not in FINAL:
            doc = self.poll(doc, "/v1/proofs")
        self.finish("proof, Prefer: wait", t0, doc)

    @task(25)
    def submit_and_poll(self):
        t0 = time.perf_counter()
        doc = self.submit("/v1/proofs", {"formula": self.formula(), "timeout": 10},
                          "POST /v1/proofs")
        if doc is not None:
            doc = self.poll(doc, "/v1/proofs")
        self.finish("proof, submit and poll", t0, doc, JOB_POLLED)

    @task(15)
    def submit_and_follow_events(self):
        t0 = time.perf_counter()
        doc = self.submit("/v1/proofs", {"formula": self.formula(), "timeout": 10},
                          "POST /v1/proofs (then SSE)")
        if doc is None:
            return
        final = None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        with self.client.get(f"/v1/jobs/{doc['id']}/events", name="GET /v1/jobs/{id}/events",
                             headers=headers, stream=True, catch_response=True) as r:
            if self._limited(r, "GET /v1/jobs/{id}/events"):
                doc = self.poll(doc, "/v1/jobs")
                self.finish("proof, SSE", t0, doc)
                return
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
                return
            event, buffer = None, ""
            for chunk in r.iter_content(4096):
                buffer += chunk if isinstance(chunk, str) else chunk.decode()
                while "\n" in buffer:
                    line, buffer = buffer.split("\n", 1)
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event in FINAL:
                        final = json.loads(line[5:])
                if final is not None:
                    break
            if final is None:
                r.failure("the event stream ended without a final event")
            else:
                r.success()
        self.finish("proof, SSE", t0, final)

    @task(10)
    def overlay(self):
        t0 = time.perf_counter()
        if random.random() < 0.5:
            path, body = "/v1/overlays/chrono", random.choice(CHRONO_BODIES)
        else:
            path, body = "/v1/overlays/v4", random.choice(V4_BODIES)
        doc = self.submit(path, {**body, "timeout": 10}, f"POST {path} (Prefer: wait)", wait=10)
        if doc is not None and doc["status"] not in FINAL:
            doc = self.poll(doc, "/v1/jobs")
        self.finish(f"overlay {path.rsplit('/', 1)[1]}", t0, doc)

    @task(5)
    def with_webhook(self):
        port = self.environment.parsed_options.webhook_port
        if not port:
            return
        t0 = time.perf_counter()
        body = {"formula": self.formula(), "timeout": 10,
                "callback_url": f"http://127.0.0.1:{port}/hook"}
        doc = self.submit("/v1/proofs", body, "POST /v1/proofs (webhook)", wait=10)
        if doc is not None and doc["status"] not in FINAL:
            doc = self.poll(doc, "/v1/proofs")
        self.finish("proof, webhook", t0, doc)

    @task(7)
    def malformed(self):
        r = self.call("POST", "/v1/proofs", "POST /v1/proofs (malformed: 422)", expect=(422,),
                      json={"formula": random.choice(MALFORMED_FORMULAS)})
        if r is not None and r.headers.get("Content-Type", "").split(";")[0] != (
                "application/problem+json"):
            record(self.environment, "CHECK", "422 is problem+json", 0.0,
                   JobFailed("a 422 without application/problem+json"))

    @task(3)
    def list_jobs(self):
        self.call("GET", "/v1/jobs?limit=10", "GET /v1/jobs")


class HealthProbe(FastHttpUser):
    fixed_count = 2
    wait_time = constant(1.0)

    @task
    def health(self):
        with self.client.get("/v1/health", name="GET /v1/health", catch_response=True) as r:
            status = r.json().get("status") if r.status_code in (200, 503) else None
            if status == "healthy":
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}, status {status}")


class LimiterProbe(PxlUser):
    """One client sending back to back: its first ~20 requests pass (the burst), then about
    one per 0.6 s; the rest are 429 with Retry-After (counted in STATE["limiter"])."""

    fixed_count = 1
    wait_time = constant(0.0)

    def _limited(self, r, name):
        if r.status_code == 429:
            STATE["limiter"]["refused"] += 1
            if not r.headers.get("Retry-After"):
                STATE["limiter"]["refused without Retry-After"] += 1
            r.success()
            record(self.environment, RATE_LIMITED, name, 0.0)
            gevent.sleep(0.05)  # keep pushing, faster than the limit allows
            return True
        return False

    @task
    def hammer(self):
        if self.call("GET", "/v1/jobs?limit=1", "GET /v1/jobs (limiter probe)") is not None:
            STATE["limiter"]["allowed"] += 1


# --- the queue-depth scraper and the webhook receiver (in the master / local process) ----------


def _scrape(environment) -> None:
    opts, creds = environment.parsed_options, credentials(environment)
    token_req = urllib.request.Request(
        opts.host + "/v1/auth/token", data=b"grant_type=client_credentials",
        headers={"Authorization": basic(creds["metrics_client"], creds["secret"]),
                 "Content-Type": "application/x-www-form-urlencoded"})
    token = None
    timeline = open(opts.timeline_csv, "w") if opts.timeline_csv else None  # noqa: SIM115
    if timeline:
        timeline.write("t_s,users,queue_depth\n")
    start = time.monotonic()
    while True:
        depth = None
        try:
            if token is None:
                with urllib.request.urlopen(token_req, timeout=5) as resp:
                    token = json.loads(resp.read())["access_token"]
            req = urllib.request.Request(opts.host + "/v1/metrics?section=fleet",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=5) as resp:
                text = resp.read().decode()
            depth = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("pxl_queue_depth"))
            STATE["scrapes"] += 1
            STATE["max_queue_depth"] = max(STATE["max_queue_depth"], depth)
        except Exception:  # noqa: BLE001 - a failed scrape (e.g. Redis down) is counted
            STATE["scrape_errors"] += 1
        if timeline:
            users = environment.runner.user_count if environment.runner else 0
            timeline.write(f"{time.monotonic() - start:.1f},{users},"
                           f"{'' if depth is None else depth}\n")
            timeline.flush()
        gevent.sleep(1.0)


def _webhook_app(environment):
    secret = credentials(environment)["webhook_secret"]

    def app(env, start_response):
        body = env["wsgi.input"].read()
        headers = {k[5:].replace("_", "-"): v for k, v in env.items() if k.startswith("HTTP_")}
        error = None
        lag = 0.0
        if verify_webhook(secret, headers, body):
            data = json.loads(body)["data"]
            STATE["webhooks"][data["id"]] += 1
            finished = datetime.fromisoformat(data["finished_at"].replace("Z", "+00:00"))
            lag = max(0.0, time.time() - finished.timestamp())
        else:
            STATE["webhook_bad"] += 1
            error = JobFailed("webhook with a bad signature")
        record(environment, "WEBHOOK", "delivery (lag after the job ended)", lag, error)
        start_response("204 No Content", [])
        return [b""]

    return app


@events.test_start.add_listener
def _on_test_start(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner):
        return
    STATE["started"] = time.monotonic()
    STATE["cpu_start"] = _own_cpu()
    STATE["greenlets"] = [gevent.spawn(_scrape, environment)]
    port = environment.parsed_options.webhook_port
    if port:
        server = WSGIServer(("127.0.0.1", port), _webhook_app(environment), log=None)
        server.start()
        STATE["webhook_server"] = server


@events.request.add_listener
def _request_cap(**_kw):
    environment = STATE.get("environment")
    if environment is None or not environment.parsed_options.max_requests:
        return
    STATE["requests"] = STATE.get("requests", 0) + 1
    if STATE["requests"] == environment.parsed_options.max_requests:
        gevent.spawn(environment.runner.quit)


LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]")


@events.init.add_listener
def _on_init(environment, **_kw):
    host = environment.parsed_options.host or environment.host or ""
    if not host.startswith(LOOPBACK):
        sys.exit(f"--host {host!r}: this load test only targets a service on loopback")
    STATE["environment"] = environment


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the gate ----------------------------------------------------------------------------------


def figures(environment) -> dict:
    """The run's SLO figures from Locust's stats and what this process scraped."""
    stats = environment.stats
    jobs = StatsEntry(stats, "all jobs", JOB, use_response_times_cache=False)
    polled = StatsEntry(stats, "polled jobs", JOB_POLLED, use_response_times_cache=False)
    http = StatsEntry(stats, "all requests", "HTTP", use_response_times_cache=False)
    limited = 0
    per_flow = {}
    for entry in stats.entries.values():
        if entry.method in (JOB, JOB_POLLED):
            (jobs if entry.method == JOB else polled).extend(entry)
            per_flow[entry.name] = {
                "jobs": entry.num_requests, "failed": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.5),
                "p95_ms": entry.get_response_time_percentile(0.95),
            }
        elif entry.method == RATE_LIMITED:
            limited += entry.num_requests
        elif entry.method not in ("WEBHOOK", "CHECK"):
            http.extend(entry)
    other_failures = sum(e.num_failures for e in stats.entries.values()
                         if e.method in ("WEBHOOK", "CHECK"))
    exceptions = sum(e["count"] for e in environment.runner.exceptions.values())
    # 429s are not in the error rate
    counted = http.num_requests - limited + jobs.num_requests + polled.num_requests
    failed = http.num_failures + jobs.num_failures + polled.num_failures + other_failures \
        + exceptions
    seconds = max(time.monotonic() - STATE.get("started", time.monotonic()), 1e-9)
    cpu = _own_cpu() - STATE.get("cpu_start", 0.0)
    deliveries = STATE["webhooks"]
    return {
        "seconds": round(seconds, 1),
        "jobs": jobs.num_requests + polled.num_requests,
        "jobs_per_s": round((jobs.num_requests + polled.num_requests) / seconds, 1),
        "requests": http.num_requests,
        "requests_per_s": round(http.num_requests / seconds, 1),
        "e2e_p50_ms": jobs.get_response_time_percentile(0.5),
        "e2e_p95_ms": jobs.get_response_time_percentile(0.95),
        "e2e_p99_ms": jobs.get_response_time_percentile(0.99),
        "e2e_max_ms": round(jobs.max_response_time or 0, 1),
        "polled_p50_ms": polled.get_response_time_percentile(0.5),
        "polled_p95_ms": polled.get_response_time_percentile(0.95),
        "http_p95_ms": http.get_response_time_percentile(0.95),
        "failed": failed,
        "error_rate": round(failed / counted, 4) if counted else 0.0,
        "rate_limited_429": limited,
        "task_exceptions": exceptions,
        "max_queue_depth": STATE["max_queue_depth"],
        "queue_depth_scrapes": STATE["scrapes"],
        "queue_depth_scrape_errors": STATE["scrape_errors"],
        "accepted_jobs": len(STATE["accepted"]),
        "webhook_deliveries": sum(deliveries.values()),
        "webhook_jobs": len(deliveries),
        "webhook_repeated": sum(n - 1 for n in deliveries.values() if n > 1),
        "webhook_bad_signatures": STATE["webhook_bad"],
        "limiter": dict(STATE["limiter"]),
        "load_generator_cpu_s": round(cpu, 1),
        "load_generator_cpu_share": round(cpu / seconds, 3),
        "flows": per_flow,
        "failures": {f"{e.method} {e.name}: {e.error}": e.occurrences
                     for e in stats.errors.values()},
    }


def breaches(fig: dict, opts) -> list[str]:
    out = []
    if not fig["jobs"] and not fig["limiter"]:
        out.append("no job finished: the run measured nothing")
    if fig["e2e_p95_ms"] is not None and fig["e2e_p95_ms"] >= opts.slo_p95_ms:
        out.append(f"P95 end to end {fig['e2e_p95_ms']} ms >= {opts.slo_p95_ms} ms")
    if fig["error_rate"] >= opts.slo_error_rate:
        out.append(f"error rate {fig['error_rate']:.2%} >= {opts.slo_error_rate:.2%}")
    if fig["max_queue_depth"] >= opts.slo_queue_depth:
        out.append(f"max queue depth {fig['max_queue_depth']:g} >= {opts.slo_queue_depth:g}")
    if not fig["queue_depth_scrapes"]:
        out.append("the queue depth was never scraped")
    if fig["limiter"] and not fig["limiter"].get("refused"):
        out.append("the limiter probe was never refused")
    if fig["limiter"].get("refused without Retry-After"):
        out.append("a 429 came without Retry-After")
    return out


@events.quitting.add_listener
def _gate(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = environment.parsed_options
    fig = figures(environment)
    fig["thresholds"] = {"p95_ms": opts.slo_p95_ms, "error_rate": opts.slo_error_rate,
                         "queue_depth": opts.slo_queue_depth}
    fig["breaches"] = breaches(fig, opts)
    fig["passed"] = not fig["breaches"]
    if opts.summary_json:
        Path(opts.summary_json).write_text(json.dumps(fig, indent=2) + "\n")
    if opts.jobs_file:
        Path(opts.jobs_file).write_text("".join(f"{j}\n" for j in sorted(STATE["accepted"])))
    print(f"SLO gate: jobs {fig['jobs']} ({fig['jobs_per_s']}/s), e2e p50/p95/p99 "
          f"{fig['e2e_p50_ms']}/{fig['e2e_p95_ms']}/{fig['e2e_p99_ms']} ms, error rate "
          f"{fig['error_rate']:.2%}, 429s {fig['rate_limited_429']}, max queue depth "
          f"{fig['max_queue_depth']:g}, load generator CPU {fig['load_generator_cpu_share']:.0%}"
          f" of a core", file=sys.stderr)
    for line in fig["breaches"]:
        print(f"SLO gate: BREACH: {line}", file=sys.stderr)
    environment.process_exit_code = 0 if fig["passed"] else 1

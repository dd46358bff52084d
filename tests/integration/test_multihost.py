"""Several worker hosts on one Redis, as separate machines would be: Linux network namespaces
made by this test, joined by a bridge, each "host" with its own address and hostname.

    host "hub"   10.231.0.1   Redis and the API (pxl serve)
    host "w1"    10.231.0.11  pxl worker
    host "w2"    10.231.0.12  pxl worker
    host "w3"    10.231.0.13  pxl worker
    this test    10.231.0.254 (the submitting client)

Jobs spread over the hosts (counted by the host that ran each, from the job records);
pxl_workers_online counts every host; killing one host's whole worker tree while its jobs run
loses none and finishes none twice. Traffic stays on the test's own addresses. Needs root
(ip netns); skipped elsewhere, failed under PXL_TEST_STRICT=1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import httpx
import pytest
import redis

from tests.environment import missing
from tests.hard_formulas import HARD
from tests.integration.conftest import ROOT, VALID
from workers.embedded import redis_server_binary
from workers.keys import events_key, job_key
from workers.record import RUNNER

pytestmark = [pytest.mark.integration, pytest.mark.slow]

def _free_subnet() -> str:
    """A 10.231.N.0/24 no interface of this namespace is on: a run that was killed leaves its
    veth end (and its route) behind, which would take this run's traffic."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "10.231.0"
    return next(f"10.231.{n}" for n in range(256) if f" 10.231.{n}." not in out)


SUBNET = _free_subnet()
HUB, CLIENT = f"{SUBNET}.1", f"{SUBNET}.254"
WORKER_HOSTS = {"w1": f"{SUBNET}.11", "w2": f"{SUBNET}.12", "w3": f"{SUBNET}.13"}
TERMINAL = {"succeeded", "failed", "cancelled"}
def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


class Network:
    """The namespaces, the bridge in the hub and a veth per host (and one for this test)."""

    def __init__(self, tag: str):
        self.tag = tag
        self.names = {name: f"pxl{tag}{name}" for name in ("hub", *WORKER_HOSTS)}

    def ns(self, host: str) -> str:
        return self.names[host]

    def up(self) -> None:
        for name in self.names.values():
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        hub = self.ns("hub")
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "addr", "add", f"{HUB}/24", "dev", "br0")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for i, (host, address) in enumerate([*WORKER_HOSTS.items(), ("self", CLIENT)]):
            outer, inner = f"vh{self.tag}{i}", f"vw{self.tag}{i}"
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", outer, "netns", hub)
            sh("ip", "-n", hub, "link", "set", outer, "master", "br0", "up")
            if host == "self":  # this test's own end stays in its namespace
                sh("ip", "addr", "add", f"{address}/24", "dev", inner)
                sh("ip", "link", "set", inner, "up")
            else:
                sh("ip", "link", "set", inner, "netns", self.ns(host))
                sh("ip", "-n", self.ns(host), "addr", "add", f"{address}/24", "dev", inner)
                sh("ip", "-n", self.ns(host), "link", "set", inner, "up")

    def down(self) -> None:
        for name in self.names.values():
            subprocess.run(["ip", "netns", "pids", name], capture_output=True)
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["ip", "link", "delete", f"vw{self.tag}{len(WORKER_HOSTS)}"],
                           capture_output=True, timeout=10)

    def run(self, host: str, argv: list[str], env: dict, log) -> subprocess.Popen:
        """``argv`` on ``host``: in its namespace, with its own hostname (its own UTS)."""
        wrapped = ["ip", "netns", "exec", self.ns(host), "unshare", "--uts", "sh", "-c",
                   f'hostname {host} && exec "$@"', "sh", *argv]
        return subprocess.Popen(wrapped, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def pids_in(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def network():
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None:
        missing("root with ip netns and unshare", "run the suite as root (CI does)")
    net = Network(uuid.uuid4().hex[:4])
    try:
        net.up()
    except subprocess.CalledProcessError as exc:
        net.down()
        missing("network namespaces", f"ip netns failed: {exc.stderr.decode().strip()}")
    yield net
    for name in net.names.values():
        for pid in pids_in(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    net.down()


def test_jobs_spread_over_worker_hosts_and_survive_a_host_dying(network, tmp_path):
    tag = uuid.uuid4().hex[:8]
    port = 6379
    env = {
        **os.environ,
        "PXL_REDIS_URL": f"redis://{HUB}:{port}/0",
        "PXL_KEY_PREFIX": f"multi-{tag}:", "PXL_QUEUE_NAME": f"multi-{tag}",
        "PXL_AUTH_DISABLED": "true", "PXL_RATE_LIMIT_ENABLED": "false",
        "PXL_WORKER_HEARTBEAT_SECONDS": "1", "PXL_BROKER_VISIBILITY_TIMEOUT": "8",
        "PXL_BROKER_RESTORE_INTERVAL": "1",
    }  # fmt: skip
    python = [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in  # noqa: SIM115
            ("redis", "api", *WORKER_HOSTS)}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["redis"] = network.run("hub", [
            redis_server_binary(), "--bind", HUB, "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path), "--protected-mode", "no",
        ], env, logs["redis"])  # fmt: skip
        r = redis.Redis(host=HUB, port=port, decode_responses=True, socket_timeout=5)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.RedisError):
                if r.ping():
                    break
            assert time.monotonic() < deadline, "redis in the hub did not start"
            time.sleep(0.1)
        procs["api"] = network.run("hub", [*python, "serve", "--host", HUB, "--port", "8080"],
                                   env, logs["api"])
        for host in WORKER_HOSTS:
            procs[host] = network.run(host, [*python, "worker", "--concurrency", "1"], env,
                                      logs[host])
        base = f"http://{HUB}:8080"
        with httpx.Client(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    health = http.get("/v1/health").json()
                    if {w["host"] for w in health["workers"]} >= set(WORKER_HOSTS):
                        break
                assert time.monotonic() < deadline, "not every worker host came online"
                time.sleep(0.3)
            metrics = http.get("/v1/metrics", params={"section": "fleet"}).text
            assert f"pxl_workers_online {float(len(WORKER_HOSTS))}" in metrics

            # 1. jobs spread over the hosts
            quick = [http.post("/v1/proofs", json={"formula": VALID}).json()["id"]
                     for _ in range(30)]
            # 2. slow jobs (8 s each, then unknown/Timeout) occupy every host; then one host's
            # whole worker tree dies
            slow = [http.post("/v1/proofs", json={"formula": HARD, "timeout": 8}).json()["id"]
                    for _ in range(6)]
            deadline = time.monotonic() + 30
            while True:
                running = {j: r.hget(job_key(env["PXL_KEY_PREFIX"], j), RUNNER)
                           for j in slow
                           if r.hget(job_key(env["PXL_KEY_PREFIX"], j), "status") == '"running"'}
                victims = [j for j, runner in running.items()
                           if runner and runner.startswith("w1:")]
                if victims:
                    break
                assert time.monotonic() < deadline, "no slow job ran on host w1"
                time.sleep(0.2)
            for pid in pids_in(network.ns("w1")):  # the whole tree of host w1, at once
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

            jobs = quick + slow
            finals: dict[str, dict] = {}
            deadline = time.monotonic() + 180
            while len(finals) < len(jobs):
                for job_id in jobs:
                    if job_id not in finals:
                        doc = http.get(f"/v1/jobs/{job_id}").json()
                        if doc["status"] in TERMINAL:
                            finals[job_id] = doc
                assert time.monotonic() < deadline, f"unfinished: {set(jobs) - set(finals)}"
                time.sleep(0.5)
        hosts = Counter(r.hget(job_key(env["PXL_KEY_PREFIX"], j), RUNNER).split(":")[0]
                        for j in quick)
        terminal_events = {
            j: sum(1 for _id, fields in r.xrange(events_key(env["PXL_KEY_PREFIX"], j))
                   if fields.get("event") in TERMINAL)
            for j in jobs
        }  # fmt: skip
        print("multihost: quick jobs per host", dict(hosts), "victims", len(victims))
        assert len(hosts) >= 2 and set(hosts) <= set(WORKER_HOSTS), hosts  # spread out
        assert all(doc["status"] == "succeeded" for doc in finals.values())
        assert all(n == 1 for n in terminal_events.values()), terminal_events
        for job_id in victims:  # the killed host's jobs were finished by another host
            runner = r.hget(job_key(env["PXL_KEY_PREFIX"], job_id), RUNNER)
            assert runner.split(":")[0] in {"w2", "w3"}, (job_id, runner)
            assert finals[job_id]["attempts"] >= 2
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs.values():
            log.close()

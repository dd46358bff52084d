"""An alert reaches someone: the real API, Prometheus and Alertmanager on loopback.

The API runs with its Redis unreachable, so its fleet metrics say ``pxl_redis_up 0`` and the
real rule PxlRedisDown of monitoring/alerts.yml fires; a scrape job named "flower" points at a
closed port, so PxlFlowerDown (a ticket) fires too. Prometheus uses monitoring/prometheus.yml's
alerting block and rules, Alertmanager monitoring/alertmanager.yml's route tree and inhibitions;
only addresses, the token file and waiting times (``for:``, evaluation and group intervals) are
shortened for the test (``for:`` twenty-fold, so alerts fire in the order they do in production). A local HTTP receiver stands where the pager and ticket endpoints are.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.environment import missing
from tests.http_servers import RecordingServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PXL = Path(sys.executable).with_name("pxl")


def binary(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    missing(name, ".ci/run installs it (Debian prometheus, prometheus-alertmanager)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notifications(receiver: RecordingServer) -> list[tuple[str, dict]]:
    """(path, JSON body) of every notification Alertmanager sent."""
    return [(r["path"], json.loads(r["body"])) for r in list(receiver.requests)]


def alert_names(receiver: RecordingServer, path: str) -> set[str]:
    return {
        alert["labels"]["alertname"]
        for got, body in notifications(receiver)
        if got == path
        for alert in body["alerts"]
        if alert["status"] == "firing"
    }


def wait_http(url: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.2)


def alertmanager_config(receiver: RecordingServer) -> dict:
    config = yaml.safe_load((MONITORING / "alertmanager.yml").read_text())
    paths = {"pager": "/pager", "tickets": "/tickets"}
    for entry in config["receivers"]:
        for hook in entry["webhook_configs"]:
            assert ".invalid" in hook["url"]  # the shipped file holds placeholders only
            hook["url"] = receiver.url + paths[entry["name"]]
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = "1s"
    config["route"]["group_interval"] = "1s"
    return config


def duration_seconds(text: str) -> int:
    """Seconds in a Prometheus duration of one unit, as alerts.yml writes them ("2m", "1h")."""
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def prometheus_config(tmp: Path, api: str, alertmanager: str, closed: int) -> dict:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    # scrapes get 3 s: on a loaded machine a 1 s timeout makes the API look down
    config["global"].update(scrape_interval="3s", scrape_timeout="3s", evaluation_interval="1s")
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    (tmp / "token").write_text("unused: the test API runs with auth off\n")
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in {"pxl-fleet", "flower"}:
            job.pop("dns_sd_configs", None)
            target = api if job["job_name"] == "pxl-fleet" else f"127.0.0.1:{closed}"
            job["static_configs"] = [{"targets": [target]}]
            if "authorization" in job:
                job["authorization"]["credentials_file"] = str(tmp / "token")
            jobs.append(job)
    config["scrape_configs"] = jobs
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                # a minute becomes 3 s: the order in which alerts fire is kept, and with it the
                # inhibitions that depend on it (Redis pages 27 s before Flower's ticket would
                # go; at a second a minute, scrapes slowed by a loaded machine ate the 9 s)
                rule["for"] = f"{max(1, duration_seconds(rule['for']) // 20)}s"
    (tmp / "alerts.yml").write_text(yaml.safe_dump(rules))
    return config


def test_a_firing_alert_reaches_its_receiver_through_alertmanager(tmp_path):
    prometheus_bin, alertmanager_bin = binary("prometheus"), binary("prometheus-alertmanager")
    receiver = RecordingServer().start()
    api_port, am_port, prom_port, closed = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PXL_REDIS_URL": f"redis://127.0.0.1:{closed}/0",  # nothing listens: Redis is "down"
        "PXL_AUTH_DISABLED": "true",
        "PXL_JWT_SECRET": "alert-test-signing-key-" + "a" * 40,
    }
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config(receiver)))
    config = prometheus_config(tmp_path, f"127.0.0.1:{api_port}", f"127.0.0.1:{am_port}", closed)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "am-data").mkdir()
    (tmp_path / "prom-data").mkdir()
    commands = [
        [str(PXL), "serve", "--host", "127.0.0.1", "--port", str(api_port)],
        [alertmanager_bin, f"--config.file={tmp_path / 'alertmanager.yml'}",
         f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
         "--cluster.listen-address="],
        [prometheus_bin, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'prom-data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
    ]  # fmt: skip
    logs = [open(tmp_path / f"{i}.log", "wb") for i in range(len(commands))]  # noqa: SIM115
    processes = [
        subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        for cmd, log in zip(commands, logs, strict=True)
    ]
    try:
        wait_http(f"http://127.0.0.1:{api_port}/v1/metrics")
        wait_http(f"http://127.0.0.1:{am_port}/-/ready")
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        deadline = time.monotonic() + 120  # generous: CI machines are shared
        while "PxlRedisDown" not in alert_names(receiver, "/pager"):
            assert time.monotonic() < deadline, f"no page arrived: {notifications(receiver)}"
            time.sleep(0.5)
        # (under load a scrape may also time out and page PxlApiDown: look for Redis's page)
        page, alert = next(
            (body, a) for path, body in notifications(receiver) if path == "/pager"
            for a in body["alerts"] if a["labels"]["alertname"] == "PxlRedisDown"
        )  # fmt: skip
        assert page["receiver"] == "pager"
        assert alert["labels"]["severity"] == "page"
        assert alert["annotations"]["runbook_url"] == "RUNBOOK.md#pxlredisdown"

        # PxlFlowerDown (a ticket) fires as well, but Redis being down inhibits it
        alerts_api = f"http://127.0.0.1:{am_port}/api/v2/alerts"
        while True:
            flower = [
                a for a in httpx.get(alerts_api, timeout=5).json()
                if a["labels"]["alertname"] == "PxlFlowerDown"
            ]  # fmt: skip
            if flower and flower[0]["status"]["inhibitedBy"]:
                break
            assert time.monotonic() < deadline, f"PxlFlowerDown not inhibited: {flower}"
            time.sleep(0.5)
        assert "PxlFlowerDown" not in alert_names(receiver, "/tickets")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        receiver.stop()
        for log in logs:
            log.close()

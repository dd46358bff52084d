"""monitoring/: promtool accepts the config and rules, every PromQL expression (rules and the
Grafana dashboard) parses and names only series the service really emits, every alert links to
a RUNBOOK.md section that exists, and the docs name only metrics and `pxl` commands that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.environment import missing
from tests.unit.obs_support import isolated_env

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "pxl-core.json"
PROMETHEUS_GENERATED = {"up"}  # series Prometheus itself adds to every scrape target
# series of the exporters in compose/docker-compose.prod.yml that the dashboard reads
# (redis_exporter, nginx-prometheus-exporter): names from their documentation
EXPORTER_SERIES = {
    "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients",
    "nginx_connections_active", "nginx_http_requests_total", "nginx_up",
}  # fmt: skip

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2",
}  # fmt: skip
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


# --- helpers ---------------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    missing("promtool", "install the Debian package 'prometheus' (.ci/run does)")


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)


def rules_doc() -> dict:
    return yaml.safe_load((MONITORING / "alerts.yml").read_text())


def all_rules() -> list[dict]:
    return [rule for group in rules_doc()["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if t.get("expr")]


def for_promtool(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name, label matcher text) of every series selector in a PromQL expression."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals cannot hide names
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    found = []
    # grouping label lists: by (...), without (...), on (...), ignoring (...), group_x (...)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    pattern = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?")
    for match in pattern.finditer(text):
        name, matchers, call = match.groups()
        if call or name.lower() in PROMQL_KEYWORDS or re.fullmatch(r"\d.*", name):
            continue
        start = match.start()
        if start and (text[start - 1].isdigit() or text[start - 1] == "."):
            continue  # the exponent or unit of a number literal (1e3, 5m)
        found.append((name, matchers or ""))
    return found


def matcher_labels(matchers: str) -> set[str]:
    original = matchers
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", original))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    """{series name: label names} from a real scrape of GET /v1/metrics (every hook fired once)."""
    from api.app import create_app
    from api.auth import mint_token
    from workers import metrics

    monkeypatch = pytest.MonkeyPatch()
    env = isolated_env(monkeypatch)
    settings, _ = next(env)
    try:
        metrics.job_submitted("proof")
        metrics.job_started("proof", 0.01)
        metrics.job_finished("proof", "succeeded", "theorem", 0.1, 0.11)
        metrics.webhook_delivery("delivered")
        metrics.rate_limit_rejection()
        metrics.backpressure_rejection("proof")
        with TestClient(create_app(settings)) as client:
            auth = {"Authorization": "Bearer " + mint_token("mon", ["metrics:read"])}
            client.get("/v1/metrics", headers=auth)
            text = client.get("/v1/metrics", headers=auth).text
    finally:
        next(env, None)
        monkeypatch.undo()
    from prometheus_client.parser import text_string_to_metric_families

    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def recorded_names() -> set[str]:
    return {rule["record"] for rule in all_rules() if "record" in rule}


def runbook_anchors() -> set[str]:
    """GitHub's heading anchors of RUNBOOK.md."""
    anchors = set()
    for line in (ROOT / "RUNBOOK.md").read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", title)))
    return anchors


# --- promtool --------------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config(tmp_path):
    config = (MONITORING / "prometheus.yml").read_text()
    # the bearer token is a compose secret; promtool insists the file exists
    assert "/run/secrets/prometheus_token" in config
    (tmp_path / "prometheus_token").write_text("token\n")
    config = config.replace("/run/secrets/prometheus_token", str(tmp_path / "prometheus_token"))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
    result = run_promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_accepts_the_rules():
    result = run_promtool("check", "rules", str(MONITORING / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_logic_passes_its_promtool_unit_tests():
    """monitoring/tests/alerts_test.yml: synthetic series make exactly the expected alerts fire."""
    result = run_promtool("test", "rules", str(MONITORING / "tests" / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_dashboard_expression_parses(tmp_path):
    exprs = dashboard_exprs()
    assert len(exprs) >= 12
    rules = [
        {"record": f"dashboard:check_{i}", "expr": for_promtool(e)} for i, e in enumerate(exprs)
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(exprs)} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path):
    path = tmp_path / "bad.yml"
    rule = {"record": "x:y", "expr": "sum(rate(pxl_jobs_submitted_total[5m])"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [rule]}]}))
    assert run_promtool("check", "rules", str(path)).returncode != 0


# --- names -----------------------------------------------------------------------------------


def test_selector_extraction_finds_names_and_skips_functions_labels_and_numbers():
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{le="0.3", x=~"y"}[5m]))) '
        "/ on (kind) group_left b_total offset 5m > bool 1e3 and c:rec:ratio_rate1h"
    )
    assert [name for name, _ in selectors(expr)] == ["a_bucket", "b_total", "c:rec:ratio_rate1h"]
    assert matcher_labels(selectors(expr)[0][1]) == {"le", "x"}


def test_rules_and_dashboard_name_only_emitted_series_and_labels(emitted):
    known = set(emitted) | recorded_names() | PROMETHEUS_GENERATED | EXPORTER_SERIES
    problems = []
    exprs = [rule["expr"] for rule in all_rules()] + dashboard_exprs()
    for expr in exprs:
        for name, matchers in selectors(expr):
            if name not in known:
                problems.append(f"{name} (in {expr.strip()[:60]}...) is emitted by nothing")
            elif name in emitted:
                unknown = matcher_labels(matchers) - emitted[name]
                if unknown:
                    problems.append(f"{name} has no label {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def test_the_issue_metrics_are_all_emitted(emitted):
    for name in (
        "pxl_queue_depth", "pxl_queue_reserved", "pxl_jobs_submitted_total",
        "pxl_jobs_finished_total", "pxl_jobs_in_progress", "pxl_job_queue_wait_seconds_bucket",
        "pxl_job_run_seconds_bucket", "pxl_job_end_to_end_seconds_bucket", "pxl_workers_online",
        "pxl_webhook_deliveries_total", "pxl_rate_limit_rejections_total",
        "pxl_backpressure_rejections_total", "pxl_http_requests_total",
        "pxl_http_request_duration_seconds_bucket",
    ):  # fmt: skip
        assert name in emitted, name
    assert emitted["pxl_jobs_finished_total"] == {"kind", "status", "verdict"}
    assert emitted["pxl_http_requests_total"] == {"route", "method", "status"}
    assert emitted["pxl_http_request_duration_seconds_bucket"] == {"route", "method", "le"}


# --- alerts ----------------------------------------------------------------------------------


def test_every_alert_has_a_severity_and_a_runbook_section():
    alerts = [rule for rule in all_rules() if "alert" in rule]
    assert len(alerts) >= 12
    anchors = runbook_anchors()
    for alert in alerts:
        assert alert["labels"]["severity"] in {"page", "ticket", "warning"}, alert["alert"]
        url = alert["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "RUNBOOK.md" and anchor in anchors, f"{alert['alert']}: {url}"


def test_slo_alerts_are_multiwindow_multi_burn_rate():
    alerts = {rule["alert"]: rule for rule in all_rules() if "alert" in rule}
    for slo, budget in (
        ("Availability", "0.001"),
        ("ProofLatency", "0.05"),
        ("JobErrors", "0.05"),
        ("QueueDepth", "0.01"),
    ):
        page = alerts[f"Pxl{slo}BurnRatePage"]["expr"]
        for window, factor in (("1h", "14.4"), ("5m", "14.4"), ("6h", "6"), ("30m", "6")):
            assert re.search(rf"ratio_rate{window} > \({factor} \* {budget}\)", page), (slo, window)
        ticket = alerts[f"Pxl{slo}BurnRateTicket"]["expr"]
        for window in ("3d", "6h"):
            assert re.search(rf"ratio_rate{window} > {budget}", ticket), (slo, window)
        assert alerts[f"Pxl{slo}BurnRatePage"]["labels"]["severity"] == "page"
        assert alerts[f"Pxl{slo}BurnRateTicket"]["labels"]["severity"] == "ticket"


def test_latency_slo_reads_the_exact_0_3_second_bucket():
    rules = {r["record"]: r["expr"] for r in all_rules() if "record" in r}
    assert 'le="0.3"' in rules["slo:pxl_proof_latency_bad:ratio_rate5m"]
    from workers.metrics import LATENCY_BUCKETS

    assert {0.1, 0.3, 1.2} <= set(LATENCY_BUCKETS)


# --- grafana provisioning ----------------------------------------------------------------------


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus():
    provisioning = MONITORING / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "pxl.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "pxl-core" and "dashboard" not in dashboard  # file format
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in (
        "queue depth",
        "latency",
        "error rate",
        "verdict",
        "workers online",
        "webhook",
        "burn",
    ):
        assert topic in titles, topic
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "prometheus"


# --- docs --------------------------------------------------------------------------------------


def doc_texts() -> dict[str, str]:
    return {name: (ROOT / name).read_text() for name in ("RUNBOOK.md", "OPERATIONS.md")}


def test_docs_name_only_metrics_that_exist(emitted):
    families = set()
    for name in emitted:
        families.add(name)
        families.add(re.sub(r"_(bucket|count|sum|created)$", "", name))
    known = families | recorded_names()
    named = set()
    for doc, text in doc_texts().items():
        for name in set(re.findall(r"\b(?:slo:)?pxl_[a-z0-9_:]+", text)):
            assert name in known, f"{doc} names {name}, which nothing emits"
            named.add(name)
    assert len(named) >= 15  # the check saw the metrics table and the runbook


def test_docs_name_only_pxl_commands_and_options_that_exist():
    from api.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no API
    seen = set()
    for doc, text in doc_texts().items():
        for line in re.findall(r"(?<![\w/.-])pxl ([a-z][a-z-]*)([^`\n]*)", text):
            command, rest = line
            seen.add(command)
            assert command in commands, f"{doc}: `pxl {command}` does not exist"
            options = {o for a in commands[command]._actions for o in a.option_strings}
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
                assert option in options, f"{doc}: `pxl {command} {option}` does not exist"
    assert {"serve", "worker", "flower", "token"} <= seen


# --- alertmanager ----------------------------------------------------------------------------


def amtool() -> str:
    path = shutil.which("amtool")
    if path:
        return path
    missing("amtool", "install the Debian package 'prometheus-alertmanager' (.ci/run does)")


def amtool_route(*labels: str) -> str:
    config = f"--config.file={MONITORING / 'alertmanager.yml'}"
    result = subprocess.run(
        [amtool(), "config", "routes", "test", config, *labels],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_amtool_accepts_the_alertmanager_config():
    result = subprocess.run(
        [amtool(), "check-config", str(MONITORING / "alertmanager.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_severity_routes_to_its_receiver():
    receivers = {"page": "pager", "ticket": "tickets", "warning": "tickets"}
    for alert in (rule for rule in all_rules() if "alert" in rule):
        severity = alert["labels"]["severity"]
        assert amtool_route(f"alertname={alert['alert']}", f"severity={severity}") == (
            receivers[severity]
        ), alert["alert"]
    assert amtool_route("alertname=Unlabelled") == "tickets"  # nothing goes nowhere


def test_prometheus_sends_alerts_to_the_stacks_alertmanager():
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    compose = yaml.safe_load((ROOT / "compose" / "docker-compose.prod.yml").read_text())
    alertmanager = compose["services"]["alertmanager"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in alertmanager["volumes"]}
    assert mounts["/etc/alertmanager/alertmanager.yml"] == "../monitoring/alertmanager.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    assert set(compose["services"]["prometheus"]["networks"]) & set(alertmanager["networks"])

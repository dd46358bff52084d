"""compose/docker-compose.prod.yml and the Dockerfile, checked without Docker: every command is a
real `pxl` invocation, every mounted file exists, every service is healthy-checked, limited,
non-root and read-only, only the API's edge and Grafana are published, and the wiring between
services (ports, secrets, paths) agrees with the files it points at."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE = yaml.safe_load((COMPOSE_DIR / "docker-compose.prod.yml").read_text())
SERVICES = COMPOSE["services"]
OUR_IMAGE = ("api", "worker", "flower")  # services running the Dockerfile's image (`pxl ...`)
PUBLISHED = {"edge", "grafana"}


def interpolate(value: str) -> str:
    """Compose variable defaults: ${VAR:-default} -> default; ${VAR:?msg} -> a placeholder."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", r"<\1>", value)


def command(service: str) -> list[str]:
    return [interpolate(str(part)) for part in SERVICES[service]["command"]]


def healthcheck_python(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return test[3]


def test_the_stack_has_the_services_of_the_issue():
    assert {"redis", "api", "worker", "flower", "prometheus", "grafana"} <= set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_is_health_checked_limited_non_root_and_read_only(service):
    spec = SERVICES[service]
    assert spec["healthcheck"]["test"], service
    limits = spec["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"], service
    user = str(spec["user"])
    assert user and user.split(":")[0] not in {"0", "root"}, service
    assert spec["read_only"] is True, service
    assert "no-new-privileges:true" in spec["security_opt"] and spec["cap_drop"] == ["ALL"]
    assert spec["restart"] == "unless-stopped"
    for dependency in (spec.get("depends_on") or {}).values():
        assert dependency == {"condition": "service_healthy"}, service


def test_only_the_api_edge_and_grafana_are_published():
    published = {name for name, spec in SERVICES.items() if spec.get("ports")}
    assert published == PUBLISHED
    for name, spec in SERVICES.items():
        if name not in PUBLISHED:
            for network in spec["networks"]:
                if network != "egress":  # the workers' way out to webhook URLs
                    assert COMPOSE["networks"][network].get("internal") is True, (name, network)


def test_pxl_commands_exist_in_the_cli():
    from api.cli import build_parser

    parser = build_parser()
    for service in OUR_IMAGE:
        argv = command(service)
        args = parser.parse_args(argv)  # exits (SystemExit) on an unknown command or option
        assert args.command == argv[0] and callable(args.func), service
    assert parser.parse_args(command("api")).workers == 2
    assert parser.parse_args(command("worker")).concurrency == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--no-such-option"])


def test_the_image_runs_pxl_as_a_non_root_user_with_the_build_sha():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["pxl"]' in dockerfile
    users = re.findall(r"(?m)^USER (\S+)", dockerfile)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for service in OUR_IMAGE:
        assert SERVICES[service]["user"] == users[-1]
    assert "ARG GIT_SHA" in dockerfile
    assert 'api.provenance write-build-info "${GIT_SHA}"' in dockerfile
    assert SERVICES["api"]["build"]["args"]["GIT_SHA"] == "${GIT_SHA:-unknown}"
    # COPY sources exist, and .dockerignore lets exactly them in
    for source in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", dockerfile):
        for path in source.split():
            assert (ROOT / path).exists(), path
    ignored = (ROOT / ".dockerignore").read_text()
    for path in ("pyproject.toml", "constraints.txt", "README.md", "api/", "workers/"):
        assert f"!{path}" in ignored


def test_build_context_and_bind_mounts_exist_in_the_repo():
    build = SERVICES["api"]["build"]
    context = (COMPOSE_DIR / build["context"]).resolve()
    assert context == ROOT and (context / build["dockerfile"]).is_file()
    mounts = 0
    for name, spec in SERVICES.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source}"
                assert volume.endswith(":ro"), f"{name}: {volume} should be read-only"
                mounts += 1
            else:
                assert source in COMPOSE["volumes"], f"{name}: {source}"
    assert mounts >= 6


def test_secrets_are_files_outside_git_and_used_where_settings_expect_them():
    secrets = COMPOSE["secrets"]
    for secret in secrets.values():
        assert secret["file"].startswith("./secrets/")
    assert "*" in (COMPOSE_DIR / "secrets" / ".gitignore").read_text().split()
    for name, spec in SERVICES.items():
        for secret in spec.get("secrets", []):
            assert secret in secrets, (name, secret)
    env = SERVICES["api"]["environment"]
    assert env["PXL_JWT_SECRET_FILE"] == "/run/secrets/jwt_secret"
    assert "jwt_secret" in SERVICES["api"]["secrets"]
    flower_env = SERVICES["flower"]["environment"]
    assert flower_env["PXL_FLOWER_BASIC_AUTH_FILE"] == "/run/secrets/flower_basic_auth"
    grafana_env = SERVICES["grafana"]["environment"]
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    prometheus_config = (ROOT / "monitoring" / "prometheus.yml").read_text()
    assert "credentials_file: /run/secrets/prometheus_token" in prometheus_config
    assert "prometheus_token" in SERVICES["prometheus"]["secrets"]


def test_every_pxl_variable_is_a_setting():
    fields = {f"PXL_{name.upper()}" for name in Settings.model_fields}
    for name, spec in SERVICES.items():
        for variable in spec.get("environment", {}):
            if variable.startswith("PXL_"):
                assert variable in fields, f"{name}: {variable} is not a setting"


def test_api_processes_share_metrics_through_a_tmpfs_multiprocess_dir():
    env = SERVICES["api"]["environment"]
    directory = env["PROMETHEUS_MULTIPROC_DIR"]
    assert any(str(t).split(":")[0] == directory for t in SERVICES["api"]["tmpfs"])


def test_prometheus_and_grafana_find_their_files_where_they_are_mounted():
    prometheus = SERVICES["prometheus"]
    targets = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert targets["/etc/prometheus/prometheus.yml"] == "../monitoring/prometheus.yml"
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:  # relative to the config file
        assert targets[f"/etc/prometheus/{rule_file}"] == f"../monitoring/{rule_file}"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pxl-api"]["dns_sd_configs"][0]["names"] == ["api"]
    assert jobs["pxl-api"]["dns_sd_configs"][0]["port"] == 8080
    assert jobs["pxl-fleet"]["static_configs"][0]["targets"] == ["api:8080"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert command("api")[command("api").index("--port") + 1] == "8080"
    assert command("flower")[command("flower").index("--port") + 1] == "5555"
    grafana = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"]}
    provider = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/dashboards/pxl.yml").read_text()
    )
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert grafana[dashboards_path] == "../monitoring/grafana/dashboards"
    assert grafana["/etc/grafana/provisioning"] == "../monitoring/grafana/provisioning"


def test_redis_persists_with_aof_and_never_evicts():
    conf = (COMPOSE_DIR / "redis" / "redis.conf").read_text()
    assert re.search(r"(?m)^appendonly yes$", conf)
    assert re.search(r"(?m)^maxmemory-policy noeviction$", conf)
    assert "/usr/local/etc/redis/redis.conf" in " ".join(SERVICES["redis"]["command"])
    assert SERVICES["redis"]["volumes"][0].startswith("./redis/redis.conf:")


def test_edge_proxies_to_the_api_port_and_keeps_metrics_inside():
    conf = (COMPOSE_DIR / "edge" / "nginx.conf").read_text()
    assert "http://api:8080" in conf and "listen 8080;" in conf
    assert re.search(r"location = /v1/metrics \{\s*return 404;", conf)
    assert "proxy_buffering off;" in conf  # SSE
    trusted = yaml.safe_load(SERVICES["api"]["environment"]["PXL_TRUSTED_PROXIES"])
    subnet = COMPOSE["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert trusted == [subnet]


def test_edge_caps_bodies_at_the_apis_limit_and_answers_problem_json():
    import json

    from api.problems import PROBLEM_TYPES
    from workers.settings import Settings

    conf = (COMPOSE_DIR / "edge" / "nginx.conf").read_text()
    limit = Settings.model_fields["max_body_bytes"].default
    assert re.search(r"(?m)^\s*client_max_body_size 1m;$", conf) and limit == 1024 * 1024
    assert "error_page 413 = @body_too_large;" in conf
    body = json.loads(re.search(r"return 413 '(.*)';", conf).group(1))
    problem = PROBLEM_TYPES["body-too-large"]
    assert (body["type"], body["title"], body["status"]) == (problem.uri, problem.title, 413)
    assert body["limit"] == limit
    assert "default_type application/problem+json;" in conf


def test_python_healthchecks_compile():
    for service in OUR_IMAGE:
        compile(healthcheck_python(service), f"<{service} healthcheck>", "exec")


@pytest.mark.integration
def test_worker_healthcheck_follows_this_hosts_heartbeat(monkeypatch):
    """Run the worker's health check as compose would: healthy only with a current heartbeat."""
    from tests.unit.obs_support import isolated_env
    from workers.jobs import JobStore

    gen = isolated_env(monkeypatch)
    settings, client = next(gen)
    try:
        check = [sys.executable, "-c", healthcheck_python("worker")]
        run = lambda: subprocess.run(check, env=dict(os.environ), cwd=ROOT, timeout=60)  # noqa: E731
        assert run().returncode == 1  # no heartbeat yet
        store = JobStore(client, settings)
        store.heartbeat("pxl-1@" + socket.gethostname(), {"host": socket.gethostname()})
        assert run().returncode == 0
        store.worker_gone("pxl-1@" + socket.gethostname())
        assert run().returncode == 1
    finally:
        next(gen, None)


def test_the_sentinel_profile_monitors_the_primary_by_the_services_master_name():
    sentinel, replica = SERVICES["sentinel"], SERVICES["redis-replica"]
    assert sentinel["profiles"] == replica["profiles"] == ["sentinel"]
    conf = (COMPOSE_DIR / "sentinel" / "sentinel.conf").read_text()
    monitor = re.search(r"(?m)^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf)
    name, host, port, quorum = monitor.groups()
    sentinels = sentinel["deploy"]["replicas"]
    assert (host, port) == ("redis", "6379") and sentinels >= 3
    assert sentinels // 2 < int(quorum) <= sentinels  # a majority decides a failover
    env = COMPOSE["x-pxl-env"]
    assert env["PXL_REDIS_SENTINEL_MASTER"] == name
    assert "--replicaof redis 6379" in replica["command"][-1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in sentinel["volumes"]}
    assert mounts["/etc/pxl/sentinel.conf"] == "./sentinel/sentinel.conf"
    # the pxl services run without sentinels unless the operator names them
    assert env["PXL_REDIS_SENTINELS"] == "${PXL_REDIS_SENTINELS:-}"

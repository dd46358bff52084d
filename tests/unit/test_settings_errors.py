"""Invalid PXL_* values: one line (variable, value, what is expected, an example) and exit
status 2 from every command; list settings take JSON or comma-separated values."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workers.settings import ConfigError, Settings

# One row per kind of setting: (variable, invalid value, what the line must say is expected,
# the example it must give).
INVALID = [
    ("PXL_PORT", "80a", "an integer", "PXL_PORT=8080"),
    ("PXL_DEFAULT_JOB_TIMEOUT", "30s", "a number", "PXL_DEFAULT_JOB_TIMEOUT=30.0"),
    ("PXL_AUTH_DISABLED", "maybe", "true or false", "PXL_AUTH_DISABLED=false"),
    ("PXL_WORKER_POOL", "threads", "one of solo or prefork", "PXL_WORKER_POOL=solo"),
    ("PXL_EMBEDDED", "sometimes", "one of auto, always or never", "PXL_EMBEDDED=auto"),
    ("PXL_LOG_LEVEL", "loud", "one of DEBUG, INFO", "PXL_LOG_LEVEL=INFO"),
    ("PXL_CORS_ORIGINS", '["https://a.example"', "a JSON list or comma-separated values",
     "PXL_CORS_ORIGINS=a,b"),
    ("PXL_WEBHOOK_RETRY_SCHEDULE", "5,soon", "a JSON list or comma-separated values",
     "PXL_WEBHOOK_RETRY_SCHEDULE=5,30,"),
    ("PXL_CLIENTS", "alice", "a JSON object", "PXL_CLIENTS="),
    ("PXL_REDIS_URL", "localhost:6379", "a redis://host:port/db", "PXL_REDIS_URL=redis://"),
    ("PXL_REDIS_URL", "redis://localhost:63a9/0", "a redis://host:port/db", "PXL_REDIS_URL="),
    ("PXL_REDIS_URL", "redis://localhost:6379/zero", "database 'zero'", "PXL_REDIS_URL="),
]


@pytest.mark.parametrize(("variable", "value", "expected", "example"), INVALID)
def test_an_invalid_value_is_one_line_naming_variable_value_expectation_example(
        monkeypatch, variable, value, expected, example):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    line = str(caught.value)
    assert "\n" not in line
    assert f"{variable}={value!r}" in line and expected in line and f"e.g. {example}" in line


@pytest.mark.parametrize(("raw", "parsed"), [
    ('["https://a.example", "https://b.example"]', ["https://a.example", "https://b.example"]),
    ("https://a.example, https://b.example", ["https://a.example", "https://b.example"]),
    ("https://a.example", ["https://a.example"]),
    ("", []),
])
def test_list_settings_take_json_or_comma_separated_values(monkeypatch, raw, parsed):
    monkeypatch.setenv("PXL_CORS_ORIGINS", raw)
    monkeypatch.setenv("PXL_WEBHOOK_RETRY_SCHEDULE", "[1, 2.5]" if raw.startswith("[") else "1,2.5")
    settings = Settings()
    assert settings.cors_origins == parsed and settings.webhook_retry_schedule == [1.0, 2.5]


def pxl(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["up"], ["flower"],
                                     ["token", "--client", "alice"]])
def test_every_service_command_refuses_an_invalid_setting_in_one_line(command):
    import os

    env = {**os.environ, "PXL_REDIS_URL": "redis//typo:6379"}
    done = pxl(*command, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    assert done.stderr.startswith(f"pxl {command[0]}: invalid setting PXL_REDIS_URL=")
    assert "TRY-OUT" not in done.stdout + done.stderr and not done.stdout


def test_prove_and_check_read_no_service_setting(tmp_path):
    import os

    env = {**os.environ, "PXL_REDIS_URL": "redis//typo", "PXL_DEFAULT_JOB_TIMEOUT": "x"}
    assert pxl("prove", "p -> p", env=env).returncode == 0
    proof = pxl("prove", "--json", "p -> p", env=env)
    (tmp_path / "proof.json").write_text(proof.stdout)
    assert pxl("check", str(tmp_path / "proof.json"), env=env).returncode == 0

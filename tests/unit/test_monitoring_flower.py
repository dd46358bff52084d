"""`pxl flower`: refuses to run open, and a real Flower demands the configured basic auth."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.cli.flower import FlowerConfigError, flower_invocation
from tests.unit.obs_support import isolated_env
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PXL = [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())"]


def args(**kw) -> argparse.Namespace:
    return argparse.Namespace(
        **{"address": None, "port": None, "allow_unauthenticated": False, **kw}
    )


def test_refuses_to_start_without_credentials():
    with pytest.raises(FlowerConfigError, match="no credentials"):
        flower_invocation(Settings(), args())


def test_unauthenticated_only_when_allowed_and_only_on_loopback():
    argv, env = flower_invocation(Settings(), args(allow_unauthenticated=True))
    assert "--address=127.0.0.1" in argv and env["FLOWER_BASIC_AUTH"] is None
    with pytest.raises(FlowerConfigError, match="refusing"):
        flower_invocation(Settings(), args(allow_unauthenticated=True, address="0.0.0.0"))


def test_credentials_travel_in_the_environment_not_argv(tmp_path):
    secret_file = tmp_path / "flower_auth"
    secret_file.write_text("ops:s3cret-pass\n")
    settings = Settings(flower_basic_auth_file=str(secret_file), flower_address="0.0.0.0")
    argv, env = flower_invocation(settings, args(port=5600))
    assert env["FLOWER_BASIC_AUTH"] == "ops:s3cret-pass"
    assert env["FLOWER_UNAUTHENTICATED_API"] is None  # removed, whatever the environment says
    assert argv[0] == "flower" and "--port=5600" in argv and "--address=0.0.0.0" in argv
    assert not any("s3cret" in a for a in argv)


def test_malformed_credentials_are_refused():
    with pytest.raises(FlowerConfigError, match="user:password"):
        flower_invocation(Settings(flower_basic_auth="justauser"), args())


def test_the_cli_exits_2_without_credentials(monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PXL_FLOWER")}
    result = subprocess.run(
        [*PXL, "flower"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no credentials" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_a_real_flower_requires_basic_auth_except_health_and_metrics(monkeypatch):
    gen = isolated_env(monkeypatch)
    next(gen)
    port = free_port()
    env = {**os.environ, "PXL_FLOWER_BASIC_AUTH": "ops:s3cret-pass"}
    proc = subprocess.Popen(
        [*PXL, "flower", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthcheck", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert health.status_code == 200
        assert httpx.get(f"{base}/", timeout=5).status_code == 401
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        wrong = httpx.get(f"{base}/", auth=("ops", "wrong"), timeout=5)
        assert wrong.status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "s3cret-pass"), timeout=5).status_code == 200
        # documented hole: Flower's own metrics are open, hence no published port in compose
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)
        next(gen, None)

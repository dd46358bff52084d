"""`pxl flower`: Flower (the Celery monitoring UI) on the service's broker, with basic auth.

pxl flower [--address 127.0.0.1] [--port 5555] [--allow-unauthenticated]

Credentials come from PXL_FLOWER_BASIC_AUTH or the file named by PXL_FLOWER_BASIC_AUTH_FILE
(``user:password``, several separated by commas) and reach Flower through its environment
(``FLOWER_BASIC_AUTH``), never the command line, so ``ps`` does not show them. Without
credentials it refuses to start unless unauthenticated access is allowed explicitly, and even
then only on a loopback address.

Flower serves ``/metrics`` and ``/healthcheck`` without authentication (by design), so never
publish its port: in compose/docker-compose.prod.yml it is on the internal network only.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "flower",
        help="run Flower (Celery monitoring UI) on the job broker, with basic auth",
        description="Run Flower against the service's Redis broker. Needs PXL_FLOWER_BASIC_AUTH "
        "or PXL_FLOWER_BASIC_AUTH_FILE (user:password) unless --allow-unauthenticated.",
    )
    p.add_argument("--address", default=None, help="bind address (default: settings, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: settings, 5555)")
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="start without credentials (only on a loopback address)",
    )
    p.set_defaults(func=handle)


class FlowerConfigError(ValueError):
    pass


def credentials(settings) -> str | None:
    """The basic-auth credentials (``user:password[,…]``) from settings or their file."""
    value = settings.flower_basic_auth
    if not value and settings.flower_basic_auth_file:
        try:
            value = Path(settings.flower_basic_auth_file).read_text().strip()
        except OSError as exc:
            raise FlowerConfigError(f"cannot read PXL_FLOWER_BASIC_AUTH_FILE: {exc}") from exc
    if not value:
        return None
    for pair in value.split(","):
        user, sep, password = pair.partition(":")
        if not (user and sep and password):
            raise FlowerConfigError("basic auth must be user:password (several: comma-separated)")
    return value


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def flower_invocation(settings, args) -> tuple[list[str], dict[str, str | None]]:
    """(argv for ``celery flower``, environment changes) or FlowerConfigError saying why not."""
    address = args.address or settings.flower_address
    port = args.port or settings.flower_port
    secret = credentials(settings)
    allow = args.allow_unauthenticated or settings.flower_allow_unauthenticated
    if not secret:
        if not allow:
            raise FlowerConfigError(
                "no credentials: set PXL_FLOWER_BASIC_AUTH or PXL_FLOWER_BASIC_AUTH_FILE "
                "(user:password), or pass --allow-unauthenticated for a loopback-only Flower"
            )
        if not _is_loopback(address):
            raise FlowerConfigError(
                f"refusing an unauthenticated Flower on {address}: bind it to 127.0.0.1"
            )
    argv = ["flower", f"--address={address}", f"--port={port}", "--purge_offline_workers=300"]
    env = {"FLOWER_BASIC_AUTH": secret, "FLOWER_UNAUTHENTICATED_API": None}
    return argv, env


def handle(args) -> int:
    from workers.settings import get_settings

    settings = get_settings()
    try:
        argv, env = flower_invocation(settings, args)
    except FlowerConfigError as exc:
        print(f"pxl flower: {exc}", file=sys.stderr)
        return 2
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if not env["FLOWER_BASIC_AUTH"]:
        print("pxl flower: WARNING: no authentication (loopback only)", file=sys.stderr)
    from workers.celery_app import app_for

    app_for(settings).start(argv)
    return 0

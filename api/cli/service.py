"""`pxl serve` (the API), `pxl worker` (a Celery worker) and `pxl up` (both, one machine).

`pxl up` uses the Redis of PXL_REDIS_URL (default redis://127.0.0.1:6379/0); when none
answers there (or with --embedded) it starts an in-process Redis (workers.embedded) and
says loudly that nothing persists.  Without a JWT key it makes an ephemeral one and prints
a token and a ready-to-paste curl command.
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
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default="info")
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
    worker.add_argument("--loglevel", "-l", default="info")
    worker.add_argument("--queues", "-Q", default=None,
                        help="comma-separated queues (default: the job queue and its "
                             "webhook queue)")
    worker.set_defaults(func=worker_command)

    up = subparsers.add_parser(
        "up", help="run API and worker together on this machine",
        description="Run the API and one worker as child processes.  Uses PXL_REDIS_URL "
                    "when it answers, else an embedded in-memory Redis (try-out mode).",
    )
    up.add_argument("--host", default=None, help=f"API bind address (default {DEFAULT_HOST})")
    up.add_argument("--port", type=int, default=None, help=f"API port (default {DEFAULT_PORT})")
    up.add_argument("--concurrency", "-c", type=int, default=None,
                    help="worker pool processes (default: number of CPUs)")
    up.add_argument("--embedded", action="store_true",
                    help="always use the embedded in-memory Redis (nothing persists)")
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
    from workers.keys import webhook_queue
    from workers.settings import get_settings

    settings = get_settings()
    pool = args.pool or settings.worker_pool
    if pool not in ("solo", "prefork"):
        print(f"pxl worker: unknown pool {pool!r} (solo or prefork)", file=sys.stderr)
        return 2
    concurrency = args.concurrency or os.cpu_count() or 1
    if pool == "solo" and concurrency > 1:
        from workers.supervisor import Supervisor

        child = ["worker", "--pool", "solo", "--concurrency", "1", "--loglevel", args.loglevel]
        if args.queues:
            child += ["--queues", args.queues]
        return Supervisor(lambda: _child_argv(*child), concurrency, settings).run()
    queues = args.queues or f"{settings.queue_name},{webhook_queue(settings)}"
    argv = [
        "worker", f"--loglevel={args.loglevel}", f"--queues={queues}",
        f"--hostname=pxl-{os.getpid()}@{socket.gethostname()}",
        f"--pool={pool}", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle",
    ]
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


def up_command(args) -> int:
    from workers.embedded import EmbeddedRedis, redis_answers
    from workers.settings import Settings

    env = dict(os.environ)
    settings = Settings()
    host = args.host or settings.host or DEFAULT_HOST
    port = args.port or settings.port or DEFAULT_PORT
    embedded = None
    mode = "always" if args.embedded else settings.embedded
    if mode == "always" or (mode == "auto" and not redis_answers(settings.redis_url)):
        embedded = EmbeddedRedis().start()
        env["PXL_REDIS_URL"] = embedded.url
        why = ("--embedded was given" if mode == "always"
               else f"no Redis answered at {settings.redis_url}")
        print(_banner([
            "TRY-OUT MODE: embedded in-memory Redis (fakeredis) on " + embedded.url,
            f"because {why}.",
            "Jobs, queue and results live in this process only: NOTHING PERSISTS,",
            "and only this machine's worker can serve it. For real use run Redis and",
            "`pxl serve` + `pxl worker` (see docs/jobs.md).",
        ]), flush=True)
    elif mode == "never" and not redis_answers(settings.redis_url):
        print(f"pxl up: no Redis answers at {settings.redis_url} (PXL_EMBEDDED=never)",
              file=sys.stderr)
        return 2

    token_line = None
    if not settings.auth_disabled:
        if not (settings.jwt_secret or settings.jwt_secret_file):
            env["PXL_JWT_SECRET"] = secrets.token_urlsafe(48)
            print("pxl up: no PXL_JWT_SECRET set; using an ephemeral signing key "
                  "(tokens die with this process).", flush=True)
        if not settings.webhook_master_key:
            env["PXL_WEBHOOK_MASTER_KEY"] = secrets.token_urlsafe(48)
        token_settings = Settings(**{"jwt_secret": env.get("PXL_JWT_SECRET")}) \
            if "PXL_JWT_SECRET" in env else settings
        problem = _auth_problem(token_settings)
        if problem:
            print(f"pxl up: {problem}", file=sys.stderr)
            if embedded:
                embedded.stop()
            return 2
        from api.auth import ALL_SCOPES, mint_token

        token_line = mint_token("local", ALL_SCOPES, ttl=24 * 3600, settings=token_settings)

    children = [
        subprocess.Popen(_child_argv("serve", "--host", host, "--port", str(port)), env=env,
                         start_new_session=True),
        subprocess.Popen(_child_argv("worker", *(["--concurrency", str(args.concurrency)]
                                                 if args.concurrency else [])),
                         env=env, start_new_session=True),
    ]
    stopping = {"signal": None}

    def forward(signum, _frame):
        stopping["signal"] = signum

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    base = f"http://{host}:{port}"
    announced = False
    try:
        while stopping["signal"] is None and all(c.poll() is None for c in children):
            if not announced and _answers(base + "/v1/health"):
                announced = True
                _print_ready(base, token_line)
            time.sleep(0.2)
    finally:
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for c in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.wait(timeout=max(0.1, deadline - time.monotonic()))
            if c.poll() is None:
                c.kill()
                c.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if embedded:
            embedded.stop()
    if stopping["signal"] is not None:
        print("pxl up: stopped.", flush=True)
        return 0
    codes = [c.returncode for c in children]
    print(f"pxl up: a child process exited (API {codes[0]}, worker {codes[1]}); stopped.",
          file=sys.stderr)
    return 1


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def _print_ready(base: str, token: str | None) -> None:
    lines = [f"pxl up: the service is ready at {base}"]
    auth = ""
    if token:
        lines.append(f"A token for trying it (client 'local', all scopes, 24 h):\n\n  {token}\n")
        auth = f" -H 'Authorization: Bearer {token}'"
    body = '{"formula": "' + EXAMPLE_FORMULA + '"}'
    lines.append("Prove a formula (answers within 5 s thanks to Prefer: wait):\n\n"
                 f"  curl -s -X POST {base}/v1/proofs{auth} -H 'Content-Type: application/json'"
                 f" -H 'Prefer: wait=5' -d '{body}'\n")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)

"""`pxl token`: mint an access token for a client, hash a client secret, show a webhook secret.

pxl token --client alice --scope "proofs:write jobs:read" [--ttl 3600] [--force]
pxl token --hash-secret            # reads the secret from stdin (or prompts), prints the hash
pxl token --webhook-secret --client alice
"""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "token",
        help="mint an access token, hash a client secret, or show a client's webhook secret",
        description="Operator tools for tokens and clients (uses PXL_JWT_SECRET / *_FILE).",
    )
    p.add_argument("--client", help="client id (the token's sub)")
    p.add_argument(
        "--scope",
        default="proofs:write overlays:write jobs:read",
        help='space-separated scopes (default: "%(default)s")',
    )
    p.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (default: settings)")
    p.add_argument(
        "--force",
        action="store_true",
        help="mint even for a client the registry does not configure or has disabled "
        "(the API refuses such tokens until the client is configured and enabled)",
    )
    p.add_argument(
        "--hash-secret",
        action="store_true",
        help="read a client secret from stdin and print its secret_hash for the clients file",
    )
    p.add_argument(
        "--webhook-secret",
        action="store_true",
        help="print the client's webhook signing secret (whsec_...)",
    )
    p.set_defaults(func=handle)


def handle(args) -> int:
    if args.hash_secret:
        return _hash_secret()
    if not args.client:
        print("pxl token: --client is required", file=sys.stderr)
        return 2
    if args.webhook_secret:
        from workers.clients import WebhookSecretMissing, webhook_secret

        try:
            print(webhook_secret(args.client))
        except WebhookSecretMissing as exc:
            print(f"pxl token: {exc}", file=sys.stderr)
            return 1
        return 0
    from api.auth import SigningKeyMissing, mint_token
    from workers.clients import ClientConfigError, client_refusal

    try:
        refusal = client_refusal(args.client)
    except ClientConfigError as exc:
        print(f"pxl token: {exc}", file=sys.stderr)
        return 1
    if refusal and not args.force:
        print(
            f"pxl token: {refusal} ({args.client!r}), so the API would refuse its token; "
            "configure or enable it in PXL_CLIENTS_FILE, or pass --force",
            file=sys.stderr,
        )
        return 2
    try:
        print(mint_token(args.client, args.scope.split(), ttl=args.ttl))
    except SigningKeyMissing as exc:
        print(f"pxl token: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"pxl token: {exc}", file=sys.stderr)
        return 2
    return 0


def _hash_secret() -> int:
    from workers.clients import hash_secret

    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("client secret: ")
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    if len(secret) < 16:
        print("pxl token: use a client secret of at least 16 characters", file=sys.stderr)
        return 2
    print(hash_secret(secret))
    return 0

"""A Python client for the LOGOS PXL Core API (sync and async, on httpx).

    from pxl_client import Client

    with Client("http://127.0.0.1:8080", client_id="me", client_secret="...") as pxl:
        job = pxl.submit("[](p -> q) -> ([]p -> []q)")
        print(pxl.wait(job["id"])["result"]["verdict"])

It needs nothing of the service's own code: httpx, and for ``verify_webhook`` the Standard
Webhooks reference library. See docs/client.md.
"""

from pxl_client.client import (
    TERMINAL_STATUSES,
    AsyncClient,
    Client,
    PxlError,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    "TERMINAL_STATUSES",
    "AsyncClient",
    "Client",
    "PxlError",
    "WebhookVerificationError",
    "verify_webhook",
]

"""Bearer-token authentication and scopes (interface; the security issue fills in validation).

Routes declare what they need with ``Depends(require_scope("proofs:write"))`` and receive the
caller's ``Principal``; job ownership is ``principal.sub``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.settings import get_settings

ALL_SCOPES = ("proofs:write", "overlays:write", "jobs:read", "metrics:read")


@dataclass(frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]


LOCAL_PRINCIPAL = Principal(sub="local", scopes=frozenset(ALL_SCOPES))


def require_scope(*scopes: str):
    """A FastAPI dependency returning the caller, or raising 401/403."""

    def dependency() -> Principal:
        if get_settings().auth_disabled:
            return LOCAL_PRINCIPAL
        raise NotImplementedError("token validation arrives with the security issue")

    return dependency

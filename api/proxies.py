"""Proxy trust: who the client is and which scheme it used, seen through trusted proxies.

The peer address is the client unless the peer is in ``settings.trusted_proxies`` (IPs or
CIDRs, empty by default); only then is ``X-Forwarded-For`` read, right to left, skipping
trusted hops, and ``X-Forwarded-Proto`` believed (for HSTS).  Used by the security headers
(api.security) and the rate limiter's identity (api.ratelimit).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from workers.settings import Settings


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted if t.strip())


def _is_trusted(address: str, settings: Settings) -> bool:
    networks = _networks(tuple(settings.trusted_proxies))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _header_values(scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]


def client_ip(scope, settings: Settings) -> str:
    """The client's address: the peer, or from ``X-Forwarded-For`` when the peer is trusted."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not _is_trusted(peer, settings):
        return peer
    hops = [h.strip() for v in _header_values(scope, b"x-forwarded-for") for h in v.split(",")]
    current = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return current  # garbage from beyond the last trusted proxy: stop at that proxy
        current = hop
        if not _is_trusted(hop, settings):
            return hop
    return current


def request_scheme(scope, settings: Settings) -> str:
    scheme = scope.get("scheme", "http")
    peer = (scope.get("client") or ("unknown", 0))[0]
    if _is_trusted(peer, settings):
        forwarded = _header_values(scope, b"x-forwarded-proto")
        if forwarded:
            scheme = forwarded[-1].split(",")[-1].strip().lower() or scheme
    return scheme


def check_trusted_proxies(settings: Settings) -> None:
    """Refuse a PXL_TRUSTED_PROXIES that does not parse (at start-up, not per request)."""
    try:
        _networks(tuple(settings.trusted_proxies))
    except ValueError as exc:
        raise ValueError(f"PXL_TRUSTED_PROXIES: {exc} (list IPs or CIDRs)") from None

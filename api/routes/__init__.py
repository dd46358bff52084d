"""The /v1 routers; ``create_app`` includes each in ``ROUTERS`` (add a new module's router here)."""

from __future__ import annotations

from api.routes import health, jobs, proofs

ROUTERS = (proofs.router, jobs.router, health.router)

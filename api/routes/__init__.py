"""The /v1 routers; ``create_app`` includes each in ``ROUTERS`` (add a new module's router here)."""

from __future__ import annotations

from api.routes import batches, health, jobs, overlays, proofs, webhooks

ROUTERS = (proofs.router, batches.router, overlays.router, jobs.router, webhooks.router,
           health.router)

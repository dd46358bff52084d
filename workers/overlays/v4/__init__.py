"""The v4 overlay: domain-tagged objects (knowledge, action, value) translated into PXL.

Importing this package is cheap (the adapter table only); the operations live in
``workers.overlays.v4.ops``.
"""

from workers.overlays.v4.table import (
    ADAPTER_TABLE,
    ADAPTER_TABLE_VERSION,
    adapter_table_sha256,
    canonical_json,
)

__all__ = ["ADAPTER_TABLE", "ADAPTER_TABLE_VERSION", "adapter_table_sha256", "canonical_json"]

"""Explicit input limits, shared by the parser, the JSON reader and the API.

They bound memory and time before any search starts; every limit violation is
reported as a ``FormulaError`` (HTTP 413 for bytes, 422 for the others).
The largest benchmark problems we know (LWB, QMLTP) have about 19,000 nodes,
67 KB of text and nesting about 800, so the limits leave room above them.
"""

MAX_TEXT_BYTES = 256 * 1024  # UTF-8 bytes of formula text
MAX_NODES = 50_000  # tree nodes of the parsed formula
MAX_DEPTH = 2_000  # nesting depth (a leaf has depth 1)

# A proof's time limit when the caller names none: the service's PXL_DEFAULT_JOB_TIMEOUT
# default and `pxl prove`'s, kept here so that `pxl prove` need not import the settings.
DEFAULT_TIMEOUT_SECONDS = 30.0

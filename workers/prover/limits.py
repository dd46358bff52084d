"""Explicit input limits, shared by the parser, the JSON reader and the API.

They bound memory and time before any search starts; every limit violation is
reported as a ``FormulaError`` (HTTP 413 for bytes, 422 for the others).
"""

MAX_TEXT_BYTES = 64 * 1024  # UTF-8 bytes of formula text
MAX_NODES = 20_000  # tree nodes of the parsed formula
MAX_DEPTH = 1_000  # nesting depth (a leaf has depth 1)

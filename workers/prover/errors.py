"""The one error type for bad formula input, text or JSON.

``code`` says which rule was broken; the API maps ``too_large`` to HTTP 413 and
every other code to 422.  Text errors carry a 1-based line and column and an
excerpt (the source line and a caret under the spot); JSON errors carry a
JSON-pointer-like ``path`` (``/and/1/not``) instead.
"""

from __future__ import annotations

SYNTAX = "syntax"
JSON = "json"
TOO_LARGE = "too_large"
TOO_MANY_NODES = "too_many_nodes"
TOO_DEEP = "too_deep"
CODES = (SYNTAX, JSON, TOO_LARGE, TOO_MANY_NODES, TOO_DEEP)

# An excerpt shows at most this many characters of a long source line.
_EXCERPT_WIDTH = 80


class FormulaError(ValueError):
    """A formula (text or JSON form) that is malformed or over a limit."""

    def __init__(
        self,
        message: str,
        *,
        code: str = SYNTAX,
        line: int | None = None,
        column: int | None = None,
        excerpt: str | None = None,
        path: str | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown FormulaError code {code!r}")
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        self.column = column
        self.excerpt = excerpt
        self.path = path

    def __reduce__(self):
        # Keep every attribute across pickling (e.g. between worker processes).
        return (
            _rebuild,
            (self.message, self.code, self.line, self.column, self.excerpt, self.path),
        )

    @classmethod
    def at(cls, text: str, offset: int, message: str, *, code: str = SYNTAX) -> FormulaError:
        """An error at character ``offset`` of ``text`` (line, column and excerpt filled in)."""
        line, column = position(text, offset)
        return cls(message, code=code, line=line, column=column, excerpt=excerpt(text, offset))

    def __str__(self) -> str:
        head = self.message
        if self.line is not None and self.column is not None:
            head = f"line {self.line}, column {self.column}: {self.message}"
        elif self.path is not None:
            head = f"at {self.path or '(top level)'}: {self.message}"
        return f"{head}\n{self.excerpt}" if self.excerpt else head

    def to_dict(self) -> dict:
        """The error as plain data (for problem+json extension members)."""
        data: dict = {"code": self.code, "message": self.message}
        for key in ("line", "column", "excerpt", "path"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def _rebuild(message, code, line, column, excerpt, path) -> FormulaError:
    return FormulaError(message, code=code, line=line, column=column, excerpt=excerpt, path=path)


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character ``offset``; lines end at '\\n'."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def excerpt(text: str, offset: int) -> str:
    """The source line holding ``offset`` and a caret line under it.

    Long lines are cut to a window around the spot (marked with '…'); control
    characters are shown as '?' so the excerpt is safe to print.
    """
    offset = max(0, min(offset, len(text)))
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    if end < 0:
        end = len(text)
    source = text[start:end].rstrip("\r")
    col = offset - start
    prefix = suffix = ""
    if len(source) > _EXCERPT_WIDTH:
        lo = max(0, min(col - _EXCERPT_WIDTH // 2, len(source) - _EXCERPT_WIDTH))
        hi = lo + _EXCERPT_WIDTH
        prefix = "…" if lo > 0 else ""
        suffix = "…" if hi < len(source) else ""
        source, col = source[lo:hi], col - lo
    shown = "".join(c if c == "\t" or c.isprintable() else "?" for c in source)
    pad = "".join("\t" if c == "\t" else " " for c in shown[:col])
    return f"{prefix}{shown}{suffix}\n{' ' * len(prefix)}{pad}^"

"""docs/configuration.md lists every setting of workers/settings.py, generated from its source.

Regenerate after changing a setting:  .venv/bin/python -m tests.unit.test_configuration_doc
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "workers" / "settings.py"
DOC = ROOT / "docs" / "configuration.md"

HEADER = """# Configuration

Every setting of the service lives in `workers/settings.py` and is read from the
environment variable `PXL_<NAME>` (upper case), e.g. `PXL_REDIS_URL`. List settings take
JSON (`PXL_CORS_ORIGINS='["https://console.example"]'`) or comma-separated values
(`PXL_CORS_ORIGINS=https://a.example,https://b.example`). An invalid value stops every
command with one line naming the variable, the value, what is expected and an example
(exit status 2). This page is generated from that file
(`python -m tests.unit.test_configuration_doc`); a test fails when the two differ.
"""


def _comment_of(lines: list[str], lineno: int) -> str:
    """The trailing comment of the field's line, else the comment lines right above it."""
    line = lines[lineno - 1]
    if "  # " in line:
        return line.split("  # ", 1)[1].strip()
    above = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#") and not lines[i].strip().startswith("# ---"):
        above.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    return " ".join(above)


def render() -> str:
    import workers.settings as settings_module

    text = SOURCE.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    out = [HEADER]
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        section = None
        for j in range(node.lineno - 2, cls.lineno - 1, -1):
            if lines[j].strip().startswith("# ---"):
                section = lines[j].strip().strip("#- ").strip()
                break
        if section and f"## {section}" not in out:
            out += ["", f"## {section}", "", "| variable | type | default | meaning |",
                    "|---|---|---|---|"]
        name = node.target.id
        annotation = ast.unparse(node.annotation).replace("|", "\\|")
        default = ast.unparse(node.value) if node.value is not None else "required"
        if isinstance(node.value, ast.Name):  # a constant shared with the prover: its value
            default = repr(getattr(settings_module, node.value.id))
        if default.startswith("Field(default_factory="):
            default = default.removeprefix("Field(default_factory=").removesuffix(")")
            default = default.removeprefix("lambda: ")
        default = default.replace("|", "\\|")
        meaning = _comment_of(lines, node.lineno).replace("|", "\\|")
        out.append(f"| `PXL_{name.upper()}` | `{annotation}` | `{default}` | {meaning} |")
    return "\n".join(out) + "\n"


def test_configuration_doc_lists_every_setting():
    from workers.settings import Settings

    doc = DOC.read_text()
    missing = [n for n in Settings.model_fields if f"`PXL_{n.upper()}`" not in doc]
    assert not missing, f"undocumented settings {missing}: run python -m tests.unit.test_configuration_doc"
    assert doc == render(), "docs/configuration.md is stale: run python -m tests.unit.test_configuration_doc"


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)

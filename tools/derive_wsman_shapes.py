"""Derive the element structure of real Windows WSMan responses from pypsrp's recorded exchanges.

Usage: python tools/derive_wsman_shapes.py PYPSRP_CHECKOUT > tests/lab/winrm/windows_wsman_shapes.json
(needs PyYAML, which the project itself does not depend on)

pypsrp's test suite (tests/tests_pypsrp/responses/*.yml, github.com/jborean93/pypsrp) holds request/response
pairs recorded against real Windows hosts. This keeps only what the lab must reproduce — the *structure* of
each response (element names by namespace, child order, attribute names), never values or payloads — for
the PowerShell resource (``http://schemas.microsoft.com/powershell/…``) and the WinRM config Get, which are
the only resources the product talks to. Re-run when pypsrp adds recordings.

The shape grammar is shared with the test that checks the lab (tests/lab/winrm/wire_shapes.py):
``prefix:Local[@attr,…]{child child …}``, namespaces mapped to fixed prefixes, consecutive repeated
siblings (several ``rsp:Stream``) collapsed into one.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lab" / "winrm"))
from wire_shapes import response_kind, shape

RESPONSES = "tests/tests_pypsrp/responses"


def messages(path: Path) -> list[tuple[str, str]]:
    """The (request, response) pairs of one recording (entries without both are injected errors)."""
    import yaml  # PyYAML: needed by this tool only, not by the project

    doc = yaml.safe_load(path.read_text("utf-8")) or {}
    return [(m["request"], m["response"]) for m in doc.get("messages", [])
            if isinstance(m.get("request"), str) and isinstance(m.get("response"), str)]


def derive(checkout: Path) -> dict[str, object]:
    shapes: dict[str, Counter[str]] = defaultdict(Counter)
    files: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted((checkout / RESPONSES).glob("test_*.yml")):
        for request, response in messages(path):
            kind = response_kind(ET.fromstring(request), ET.fromstring(response))
            if kind is None:  # another resource (cmd shells, enumerations) — not what the product uses
                continue
            s = shape(ET.fromstring(response))
            shapes[kind][s] += 1
            files[(kind, s)].add(path.name)
    return {
        "source": "github.com/jborean93/pypsrp tests/tests_pypsrp/responses/*.yml (recorded against Windows)",
        "derived_by": "tools/derive_wsman_shapes.py",
        "kinds": {kind: [{"shape": s, "seen": n, "in": sorted(files[(kind, s)])[:3]}
                         for s, n in counts.most_common()] for kind, counts in sorted(shapes.items())},
    }


if __name__ == "__main__":
    json.dump(derive(Path(sys.argv[1])), sys.stdout, indent=1)
    sys.stdout.write("\n")

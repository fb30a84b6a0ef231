"""Every CIM property the product's scripts read exists on a WFAS provider class page (data/wfascim.json)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ipsec_remote.remote.cimcodes import NETTCPIP_CLASSES, cim_classes

SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "src" / "ipsec_remote" / "remote" / "powershell")
                 .glob("*.ps1"))
READS = re.compile(r"(?:Get-Cim \$\w+ '(\w+)'|(?:CimInstanceProperties|\$props)\['(\w+)'\])")
# Properties some class page documents (not "ignored"/"internal"), by name (CIM names are case-insensitive).
DOCUMENTED = {name.lower() for cls in cim_classes().values() for name, spec in cls["properties"].items()
              if spec.get("doc_status", "documented") == "documented"}
# observe.ps1 also reads the NetTCPIP connection classes (their pages, cited in remote/cimcodes.py).
DOCUMENTED |= {name.lower() for props in NETTCPIP_CLASSES.values() for name in props}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_cim_reads_are_documented_properties(script: Path) -> None:
    names = {a or b for a, b in READS.findall(script.read_text(encoding="utf-8"))}
    for name in names:
        assert name.lower() in DOCUMENTED, f"{script.name} reads {name!r}, which no class page documents"


def test_the_reading_scripts_read_cim_properties() -> None:
    reading = {p.name for p in SCRIPTS if READS.search(p.read_text(encoding="utf-8"))}
    assert {"read_state.ps1", "read_names.ps1", "verify.ps1", "reset_sas.ps1", "invoke_batch.ps1",
            "observe.ps1"} <= reading

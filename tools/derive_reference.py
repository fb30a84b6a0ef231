"""Derive the project's cmdlet reference (src/ipsec_remote/data/netsecurity.json) from the shared one.

Usage: python tools/derive_reference.py ../shared/reference/netsecurity.json

Keeps the machine-checkable facts (cmdlets, parameter names, types, enum values, arrays, flags, aliases,
mandatory flags per parameter set, positions, output properties with numeric codes, default set names,
services, events) and each cmdlet's source page; drops prose. Re-run when the shared reference changes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

KEEP_PARAM = ("type", "array", "values", "mandatory", "mandatory_in_sets", "parameter_sets", "aliases",
              "position", "flags", "default", "pipeline")


def derive(shared: dict[str, Any]) -> dict[str, Any]:
    cmdlets: dict[str, Any] = {}
    for name, entry in sorted(shared["cmdlets"].items()):
        params = {}
        for pname, p in sorted(entry["parameters"].items()):
            kept = {k: p[k] for k in KEEP_PARAM if k in p and p[k] not in (None, [], False)}
            kept.setdefault("type", p["type"])
            kept["array"] = bool(p.get("array"))
            if p.get("default_unverified") or (isinstance(p.get("notes"), list)
                                              and any("UNVERIFIED" in n for n in p["notes"])):
                kept["unverified"] = True
            params[pname] = kept
        out: dict[str, Any] = {
            "source": entry["source"],
            "parameter_sets": [s["name"] for s in entry.get("parameter_sets", [])],
            "default_parameter_set": next((s["name"] for s in entry.get("parameter_sets", []) if s.get("default")),
                                          None),
            "parameters": params,
        }
        if entry.get("not_parameters"):
            out["not_parameters"] = entry["not_parameters"]
        props = entry.get("output_properties")
        if isinstance(props, dict):  # kept as documented: shapes differ between CIM class pages
            out["output_properties"] = {k: v for k, v in props.items() if k != "display_layer"}
        cmdlets[name] = out
    return {
        "derived_from": "shared/reference/netsecurity.json (" + shared["meta"]["what"][:80] + "...)",
        "version_check": shared["meta"]["version_check"],
        "cmdlets": cmdlets,
        "default_set_names": shared["default_set_names"],
        "services": shared["services"],
        "events": shared["events"],
        "exemptions": shared["exemptions"],
        "unverified": shared["unverified"],
        # Added for the validator (reference.py); keys above are read by the lab too, so only add.
        "seed_errata": shared["seed_errata"],
        "property_errata": property_errata(shared),
        "security_pairs": security_pairs(shared),
    }


def property_errata(shared: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Wrong property name -> correction, per cmdlet, from the seed errata's ``map`` entries.

    An erratum's claim starts with the cmdlet whose output it reads (``Get-NetIPsecMainModeSA | ...``);
    entries whose correction starts with "OK" are right names and are dropped.
    """
    out: dict[str, dict[str, str]] = {}
    for erratum in shared["seed_errata"]:
        cmdlet = erratum["claim"].split()[0]
        if "map" not in erratum or cmdlet not in shared["cmdlets"]:
            continue
        fixes = {k: v for k, v in erratum["map"].items() if not v.startswith("OK")}
        out.setdefault(cmdlet, {}).update(fixes)
    return out


def security_pairs(shared: dict[str, Any]) -> dict[str, Any]:
    """The valid -InboundSecurity/-OutboundSecurity pairs, parsed from the parameter notes that quote them."""
    pattern = re.compile(r"Valid InboundSecurity/OutboundSecurity pairs[^:]*:\s*(.+?)\.?$")
    cmdlets: list[str] = []
    pairs: list[list[str]] = []
    for name, entry in sorted(shared["cmdlets"].items()):
        for note in entry["parameters"].get("InboundSecurity", {}).get("notes") or []:
            match = pattern.search(note)
            if match:
                cmdlets.append(name)
                pairs = [pair.strip().split("/") for pair in match.group(1).split(",")]
    if not pairs:
        raise SystemExit("no InboundSecurity/OutboundSecurity pair note found in the shared reference")
    return {"pairs": pairs, "cmdlets": cmdlets,
            "source": "-OutboundSecurity text of New/Set-NetIPsecRule (shared JSON parameter notes)"}


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/netsecurity.json")
    dest = Path(__file__).resolve().parent.parent / "src" / "ipsec_remote" / "data" / "netsecurity.json"
    data = derive(json.loads(src.read_text()))
    dest.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {dest} ({dest.stat().st_size} bytes, {len(data['cmdlets'])} cmdlets)")


if __name__ == "__main__":
    main()

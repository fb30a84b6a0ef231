"""Derive the project's references from the shared ones: the cmdlet reference
(src/ipsec_remote/data/netsecurity.json) and the WFAS CIM classes behind the cmdlets
(src/ipsec_remote/data/wfascim.json).

Usage: python tools/derive_reference.py ../shared/reference/netsecurity.json [../shared/reference/wfascim-classes.json]

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


# The CIM classes the product reads and the lab renders (MicrosoftDocs/win32 wfascimprov pages).
CIM_CLASSES = (
    "MSFT_NetConSecRule", "MSFT_NetMainModeRule", "MSFT_NetIKEMMCryptoSet", "MSFT_NetIKEQMCryptoSet",
    "MSFT_NetIKEP1AuthSet", "MSFT_NetIKEP2AuthSet", "MSFT_NetIKEMMCryptoProposal", "MSFT_NetIKEQMCryptoProposal",
    "MSFT_NetIKEBasicAuthProposal", "MSFT_NetIKECertAuthProposal", "MSFT_NetIKEKerbAuthProposal",
    "MSFT_NetIKEPSKAuthProposal", "MSFT_NetMainModeSA", "MSFT_NetQuickModeSA", "MSFT_NetIPsecIdentity",
    "MSFT_NetAddressFilter", "MSFT_NetProtocolPortFilter", "MSFT_NetSecuritySettingData", "MSFT_NetFirewallProfile",
)


def derive_cim(shared: dict[str, Any]) -> dict[str, Any]:
    """Per class: every property (live spelling) with its CIM type, documentation status and value list.

    ``type`` is the page's type, except where the live schema embeds instances (``Proposals`` is
    ``instance[]`` of ``embedded``; MainModeSA identities are ``instance``), which the reference's notes
    say to trust over the pages. Value-list keys are decimal; a code the page lists twice keeps both names.
    """
    classes: dict[str, Any] = {}
    for name in CIM_CLASSES:
        entry = shared["classes"][name]
        props: dict[str, Any] = {}
        for pname, p in entry["properties"].items():
            out: dict[str, Any] = {"type": p["type"].lower(), "doc_status": p.get("doc_status", "documented")}
            live = p.get("live_type") or ""
            if live.startswith("embedded "):
                embedded = live[len("embedded "):]
                out["type"] = "instance[]" if embedded.endswith("[]") else "instance"
                out["embedded"] = embedded.removesuffix("[]")
            values = p.get("values_decimal") or p.get("values")
            if values:
                out["values"] = {k: v for k, v in values.items() if k.isdigit()}
            props[p.get("live_name") or pname] = out
        classes[name] = {"parent": entry["parent"], "url": entry["url"], "properties": props}
    return {
        "derived_from": "shared/reference/wfascim-classes.json (" + str(shared["source"]) + ")",
        "classes": classes,
        "cmdlet_to_cim": shared["cmdlet_to_cim"],
    }


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/netsecurity.json")
    cim_src = Path(sys.argv[2] if len(sys.argv) > 2 else src.parent / "wfascim-classes.json")
    data_dir = Path(__file__).resolve().parent.parent / "src" / "ipsec_remote" / "data"
    dest = data_dir / "netsecurity.json"
    data = derive(json.loads(src.read_text()))
    dest.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {dest} ({dest.stat().st_size} bytes, {len(data['cmdlets'])} cmdlets)")
    cim_dest = data_dir / "wfascim.json"
    cim = derive_cim(json.loads(cim_src.read_text()))
    cim_dest.write_text(json.dumps(cim, indent=1, sort_keys=False) + "\n")
    print(f"wrote {cim_dest} ({cim_dest.stat().st_size} bytes, {len(cim['classes'])} classes)")


if __name__ == "__main__":
    main()

"""The project's NetSecurity cmdlet reference (package data) and the validator for CmdletCalls.

Every call — nested proposal calls included — passes ``validate_call`` before it is shown, sent or
exported; ``validate_plan`` adds the cross-call rule that referenced sets live in the rule's store.
Facts come from ``data/netsecurity.json`` (derived by ``tools/derive_reference.py`` from
``shared/reference/netsecurity.json``); nothing here guesses beyond it except where a comment says so.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import combinations
from typing import Any

from ..errors import ValidationError
from .calls import CmdletCall, ParamValue, SecretRef

ALL_SETS = "(All)"
DEFAULT_STORE = "PersistentStore"
SET_KINDS = ("MainModeCryptoSet", "QuickModeCryptoSet", "Phase1AuthSet", "Phase2AuthSet")
# Cmdlets that bind sets by name (the parameter names equal the set kinds).
_SET_USERS = ("New-NetIPsecRule", "Set-NetIPsecRule", "New-NetIPsecMainModeRule", "Set-NetIPsecMainModeRule")
# Verbs whose GetAll parameter set acts on every object in the store (Remove-NetIPsecRule doc example 1).
_SWEEPING_VERBS = ("Remove", "Disable", "Enable", "Set", "Rename", "Copy", "Sync")
_INT_RANGES = {"UInt16": (0, 2**16 - 1), "UInt32": (0, 2**32 - 1), "UInt64": (0, 2**64 - 1),
               "Int32": (-(2**31), 2**31 - 1)}
# Where the notes explain the right way, say it; otherwise the fallback names the cmdlets that do have
# the parameter (netsecurity-notes §1, §2, §8; seed_errata).
_HINTS = {
    "MainModeCryptoSet": "main mode binds through the default set or New-NetIPsecMainModeRule",
    "PerfectForwardSecrecyGroup": "PFS is set on New-/Set-NetIPsecQuickModeCryptoSet",
    "PfsGroup": "PFS is set on New-/Set-NetIPsecQuickModeCryptoSet -PerfectForwardSecrecyGroup",
    "CertificateRevocationListCheck": "the CRL check is -CertValidationLevel",
    "RequireEncryption": "encryption comes from the proposals of the -QuickModeCryptoSet",
    "Authentication": "authentication comes from -Phase1AuthSet/-Phase2AuthSet",
    "Endpoint1": "use -LocalAddress", "Endpoint2": "use -RemoteAddress",
    "Action": "use -InboundSecurity/-OutboundSecurity",
    "Direction": "connection security rules are not directional; use -InboundSecurity/-OutboundSecurity",
    "TunnelMode": "use -Mode Tunnel",
    "Get-NetIPsecMainModeSA -PolicyStore": "SAs are runtime state, in no policy store; a doc example bug",
    "Get-NetIPsecQuickModeSA -PolicyStore": "SAs are runtime state, in no policy store",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _first_word(text: str) -> str:
    match = _WORD.match(text)
    return match.group(0) if match else text


@dataclass(frozen=True)
class ParamInfo:
    name: str
    type: str
    array: bool
    values: tuple[str, ...]  # enum names; empty when the type is not an enum
    flags: bool  # comma-joined combinations are documented
    parameter_sets: tuple[str, ...]  # "(All)" = every set
    mandatory_in_sets: tuple[str, ...]
    aliases: tuple[str, ...]
    default: str | None

    @property
    def base_type(self) -> str:
        return self.type.removesuffix("[]")

    def in_set(self, name: str) -> bool:
        return ALL_SETS in self.parameter_sets or name in self.parameter_sets

    def mandatory_in(self, name: str) -> bool:
        return ALL_SETS in self.mandatory_in_sets or name in self.mandatory_in_sets


@dataclass(frozen=True)
class CmdletInfo:
    name: str
    parameters: Mapping[str, ParamInfo]
    parameter_sets: tuple[str, ...]
    default_parameter_set: str | None
    not_parameters: tuple[str, ...]

    def mandatory(self, set_name: str) -> list[str]:
        return [p.name for p in self.parameters.values() if p.mandatory_in(set_name)]


def _param_info(name: str, raw: Mapping[str, Any]) -> ParamInfo:
    # The enums of -AuthorityType/-Signing carry an 'Invalid' sentinel that the parameter text does not
    # offer ("Root or Intermediate"); a plan never means it.
    values = tuple(str(v) for v in raw.get("values") or () if v != "Invalid")
    return ParamInfo(name, str(raw["type"]), bool(raw.get("array")), values, bool(raw.get("flags")),
                     tuple(raw.get("parameter_sets") or (ALL_SETS,)),
                     tuple(raw.get("mandatory_in_sets") or ()), tuple(raw.get("aliases") or ()),
                     raw.get("default"))


class Reference:
    """The cmdlet reference: parameters, sets, output properties and the errata derived from it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._raw: Mapping[str, Any] = data["cmdlets"]
        self.cmdlets: dict[str, CmdletInfo] = {
            name: CmdletInfo(name, {p: _param_info(p, raw) for p, raw in entry["parameters"].items()},
                             tuple(entry["parameter_sets"]), entry.get("default_parameter_set"),
                             tuple(_first_word(n) for n in entry.get("not_parameters", ())))
            for name, entry in data["cmdlets"].items()}
        self._folded = {name.casefold(): info for name, info in self.cmdlets.items()}
        self.default_set_names: dict[str, str] = {k: data["default_set_names"][k] for k in SET_KINDS}
        pairs = data.get("security_pairs", {})
        self.security_pairs = frozenset((str(i), str(o)) for i, o in pairs.get("pairs", ()))
        self.security_pair_cmdlets = frozenset(pairs.get("cmdlets", ()))
        self._property_errata: Mapping[str, Mapping[str, str]] = data.get("property_errata", {})

    def find_cmdlet(self, name: str) -> CmdletInfo | None:
        return self._folded.get(name.casefold())

    def cmdlet(self, name: str) -> CmdletInfo:
        info = self.find_cmdlet(name)
        if info is None:
            raise ValidationError(f"unknown cmdlet '{name}'{_did_you_mean(name, self.cmdlets)}")
        return info

    def _output_entry(self, cmdlet: str) -> Mapping[str, Any]:
        # New-/Set-NetIPsecRule return the same CIM object Get-NetIPsecRule documents.
        info = self.cmdlet(cmdlet)
        entry = self._raw[info.name].get("output_properties")
        if entry is None:
            getter = self._raw.get("Get-" + info.name.split("-", 1)[1], {})
            entry = getter.get("output_properties")
        return entry or {}

    def output_properties(self, cmdlet: str) -> set[str]:
        """Documented property names of the objects ``cmdlet`` outputs (empty when undocumented).

        The data has three shapes: ``properties`` as a dict (name -> codes/type) or a list of
        "Name (note)" strings, or ``displayed_in_doc_example`` + ``cim_only_properties`` lists.
        """
        entry = self._output_entry(cmdlet)
        names: list[str] = []
        for key in ("properties", "displayed_in_doc_example", "cim_only_properties"):
            names.extend(entry.get(key) or ())
        return {_first_word(str(n)) for n in names}

    def ignored_properties(self, cmdlet: str) -> set[str]:
        """Properties the CIM class page documents as "This field is ignored"."""
        props = self._output_entry(cmdlet).get("properties")
        if not isinstance(props, dict):
            return set()
        return {k for k, v in props.items() if isinstance(v, dict) and v.get("ignored") is True}

    def property_hints(self, cmdlet: str) -> dict[str, str]:
        """Wrong property name -> what to read instead (``not_properties``, refined by the seed errata)."""
        info = self.cmdlet(cmdlet)
        hints: dict[str, str] = {}
        wrong = [str(n) for n in self._output_entry(cmdlet).get("not_properties") or ()]
        # One entry may carry the explanation for the whole list ("X are NOT on the rule object: use ...").
        shared = next((n.split(":", 1)[1].strip() for n in wrong if ":" in n), "")
        for text in wrong:
            hints[_first_word(text)] = shared
        hints.update(self._property_errata.get(info.name, {}))
        return hints


_LOAD_LOCK = threading.Lock()


@cache
def load_reference() -> Reference:
    # One parse per process: the fleet's threads all ask at once on their first plan, and @cache alone lets
    # every one of them miss and parse the 300 KB file (200 parses on a 1,000-host apply); the lock makes
    # the others wait for the first.
    with _LOAD_LOCK:
        return _parsed_reference()


@cache
def _parsed_reference() -> Reference:
    text = resources.files("ipsec_remote").joinpath("data/netsecurity.json").read_text("utf-8")
    return Reference(json.loads(text))


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    folded = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.7)
    return f" (did you mean {folded[close[0]]}?)" if close else ""


def _fail(where: str, problem: str) -> ValidationError:
    return ValidationError(f"{where}: {problem}")


def _param(ref: Reference, info: CmdletInfo, name: str) -> ParamInfo:
    if name in info.parameters:
        return info.parameters[name]
    folded = name.casefold()
    for p in info.parameters.values():
        if p.name.casefold() == folded:
            raise _fail(info.name, f"write -{p.name}, not -{name} (plans use the canonical spelling)")
        if any(a.casefold() == folded for a in p.aliases):
            raise _fail(info.name, f"-{name} is an alias; use the canonical name -{p.name}")
    hint = _HINTS.get(f"{info.name} -{name}") or _HINTS.get(name)
    hint = hint or _did_you_mean(name, info.parameters).strip(" ()")
    if not hint:
        owners = [c.name for c in ref.cmdlets.values()
                  if name in c.parameters and c.name.startswith(("New-", "Set-"))]
        hint = f"a parameter of {', '.join(owners[:2])}" if owners else ""
    invented = " (a name blogs invent)" if name in info.not_parameters and not hint else ""
    raise _fail(info.name, f"no parameter -{name}" + (f" ({hint})" if hint else invented))


def _proposal_cmdlet(cmdlet: str) -> str | None:
    """The proposal cmdlet whose objects a set cmdlet's -Proposal takes."""
    match = re.fullmatch(r"(?:New|Set)-NetIPsec(MainModeCrypto|QuickModeCrypto|Phase[12]Auth)Set", cmdlet)
    if match is None:
        return None
    kind = match.group(1)
    return "New-NetIPsecAuthProposal" if kind.startswith("Phase") else f"New-NetIPsec{kind}Proposal"


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def _check_item(ref: Reference, info: CmdletInfo, p: ParamInfo, item: object) -> None:
    where, base = f"{info.name} -{p.name}", p.base_type
    if isinstance(item, CmdletCall):
        expected = _proposal_cmdlet(info.name) if p.name == "Proposal" else None
        if base != "CimInstance":
            raise _fail(where, f"a nested call is only allowed where the parameter takes objects ({p.type})")
        if expected is None:
            raise _fail(where, "only proposal objects can be nested, and only in -Proposal of a set cmdlet")
        if item.cmdlet != expected:
            raise _fail(where, f"takes {expected} objects, not {item.cmdlet}")
        try:
            validate_call(item, ref)
        except ValidationError as err:
            raise ValidationError(f"{err} (in {where})") from err
    elif base == "CimInstance":
        raise _fail(where, f"takes {p.type}; a plan can only pass nested proposal calls to -Proposal")
    elif base in ("SwitchParameter", "Boolean"):
        if not isinstance(item, bool):
            raise _fail(where, f"takes a bool ({p.type}), got {_describe(item)}")
    elif base in _INT_RANGES:
        low, high = _INT_RANGES[base]
        if isinstance(item, bool) or not isinstance(item, int):
            raise _fail(where, f"takes an integer ({p.type}), got {_describe(item)}")
        if not low <= item <= high:
            raise _fail(where, f"{item} is out of range for {base} ({low}..{high})")
    elif p.values:
        _check_enum(where, p, item)
    elif base in ("String", "WildcardPattern"):
        # DESIGN §7: the key never appears in a plan (nor echoed here); nothing else is a secret.
        if p.name == "PreSharedKey" and not isinstance(item, SecretRef):
            raise _fail(where, "takes a SecretRef (the key itself must never be in a plan)")
        if p.name != "PreSharedKey" and isinstance(item, SecretRef):
            raise _fail(where, "a SecretRef is only for -PreSharedKey")
        if isinstance(item, bool) or not isinstance(item, (str, int, SecretRef)):
            raise _fail(where, f"takes a string, got {_describe(item)}")
    else:
        raise _fail(where, f"{p.type} values cannot be given in a plan")


def _check_enum(where: str, p: ParamInfo, item: object) -> None:
    allowed = ", ".join(p.values)
    if not isinstance(item, str):
        raise _fail(where, f"takes one of {allowed} as a string, got {_describe(item)}")
    parts = item.split(",")
    if len(parts) > 1 and not p.flags:
        raise _fail(where, f"'{item}' is not one of {allowed} (values of {p.type} cannot be combined)")
    for part in parts:
        if part not in p.values:
            case = next((v for v in p.values if v.casefold() == part.strip().casefold()), None)
            note = f" (write '{case}')" if case else ""
            raise _fail(where, f"'{part}' is not one of {allowed}{note}")
    if len(set(parts)) != len(parts):
        raise _fail(where, f"'{item}' repeats a value")


def _check_value(ref: Reference, info: CmdletInfo, p: ParamInfo, value: ParamValue) -> None:
    if isinstance(value, list):
        if not p.array:
            raise _fail(f"{info.name} -{p.name}", f"takes a single value, got a list {value!r}")
        if not value:
            raise _fail(f"{info.name} -{p.name}", "empty list")
    for item in value if isinstance(value, list) else [value]:
        _check_item(ref, info, p, item)


def _resolve_set(info: CmdletInfo, given: list[ParamInfo]) -> str | None:
    """The parameter set the given parameters select; raises when none fits or a mandatory one is missing."""
    if not info.parameter_sets:
        return None
    names = {p.name for p in given}
    candidates = [s for s in info.parameter_sets if all(p.in_set(s) for p in given)]
    if not candidates:
        for a, b in combinations(given, 2):
            if not any(a.in_set(s) and b.in_set(s) for s in info.parameter_sets):
                raise _fail(info.name, f"parameters -{a.name} and -{b.name} are in different parameter sets")
        raise _fail(info.name, "no parameter set takes " + ", ".join(f"-{n}" for n in sorted(names)))

    def missing(set_name: str) -> list[str]:
        return [n for n in info.mandatory(set_name) if n not in names]

    def fail_missing(absent: list[str], set_name: str | None) -> ValidationError:
        plural = "s" if len(absent) > 1 else ""
        in_set = f" (parameter set {set_name})" if set_name and len(info.parameter_sets) > 1 else ""
        return _fail(info.name, f"missing mandatory parameter{plural} " + ", ".join(f"-{n}" for n in absent)
                     + in_set)

    chosen = candidates[0] if len(candidates) == 1 else info.default_parameter_set
    if chosen in candidates:
        assert chosen is not None
        if missing(chosen):
            raise fail_missing(missing(chosen), chosen)
        return chosen
    complete = [s for s in candidates if not missing(s)]
    if complete:
        return complete[0]
    common = [n for n in missing(candidates[0]) if all(n in missing(s) for s in candidates)]
    if common:
        raise fail_missing(common, None)
    # Without a default set PowerShell cannot pick one ("Parameter set cannot be resolved").
    options = sorted({missing(s)[0] for s in candidates})
    raise _fail(info.name, "cannot resolve the parameter set; give one of "
                + ", ".join(f"-{n}" for n in options))


def _check_security_pair(ref: Reference, info: CmdletInfo, params: Mapping[str, ParamValue]) -> None:
    if info.name not in ref.security_pair_cmdlets or "InboundSecurity" not in params:
        return
    inbound, outbound, note = params["InboundSecurity"], params.get("OutboundSecurity"), ""
    if outbound is None and info.name.startswith("New-"):
        # Set- keeps the rule's current value; New- gets the documented default.
        outbound = info.parameters["OutboundSecurity"].default
        note = f" (-OutboundSecurity defaults to {outbound})"
    if not (isinstance(inbound, str) and isinstance(outbound, str)):
        return
    if (inbound, outbound) not in ref.security_pairs:
        valid = ", ".join(f"{i}/{o}" for i, o in sorted(ref.security_pairs))
        raise _fail(info.name, f"-InboundSecurity {inbound} with -OutboundSecurity {outbound} is not a valid "
                    f"pair{note}; valid: {valid}")


def validate_call(call: CmdletCall, ref: Reference | None = None) -> None:
    """Check one call and its nested calls against the reference; raise at the first fault."""
    ref = ref or load_reference()
    info = ref.cmdlet(call.cmdlet)
    if info.name != call.cmdlet:
        raise ValidationError(f"cmdlet '{call.cmdlet}' must be written {info.name} "
                              "(allow-lists match exactly)")
    given = []
    for name, value in call.params.items():
        p = _param(ref, info, name)
        _check_value(ref, info, p, value)
        given.append(p)
    chosen = _resolve_set(info, given)
    if chosen == "GetAll" and info.name.split("-", 1)[0] in _SWEEPING_VERBS:
        selectors = [info.mandatory(s)[0] for s in info.parameter_sets if info.mandatory(s)][:2]
        raise _fail(info.name, "no selector: it would act on every object in the store (give "
                    + ", ".join(f"-{n}" for n in selectors) + ", ...)")
    _check_security_pair(ref, info, call.params)


def _strings(value: ParamValue | None) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i for i in items if isinstance(i, str)]


def _store(params: Mapping[str, ParamValue], store_key: str = "PolicyStore",
           session_key: str = "GPOSession") -> str:
    # A GPO session string stands for its GPO; absent both, cmdlets use PersistentStore.
    for key in (store_key, session_key):
        value = params.get(key)
        if isinstance(value, str):
            return value
    return DEFAULT_STORE


def validate_plan(calls: Iterable[CmdletCall], ref: Reference | None = None,
                  existing_sets: Mapping[str, set[str]] | None = None) -> None:
    """Validate each call, then check that every set a rule references exists in the rule's store.

    A set exists when an earlier call in the plan creates it (New-, Rename-, Copy-; Remove- deletes) in
    the same store, when it is the kind's default set GUID, or when ``existing_sets`` (store -> names
    already on the host) lists it. Store and set names compare case-insensitively (PowerShell's
    -PolicyStore is; for set names this is the lenient choice — a miss here is then a certain error).
    """
    ref = ref or load_reference()
    sets: dict[tuple[str, str], set[str]] = {}  # (store, kind) -> names, casefolded
    shown: dict[tuple[str, str], str] = {}  # (kind, name) -> store as written, for the hint
    known = {s.casefold(): {n.casefold() for n in names} for s, names in (existing_sets or {}).items()}
    for call in calls:
        validate_call(call, ref)
        params, store = call.params, _store(call.params)
        match = re.fullmatch(r"(New|Rename|Remove|Copy)-NetIPsec(\w+Set)", call.cmdlet)
        if match and match.group(2) in SET_KINDS:
            verb, kind = match.groups()
            names = _strings(params.get("Name"))
            if verb == "New" and params.get("Default") is True:
                names = [ref.default_set_names[kind]]
            if verb in ("Rename", "Remove"):
                sets.get((store.casefold(), kind), set()).difference_update(n.casefold() for n in names)
            if verb == "Rename":
                names = _strings(params.get("NewName"))
            if verb == "Copy":
                store = _store(params, "NewPolicyStore", "NewGPOSession") if (
                    "NewPolicyStore" in params or "NewGPOSession" in params) else store
                names = _strings(params.get("NewName")) or names
            if verb != "Remove":
                sets.setdefault((store.casefold(), kind), set()).update(n.casefold() for n in names)
                shown.update({(kind, n.casefold()): store for n in names})
        if call.cmdlet in _SET_USERS:
            _check_references(ref, call, store, sets, shown, known)


def _check_references(ref: Reference, call: CmdletCall, store: str, sets: Mapping[tuple[str, str], set[str]],
                      shown: Mapping[tuple[str, str], str], known: Mapping[str, set[str]]) -> None:
    rule = next((", ".join(_strings(call.params[k])) for k in ("IPsecRuleName", "Name", "DisplayName")
                 if k in call.params), "?")
    for kind in SET_KINDS:
        for name in _strings(call.params.get(kind)):
            folded = name.casefold()
            if (folded == ref.default_set_names[kind].casefold()
                    or folded in sets.get((store.casefold(), kind), ())
                    or folded in known.get(store.casefold(), ())):
                continue
            elsewhere = shown.get((kind, folded))
            extra = f"; this plan creates it in '{elsewhere}'" if elsewhere else ""
            raise ValidationError(f"{call.cmdlet} '{rule}': -{kind} '{name}' is not in policy store "
                                  f"'{store}' (sets must live in the rule's store{extra})")


def check_property_names(cmdlet: str, names: Iterable[str], ref: Reference | None = None) -> None:
    """Reject property names the objects of ``cmdlet`` do not have (or documents as ignored).

    PowerShell's Select-Object/Format-List silently yield empty values for unknown names, and our output
    is read by key in Python, so names must be exact (case included).
    """
    ref = ref or load_reference()
    info = ref.cmdlet(cmdlet)
    props, ignored = ref.output_properties(cmdlet), ref.ignored_properties(cmdlet)
    hints = ref.property_hints(cmdlet)
    for name in names:
        if name in props and name not in ignored:
            continue
        # Errata text like "no such property (X exist but ...)" reads as the parenthesis alone.
        hint = re.sub(r"^(no such property|does not exist)\s*", "", hints.get(name, "")).strip("() ")
        if re.fullmatch(r"\w+( / \w+)*", hint):
            hint = f"use {hint}"
        if name in ignored:
            hint = hint or "documented 'This field is ignored'"
            raise _fail(info.name, f"property '{name}' must not be read: {hint}")
        if not props:
            raise _fail(info.name, f"output properties are not documented; cannot check '{name}'")
        hint = hint or _did_you_mean(name, props).strip(" ()")
        raise _fail(info.name, f"no property '{name}'" + (f" ({hint})" if hint else ""))

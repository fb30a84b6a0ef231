"""The inventory: hosts, pairs, exemptions, crypto, auth, connection — parsed and checked before anything runs.

Every problem becomes one ``InputError`` line naming the file, the key path and what is wrong
(``inventory.toml: pairs[2].b: unknown host 'sqll01' (did you mean 'sql01'?)``). Secrets are never in the
file: credentials are named by environment variable and resolved into ``SecretStr`` only when needed.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from ..errors import InputError
from .crypto_lint import WeakName, refuse_weak

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ENV_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
SECRET_KEYS = {"password", "passwd", "secret", "psk", "pre_shared_key", "preshared_key", "token"}

Name = Annotated[str, Field(pattern=NAME_RE)]
EnvName = Annotated[str, Field(pattern=ENV_RE)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Model(BaseModel):
    # strict: TOML has types, so `max_minutes = "480"` is a mistake to report, not a string to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address") from None


IPAddress = Annotated[str, AfterValidator(_ip)]


class Controller(_Model):
    """Where ipsec-remote runs: its address is exempted on every host's WinRM ports. It may be a managed
    host's address (an admin working from a management server in the fleet)."""

    address: IPAddress


class Connection(_Model):
    scheme: Literal["https", "http"] = "https"
    port: Port | None = None  # default: 5986 for https, 5985 for http
    auth: Literal["kerberos", "negotiate", "ntlm", "certificate", "credssp", "basic"] = "negotiate"
    username: str | None = None  # not a secret; may also come from username_env
    username_env: EnvName | None = None
    password_env: EnvName | None = "IPSEC_REMOTE_PASSWORD"
    ca_bundle: str | None = None  # path, relative to the inventory file
    cert_validation: bool = True
    operation_timeout_s: Annotated[int, Field(ge=5, le=600)] = 30
    connect_timeout_s: Annotated[int, Field(ge=1, le=300)] = 15
    # Kerberos (auth kerberos, or negotiate when it picks Kerberos): a user name without a realm gets
    # "@<realm>"; the SPN asked for is <spn_service>/<the host's spn_hostname or its endpoint's host name>.
    realm: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$")] | None = None
    spn_service: Literal["HTTP", "WSMAN"] = "HTTP"
    # Kerberos delegation (forwardable TGT sent to the host): only for a second hop, off by default.
    delegate: bool = False
    # auth certificate: the client certificate mapped to a local account on every host, and its key.
    client_cert: str | None = None  # PEM paths, relative to the inventory file
    client_key: str | None = None

    @model_validator(mode="after")
    def _safe_transport(self) -> Connection:
        if self.auth == "credssp":
            # CredSSP "passes the user's full credentials to the server without any constraint"
            # (learn.microsoft.com/windows/win32/secauthn/credential-security-support-provider); the product
            # runs every cmdlet on the host it configures and needs no second hop (README: CredSSP).
            raise ValueError("credssp is refused: it hands your full credentials to every managed host and "
                             "ipsec-remote needs no second hop; use kerberos")
        if self.auth == "certificate" and not (self.client_cert and self.client_key):
            raise ValueError("auth 'certificate' needs client_cert and client_key (PEM files)")
        if self.auth == "basic" and self.scheme != "https":
            raise ValueError("Basic authentication is only allowed over https (it sends the password in clear)")
        if self.scheme == "http" and self.auth not in ("kerberos", "negotiate", "ntlm"):
            raise ValueError(f"auth '{self.auth}' over http has no message encryption; use https")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (5986 if self.scheme == "https" else 5985)


class Host(_Model):
    name: Name
    address: IPAddress
    endpoint: str | None = None  # WinRM URL; default https://<name>:<port>/wsman
    groups: list[Name] = []
    # Kerberos: the host name in the SPN when it differs from the endpoint's (an IP address or an alias).
    spn_hostname: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")] | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+(:\d+)?(/wsman)?$", v):
            raise ValueError(f"'{v}' is not a WinRM URL like https://host:5986/wsman")
        return v


class Exemption(_Model):
    """A host that must stay reachable in clear: domain controllers, DNS, DHCP, …"""

    name: Name
    address: IPAddress
    role: Literal["domain_controller", "dns", "dhcp", "other"] = "other"


class Pair(_Model):
    """Hosts that must talk IPsec: ``a``/``b`` name a host or ``group:NAME`` (cross product)."""

    a: str
    b: str
    protocol: Literal["Any", "TCP", "UDP"] = "Any"
    ports: list[Port] = []  # service ports on b; empty = all traffic between the two
    probe_port: Port = 445  # TCP port on b used to make traffic during verification

    @model_validator(mode="after")
    def _ports_need_protocol(self) -> Pair:
        if self.ports and self.protocol == "Any":
            raise ValueError("ports need protocol = 'TCP' or 'UDP'")
        return self


class MainModeProposal(_Model):
    # DES, MD5, DH1 (and DES3, DH2) are accepted here so that crypto_lint can refuse them with a reason.
    encryption: Literal["DES", "DES3", "AES128", "AES192", "AES256"] = "AES256"
    hash: Literal["MD5", "SHA1", "SHA256", "SHA384"] = "SHA256"
    key_exchange: Literal["DH1", "DH2", "DH14", "DH19", "DH20", "DH24"] = "DH19"


class QuickModeProposal(_Model):
    encapsulation: Literal["ESP", "AH", "AH,ESP"] = "ESP"
    encryption: Literal["None", "DES", "DES3", "AES128", "AES192", "AES256", "AESGCM128", "AESGCM192",
                        "AESGCM256"] = "AES256"
    esp_hash: Literal["None", "MD5", "SHA1", "SHA256", "SHA384", "AESGMAC128", "AESGMAC192", "AESGMAC256"] = (
        "SHA256"
    )
    ah_hash: Literal["None", "MD5", "SHA1", "SHA256", "SHA384", "AESGMAC128", "AESGMAC192", "AESGMAC256"] | None = (
        None
    )

    @field_validator("esp_hash", "ah_hash")
    @classmethod
    def _ipsec_integrity(cls, v: str | None) -> str | None:
        # SHA-384 is main mode only: IPsec's integrity algorithms (WFP IPSEC_AUTH_TYPE: MD5, SHA-1, SHA-256,
        # AES-GMAC) and the quick-mode SA's integrity list (MSFT_NetQuickModeSA) have no SHA-384, although
        # the cmdlet's HashAlgorithm enum accepts it (netsecurity-notes).
        if v == "SHA384":
            raise ValueError("SHA384 is not an IPsec (AH/ESP) integrity algorithm on Windows (main mode only); "
                             "use SHA256 or AESGMAC128/192/256")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> QuickModeProposal:
        if "AH" in self.encapsulation and self.ah_hash in (None, "None"):
            raise ValueError("encapsulation with AH needs ah_hash")
        if self.encapsulation == "ESP" and self.encryption == "None" and self.esp_hash == "None":
            raise ValueError("ESP with neither encryption nor esp_hash protects nothing")
        return self


class MainMode(_Model):
    proposals: Annotated[list[MainModeProposal], Field(min_length=1)] = [MainModeProposal()]
    max_minutes: Annotated[int, Field(ge=1, le=2879)] = 480  # 480 min: see windows-behaviour.md §2


class QuickMode(_Model):
    proposals: Annotated[list[QuickModeProposal], Field(min_length=1)] = [QuickModeProposal()]
    pfs_group: Literal["None", "DH1", "DH2", "DH14", "DH19", "DH20", "DH24", "SameAsMainMode"] = "None"


class Crypto(_Model):
    main_mode: MainMode = MainMode()
    quick_mode: QuickMode = QuickMode()
    # Weak choices crypto_lint refuses unless named here (accepting the risk knowingly), e.g. ["DH2"].
    allow_weak: list[WeakName] = []


class Auth(_Model):
    method: Literal["kerberos", "certificate", "psk"] = "kerberos"
    authority: str | None = None  # certificate: the issuing CA's distinguished name
    authority_type: Literal["Root", "Intermediate"] = "Root"
    signing: Literal["RSA", "ECDSA256", "ECDSA384"] | None = None
    psk_env: EnvName | None = None
    allow_psk_for_testing: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Auth:
        if self.method == "certificate" and not self.authority:
            raise ValueError("certificate authentication needs authority (the CA's distinguished name)")
        if self.method == "psk":
            if not self.allow_psk_for_testing:
                raise ValueError("pre-shared keys are refused (set allow_psk_for_testing = true for a lab)")
            if not self.psk_env:
                raise ValueError("psk needs psk_env (the environment variable holding the key)")
        return self


class Policy(_Model):
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")] = "ipsec-remote"
    store: str = "PersistentStore"  # or 'domain.example\GPO Name'
    # With a GPO store: the domain controller (an exemption with role domain_controller) the GPO is edited
    # on, in one GPO session. From a member server the edit would be a second hop (model/gpo.py).
    gpo_writer: Name | None = None
    # IKEv1 by default: it is the same on Server 2016-2025 and supports Kerberos, certificates and PSK.
    # 'Default' means IKEv1+AuthIP up to Server 2022 but IKEv1+IKEv2 on Server 2025 (New-NetIPsecRule
    # -KeyModule text), so a mixed fleet would negotiate differently; IKEv2 takes certificates only.
    key_module: Literal["IKEv1", "IKEv2", "AuthIP", "Default"] = "IKEv1"
    profile: Literal["Any", "Domain", "Private", "Public"] = "Any"
    winrm_ports: Annotated[list[Port], Field(min_length=1)] = [5985, 5986]
    # Server isolation: besides the per-peer rules, each paired host gets one rule for all other inbound
    # traffic (remote Any), promoted to Require once every pair of the host is — the exemptions (DCs,
    # DNS, DHCP, the controller's WinRM path) keep precedence over it.
    server_isolation: bool = False
    # apply turns on failure auditing of IPsec Main Mode and Quick Mode (auditpol, by GUID) so that failed
    # negotiations leave Security-log events to diagnose from; rollback restores what each host had.
    enable_ipsec_audit: bool = True
    # observe turns on success and failure auditing of Filtering Platform Connection (events 5156/5157: every
    # connection, short ones and UDP peers included) for its window; rollback restores what each host had.
    # Off by default: Microsoft calls its success events "very high volume".
    enable_connection_audit: bool = False

    @field_validator("store")
    @classmethod
    def _store(cls, v: str) -> str:
        if v == "PersistentStore" or re.match(r"^[A-Za-z0-9.-]+\\[^\\]+$", v):
            return v
        raise ValueError(f"'{v}' is neither PersistentStore nor a GPO written as 'domain\\GPO name'")


class Inventory(_Model):
    controller: Controller
    connection: Connection = Connection()
    policy: Policy = Policy()
    crypto: Crypto = Crypto()
    auth: Auth = Auth()
    hosts: Annotated[list[Host], Field(min_length=1)]
    exemptions: list[Exemption] = []
    pairs: list[Pair] = []
    # Lockout rehearsals in the lab only: leave these exemptions out of what is applied. Never in production.
    test_only_skip_exemptions: list[Literal["controller", "domain_controller"]] = []

    # Look-ups by host name and by group, built on first use (the model is frozen): a 10,000-host fleet
    # asks for hosts by name hundreds of thousands of times per command.
    _by_name: dict[str, Host] | None = PrivateAttr(default=None)
    _by_group: dict[str, list[str]] | None = PrivateAttr(default=None)

    def host(self, name: str) -> Host:
        # Read through __pydantic_private__ itself: a private attribute read goes through pydantic's
        # __getattr__, which cost more than the look-up (millions of calls in a 1,000-host proof).
        found = self.__pydantic_private__.get("_by_name") if self.__pydantic_private__ else None
        if found is None:
            by_name: dict[str, Host] = {}
            for h in self.hosts:
                by_name.setdefault(h.name, h)
            self._by_name = found = by_name
        return found[name]

    def expand(self, ref: str) -> list[str]:
        """Host names a pair end refers to (a host name or ``group:NAME``)."""
        if ref.startswith("group:"):
            if self._by_group is None:
                by_group: dict[str, list[str]] = {}
                for h in self.hosts:
                    for g in dict.fromkeys(h.groups):
                        by_group.setdefault(g, []).append(h.name)
                self._by_group = by_group
            return list(self._by_group.get(ref[len("group:"):], []))
        return [ref]

    def expanded_pairs(self) -> list[tuple[str, str, Pair]]:
        """Each (a, b, pair) once, in inventory order; a host never pairs with itself."""
        seen: set[frozenset[str]] = set()
        out: list[tuple[str, str, Pair]] = []
        for pair in self.pairs:
            for a in self.expand(pair.a):
                for b in self.expand(pair.b):
                    key = frozenset((a, b))
                    if a != b and key not in seen:
                        seen.add(key)
                        out.append((a, b, pair))
        return out


def resolve_secret(env_name: str) -> SecretStr:
    """Read a secret from the environment; the value never leaves a SecretStr except at the transport."""
    value = os.environ.get(env_name)
    if value is None:
        raise InputError("environment", env_name, "is not set (it should hold the credential)")
    return SecretStr(value)


# ---- loading -------------------------------------------------------------------------------------------


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as data, or one ``InputError`` line naming the file."""
    label = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(label, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        # utf-8-sig: Notepad and PowerShell 5.1's Out-File write a byte order mark first.
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8-sig"))
        return data
    except UnicodeDecodeError:
        raise InputError(label, "", "is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(label, "", f"invalid TOML: {exc}") from None


def load_inventory(path: str | Path) -> Inventory:
    return parse_inventory(load_toml(path), str(path))


def parse_inventory(data: Mapping[str, Any], label: str = "inventory.toml") -> Inventory:
    _refuse_literal_secrets(data, label, "")
    try:
        inv = Inventory.model_validate(data)
    except PydanticValidationError as exc:
        raise locate(exc, label) from None
    _check_references(inv, label)
    refuse_weak(inv, label)
    return inv


def _refuse_literal_secrets(node: Any, label: str, path: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if str(key).lower() in SECRET_KEYS and isinstance(value, str):
                raise InputError(
                    label, here,
                    "literal secrets are not allowed in the inventory; name an environment variable "
                    f"instead ({key}_env = \"VAR_NAME\")",
                )
            _refuse_literal_secrets(value, label, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _refuse_literal_secrets(item, label, f"{path}[{i}]")


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("literal[", "function-")) or "[" in str(part):
            continue  # pydantic's union/validator tags, not keys
        else:
            out += f".{part}" if out else str(part)
    return out


def locate(exc: PydanticValidationError, label: str) -> InputError:
    """The first pydantic error as one located line."""
    err = exc.errors()[0]
    loc = _format_loc(tuple(err["loc"]))
    kind = err["type"]
    if kind == "extra_forbidden":
        return InputError(label, loc, "unknown key")
    if kind == "missing":
        return InputError(label, loc, "required key is missing")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return InputError(label, loc, f"{err['input']!r} is not one of {expected}")
    if kind == "string_pattern_mismatch":
        if err.get("ctx", {}).get("pattern") == ENV_RE:
            return InputError(label, loc, f"{err['input']!r} is not an environment variable name")
        return InputError(label, loc, f"{err['input']!r} is not a valid name (letters, digits, '.', '_', '-')")
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = msg.replace("Input should be", "must be").replace(" after validation, not 0", "")
    msg = msg.replace("List should have", "must have")
    return InputError(label, loc, msg)


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_references(inv: Inventory, label: str) -> None:
    names: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for i, host in enumerate(inv.hosts):
        if host.name.lower() in names:
            raise InputError(label, f"hosts[{i}].name", f"duplicate host name '{host.name}'")
        names[host.name.lower()] = host.name
        if host.address in addresses:
            raise InputError(label, f"hosts[{i}].address",
                             f"duplicate address {host.address} (also {addresses[host.address]})")
        addresses[host.address] = f"host '{host.name}'"
    seen_ex: set[str] = set()
    for i, ex in enumerate(inv.exemptions):
        if ex.address in addresses:
            raise InputError(label, f"exemptions[{i}].address",
                             f"{ex.address} overlaps managed {addresses[ex.address]}; a managed host "
                             "cannot also be exempt")
        if ex.address == inv.controller.address:
            raise InputError(label, f"exemptions[{i}].address",
                             "is the controller's address (it is exempted on the WinRM ports already)")
        if ex.address in seen_ex or ex.name.lower() in names:
            raise InputError(label, f"exemptions[{i}]", f"duplicate exemption '{ex.name}' / {ex.address}")
        seen_ex.add(ex.address)
    groups = sorted({g for h in inv.hosts for g in h.groups})
    host_names = [h.name for h in inv.hosts]
    for i, pair in enumerate(inv.pairs):
        for end in ("a", "b"):
            ref: str = getattr(pair, end)
            if ref.startswith("group:"):
                group = ref[len("group:"):]
                if group not in groups:
                    raise InputError(label, f"pairs[{i}].{end}",
                                     f"unknown group '{group}'{_did_you_mean(group, groups)}")
            elif ref not in host_names:
                raise InputError(label, f"pairs[{i}].{end}",
                                 f"unknown host '{ref}'{_did_you_mean(ref, host_names)}")
        if pair.a == pair.b and not pair.a.startswith("group:"):
            raise InputError(label, f"pairs[{i}]", f"pairs host '{pair.a}' with itself")
        if not any(a != b for a in inv.expand(pair.a) for b in inv.expand(pair.b)):
            raise InputError(label, f"pairs[{i}]", "expands to no pair of two different hosts")
        _check_probe(pair, label, f"pairs[{i}]")
    for a, b, pair in inv.expanded_pairs():
        versions = {ipaddress.ip_address(inv.host(h).address).version for h in (a, b)}
        if len(versions) > 1:
            # A transport rule's addresses and the SAs it negotiates are per IP version (windows-behaviour
            # §6: "Separate SAs for IPv4 and IPv6"): one IPv4 and one IPv6 end can never talk IPsec.
            raise InputError(label, f"pairs[{inv.pairs.index(pair)}]",
                             f"pairs {a} ({inv.host(a).address}) with {b} ({inv.host(b).address}): "
                             "one end is IPv4 and the other IPv6")
    port = inv.connection.effective_port
    if port not in inv.policy.winrm_ports:
        # The controller's exemption covers policy.winrm_ports only: its own WinRM traffic on another port
        # would fall under the pair rules and be cut off at Require.
        where = "connection.port" if inv.connection.port is not None else "policy.winrm_ports"
        raise InputError(label, where, f"the controller connects on port {port}, which policy.winrm_ports "
                                       f"({', '.join(map(str, inv.policy.winrm_ports))}) does not exempt")
    if inv.policy.key_module == "IKEv2" and inv.auth.method != "certificate":
        # New-NetIPsecRule -KeyModule: IKEv2 is "Not supported with Kerberos, PSK, or NTLM".
        raise InputError(label, "policy.key_module", "IKEv2 supports certificate authentication only")
    if inv.auth.method == "kerberos" and not any(e.role == "domain_controller" for e in inv.exemptions):
        raise InputError(label, "exemptions",
                         "Kerberos authentication needs the domain controllers listed as exemptions "
                         "(role = \"domain_controller\"), or IKE cannot get tickets once Require is on")


def _check_probe(pair: Pair, label: str, where: str) -> None:
    """Verification makes TCP traffic to ``probe_port`` (Test-NetConnection -Port): it must match the rule."""
    if pair.protocol == "UDP":
        raise InputError(label, f"{where}.protocol", "a UDP pair cannot be verified: the verification probe "
                                                     "is TCP (Test-NetConnection -Port)")
    if pair.ports and pair.probe_port not in pair.ports:
        raise InputError(label, f"{where}.probe_port",
                         f"{pair.probe_port} is not one of the pair's ports ({', '.join(map(str, pair.ports))}): "
                         "the probe's traffic would not match the pair's rule")


def check_run(inv: Inventory, label: str, *, lab: bool, sends_psk: bool) -> None:
    """Checks that depend on how the inventory is used, run before any host is contacted."""
    if inv.test_only_skip_exemptions and not lab:
        raise InputError(label, "test_only_skip_exemptions",
                         "drops the domain controller / controller exemptions: allowed with --lab only")
    if sends_psk and inv.auth.method == "psk" and inv.auth.psk_env and inv.auth.psk_env not in os.environ:
        raise InputError(label, "auth.psk_env", f"environment variable {inv.auth.psk_env} is not set "
                                                "(it should hold the pre-shared key)")

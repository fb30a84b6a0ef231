"""Inventory → the NetSecurity objects each host should have (pure).

Per managed host, in the order they must exist:

1. exemption rules (``None/None``) for domain controllers, DNS, DHCP and other listed hosts, and for the
   controller's WinRM path — before anything could require authentication;
2. the main-mode crypto set, the quick-mode crypto set and the phase-1 auth set;
3. one main-mode rule binding them to the host's peers (``New-NetIPsecRule`` has no ``-MainModeCryptoSet``:
   main mode binds through a main-mode rule or the default set — netsecurity-notes §2);
4. one transport-mode connection security rule per peer, ``Request/Request`` until promoted.

Names are deterministic (``<group>-<what>``) so re-runs find their own objects; every object carries the
owner ``-Group``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from .calls import CmdletCall, ParamValue, SecretRef
from .inventory import Host, Inventory, Pair


class Kind(str, Enum):
    """Object kinds in creation order (deletion runs backwards)."""

    EXEMPTION = "exemption"
    MM_CRYPTO_SET = "mm_crypto_set"
    QM_CRYPTO_SET = "qm_crypto_set"
    P1_AUTH_SET = "p1_auth_set"
    MM_RULE = "mm_rule"
    RULE = "rule"

    @property
    def rank(self) -> int:
        return list(Kind).index(self)


@dataclass(frozen=True)
class DesiredObject:
    kind: Kind
    name: str
    params: Mapping[str, ParamValue]  # the New-* parameters, without -PolicyStore
    summary: str  # one human line, e.g. "exempt domain controllers 10.10.1.5"


@dataclass(frozen=True)
class Security:
    inbound: str = "Request"
    outbound: str = "Request"


REQUEST = Security()

ROLE_TITLES = {
    "domain_controller": ("dc", "domain controllers"),
    "dns": ("dns", "DNS servers"),
    "dhcp": ("dhcp", "DHCP servers"),
    "other": ("other", "exempt hosts"),
}


def pair_rule_name(group: str, a: str, b: str) -> str:
    return f"{group}-pair-{a}-{b}"


ISOLATION = "*"  # the peer key of a host's server-isolation rule in security maps: (host, ISOLATION)


def isolation_rule_name(group: str) -> str:
    return f"{group}-isolation"


@dataclass(frozen=True)
class HostDesired:
    host: Host
    objects: list[DesiredObject] = field(default_factory=list)


def desired_objects(
    inv: Inventory, security: Mapping[tuple[str, str], Security] | None = None
) -> dict[str, HostDesired]:
    """Desired objects per host name. ``security`` holds promoted pairs' settings (default Request/Request)."""
    security = security or {}
    peers: dict[str, list[tuple[str, Pair, bool]]] = {h.name: [] for h in inv.hosts}
    rule_names: dict[tuple[str, str], str] = {}
    for a, b, pair in inv.expanded_pairs():
        peers[a].append((b, pair, False))  # a is the client side of the pair's ports
        peers[b].append((a, pair, True))  # b serves the pair's ports
        rule_names[(a, b)] = rule_names[(b, a)] = pair_rule_name(inv.policy.group, a, b)

    result: dict[str, HostDesired] = {}
    # The exemptions and the sets are the same on every host: built once and shared (DesiredObject is
    # frozen; nobody writes to its params) — rebuilding them per host was most of a 1,000-host plan's time.
    exemptions, sets = _exemptions(inv), _sets(inv)
    for host in inv.hosts:
        objects = list(exemptions)
        if host.address == inv.controller.address and "controller" not in inv.test_only_skip_exemptions:
            objects.append(_controller_outbound(inv))
        if peers[host.name]:
            objects += sets
            objects.append(_mm_rule(inv, host, [inv.host(p).address for p, _, _ in peers[host.name]]))
            for peer_name, pair, serves in peers[host.name]:
                key = (host.name, peer_name)
                a_b = key if key in security else (peer_name, host.name)
                objects.append(
                    _pair_rule(inv, inv.host(peer_name), pair, serves, rule_names[key],
                               security.get(a_b, REQUEST))
                )
            if inv.policy.server_isolation:
                objects.append(_isolation_rule(inv, security.get((host.name, ISOLATION), REQUEST)))
        result[host.name] = HostDesired(host, objects)
    return result


def _common(inv: Inventory, name: str, display: str) -> dict[str, ParamValue]:
    return {"Name": name, "DisplayName": f"{inv.policy.group}: {display}", "Group": inv.policy.group}


def _rule_params(inv: Inventory, name: str, display: str) -> dict[str, ParamValue]:
    # Rules are selected by -IPsecRuleName (its alias -Name is not used: plans spell canonical names).
    # -Enabled has no documented default on New-NetIPsecRule: it is always passed.
    return {"IPsecRuleName": name, "DisplayName": f"{inv.policy.group}: {display}", "Group": inv.policy.group,
            "Enabled": "True"}


def _exemptions(inv: Inventory) -> list[DesiredObject]:
    group = inv.policy.group
    objects: list[DesiredObject] = []
    for role, (short, title) in ROLE_TITLES.items():
        if role in inv.test_only_skip_exemptions:
            continue
        addresses = sorted((e.address for e in inv.exemptions if e.role == role), key=_addr_key)
        if not addresses:
            continue
        params = _rule_params(inv, f"{group}-exempt-{short}", f"exempt {title}")
        params.update({"Mode": "Transport", "InboundSecurity": "None", "OutboundSecurity": "None",
                       "RemoteAddress": addresses, "Profile": inv.policy.profile})
        objects.append(DesiredObject(Kind.EXEMPTION, f"{group}-exempt-{short}", params,
                                     f"exempt {title} {', '.join(addresses)}"))
    if "controller" not in inv.test_only_skip_exemptions:
        ports = [str(p) for p in inv.policy.winrm_ports]
        params = _rule_params(inv, f"{group}-exempt-controller", "exempt the controller's WinRM path")
        params.update({"Mode": "Transport", "InboundSecurity": "None", "OutboundSecurity": "None",
                       "RemoteAddress": [inv.controller.address], "Protocol": "TCP", "LocalPort": ports,
                       "Profile": inv.policy.profile})
        objects.append(DesiredObject(Kind.EXEMPTION, f"{group}-exempt-controller", params,
                                     f"exempt controller {inv.controller.address} on TCP {','.join(ports)}"))
    return objects


def _controller_outbound(inv: Inventory) -> DesiredObject:
    """On the managed host the controller runs on: its own WinRM traffic to every managed host, exempt.

    Exempting only the target's inbound side is not enough there: the host's own rules toward a peer
    (outbound Require, or server isolation) would otherwise cover the controller's connections. Its own
    address is included: whether IPsec applies to traffic to the host's own address is undocumented (the
    lab's own_address_traffic switch), and the exemption is right either way.
    """
    group = inv.policy.group
    ports = [str(p) for p in inv.policy.winrm_ports]
    addresses = sorted({h.address for h in inv.hosts}, key=_addr_key)
    params = _rule_params(inv, f"{group}-exempt-controller-out", "exempt the controller's outbound WinRM path")
    params.update({"Mode": "Transport", "InboundSecurity": "None", "OutboundSecurity": "None",
                   "RemoteAddress": addresses, "Protocol": "TCP", "RemotePort": ports,
                   "Profile": inv.policy.profile})
    return DesiredObject(Kind.EXEMPTION, f"{group}-exempt-controller-out", params,
                         f"exempt this host's (the controller's) WinRM traffic to TCP {','.join(ports)}")


def _sets(inv: Inventory) -> list[DesiredObject]:
    group = inv.policy.group
    mm = inv.crypto.main_mode
    mm_props: list[CmdletCall] = [
        CmdletCall("New-NetIPsecMainModeCryptoProposal",
                   {"Encryption": p.encryption, "Hash": p.hash, "KeyExchange": p.key_exchange})
        for p in mm.proposals
    ]
    mm_params = _common(inv, f"{group}-mm", "main mode crypto")
    mm_params.update({"Proposal": mm_props, "MaxMinutes": mm.max_minutes})

    qm = inv.crypto.quick_mode
    qm_props: list[CmdletCall] = []
    for q in qm.proposals:
        params: dict[str, ParamValue] = {"Encapsulation": q.encapsulation}
        if "ESP" in q.encapsulation:
            params.update({"Encryption": q.encryption, "ESPHash": q.esp_hash})
        if q.ah_hash and "AH" in q.encapsulation:
            params["AHHash"] = q.ah_hash
        qm_props.append(CmdletCall("New-NetIPsecQuickModeCryptoProposal", params))
    qm_params = _common(inv, f"{group}-qm", "quick mode crypto")
    qm_params.update({"Proposal": qm_props, "PerfectForwardSecrecyGroup": qm.pfs_group})

    p1_params = _common(inv, f"{group}-p1", f"phase 1 {inv.auth.method}")
    p1_params["Proposal"] = [_auth_proposal(inv)]
    return [
        DesiredObject(Kind.MM_CRYPTO_SET, f"{group}-mm", mm_params,
                      "main mode " + ", ".join(f"{p.encryption}/{p.hash}/{p.key_exchange}" for p in mm.proposals)),
        DesiredObject(Kind.QM_CRYPTO_SET, f"{group}-qm", qm_params,
                      "quick mode " + ", ".join(f"{q.encapsulation} {q.encryption}/{q.esp_hash}"
                                                for q in qm.proposals) + f", PFS {qm.pfs_group}"),
        DesiredObject(Kind.P1_AUTH_SET, f"{group}-p1", p1_params, f"phase 1 auth: machine {inv.auth.method}"),
    ]


def _auth_proposal(inv: Inventory) -> CmdletCall:
    auth = inv.auth
    if auth.method == "kerberos":
        return CmdletCall("New-NetIPsecAuthProposal", {"Machine": True, "Kerberos": True})
    if auth.method == "certificate":
        params: dict[str, ParamValue] = {"Machine": True, "Cert": True, "Authority": auth.authority or "",
                                         "AuthorityType": auth.authority_type}
        if auth.signing:
            params["Signing"] = auth.signing
        return CmdletCall("New-NetIPsecAuthProposal", params)
    return CmdletCall("New-NetIPsecAuthProposal",
                      {"Machine": True, "PreSharedKey": SecretRef(auth.psk_env or "")})


def _mm_rule(inv: Inventory, host: Host, peer_addresses: list[str]) -> DesiredObject:
    group = inv.policy.group
    params = _common(inv, f"{group}-mm-peers", "main mode toward peers")
    addresses = sorted(set(peer_addresses), key=_addr_key)
    # -Enabled has no documented default on New-NetIPsecMainModeRule: it is always passed.
    params.update({"Enabled": "True", "RemoteAddress": addresses, "MainModeCryptoSet": f"{group}-mm",
                   "Phase1AuthSet": f"{group}-p1", "Profile": inv.policy.profile})
    return DesiredObject(Kind.MM_RULE, f"{group}-mm-peers", params, f"main mode rule toward {', '.join(addresses)}")


def _pair_rule(inv: Inventory, peer: Host, pair: Pair, serves: bool, name: str, sec: Security) -> DesiredObject:
    group = inv.policy.group
    params = _rule_params(inv, name, f"{pair.a} <-> {pair.b}" if "group:" not in pair.a + pair.b
                          else f"peer {peer.name}")
    params.update({"Mode": "Transport", "InboundSecurity": sec.inbound, "OutboundSecurity": sec.outbound,
                   "RemoteAddress": [peer.address]})
    ports_text = "all traffic"
    if pair.protocol != "Any":
        params["Protocol"] = pair.protocol
        ports_text = pair.protocol
        if pair.ports:
            ports = [str(p) for p in pair.ports]
            params["LocalPort" if serves else "RemotePort"] = ports
            ports_text += f" {'local' if serves else 'remote'} port {','.join(ports)}"
    params.update({"KeyModule": inv.policy.key_module, "QuickModeCryptoSet": f"{group}-qm",
                   "Phase1AuthSet": f"{group}-p1", "Profile": inv.policy.profile})
    return DesiredObject(Kind.RULE, name, params,
                         f"transport {sec.inbound}/{sec.outbound} with {peer.name} {peer.address}, {ports_text}")


def _isolation_rule(inv: Inventory, sec: Security) -> DesiredObject:
    group = inv.policy.group
    name = isolation_rule_name(group)
    params = _rule_params(inv, name, "server isolation (all other inbound traffic)")
    # No -RemoteAddress: Any. More specific rules (peers, exemptions) take precedence over it.
    params.update({"Mode": "Transport", "InboundSecurity": sec.inbound, "OutboundSecurity": sec.outbound,
                   "KeyModule": inv.policy.key_module, "QuickModeCryptoSet": f"{group}-qm",
                   "Phase1AuthSet": f"{group}-p1", "Profile": inv.policy.profile})
    return DesiredObject(Kind.RULE, name, params, f"server isolation {sec.inbound}/{sec.outbound} for any other peer")


def _addr_key(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))

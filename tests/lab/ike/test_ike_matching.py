"""Rule matching and precedence (windows-behaviour.md §1, §8)."""

from __future__ import annotations

import pytest

from ipsec_remote.lab.ike import (
    AmbiguousPrecedence,
    Assumptions,
    CsRule,
    Flow,
    HostPolicy,
    MmRule,
    effective_rule,
)
from ipsec_remote.lab.ike.matching import select_mm_rule

A = "10.0.0.10"
B = "10.0.0.20"


def host(*rules: CsRule, **kw: object) -> HostPolicy:
    return HostPolicy("a", (A,), cs_rules=rules, local_subnets=("10.0.0.0/24",), **kw)  # type: ignore[arg-type]


def flow(proto: str = "TCP", sport: int = 50000, dport: int = 445, src: str = A, dst: str = B) -> Flow:
    return Flow("a", src, dst, proto, sport, dport)


REQUIRE_SUBNET = CsRule("require-subnet", inbound_security="Require", outbound_security="Require",
                        remote_address=("10.0.0.0/24",))
REQUEST_SUBNET = CsRule("request-subnet", remote_address=("10.0.0.0/24",))
EXEMPT_B = CsRule("exempt-b", inbound_security="None", outbound_security="None", remote_address=(B,))
REQUIRE_SMB = CsRule("require-smb", inbound_security="Require", outbound_security="Require",
                     remote_address=("10.0.0.0/24",), protocol="TCP", remote_port=("445",))
REQUEST_B = CsRule("request-b", remote_address=(B,))


@pytest.mark.parametrize(
    ("rules", "f", "direction", "expected"),
    [
        pytest.param((REQUIRE_SUBNET, EXEMPT_B), flow(), "outbound", "exempt-b", id="exemption-beats-broader-require"),
        pytest.param((EXEMPT_B, REQUIRE_SUBNET), flow(), "outbound", "exempt-b", id="exemption-order-independent"),
        pytest.param((REQUIRE_SMB, CsRule("exempt-subnet", inbound_security="None", outbound_security="None",
                                          remote_address=("10.0.0.0/16",))),
                     flow(), "outbound", "exempt-subnet", id="exemption-regardless-of-specificity"),
        pytest.param((REQUEST_SUBNET, REQUIRE_SMB), flow(), "outbound", "require-smb", id="port-rule-more-specific"),
        pytest.param((REQUEST_SUBNET, REQUIRE_SMB), flow(dport=80), "outbound", "request-subnet",
                     id="port-rule-not-matching"),
        pytest.param((REQUIRE_SUBNET, REQUEST_B), flow(), "outbound", "request-b", id="narrower-address-wins"),
        pytest.param((REQUIRE_SUBNET,), flow(dst="10.0.1.20"), "outbound", None, id="address-outside"),
        pytest.param((CsRule("off", enabled=False),), flow(), "outbound", None, id="disabled-rule"),
        pytest.param((CsRule("udp", protocol="UDP"),), flow(), "outbound", None, id="protocol-mismatch"),
        pytest.param((CsRule("p17", protocol="17"),), flow(proto="UDP", dport=53), "outbound", "p17",
                     id="protocol-number"),
        pytest.param((CsRule("range", protocol="TCP", remote_port=("400-500",)),), flow(), "outbound", "range",
                     id="port-range"),
        pytest.param((CsRule("iprange", remote_address=("10.0.0.15-10.0.0.25",)),), flow(), "outbound",
                     "iprange", id="address-range"),
        pytest.param((CsRule("subnet", remote_address=("LocalSubnet",)),), flow(), "outbound", "subnet",
                     id="localsubnet-keyword"),
        pytest.param((CsRule("intranet", remote_address=("Intranet",)),), flow(), "outbound", None,
                     id="unresolved-keyword"),
        pytest.param((CsRule("v6", remote_address=("fd00::/64",)),), flow(), "outbound", None,
                     id="ipv6-rule-ipv4-flow"),
        # Inbound: the host is the destination, so its local port is the flow's destination port.
        pytest.param((CsRule("srv", protocol="TCP", local_port=("445",)),), flow(src=B, dst=A), "inbound",
                     "srv", id="inbound-local-port"),
        pytest.param((CsRule("srv", protocol="TCP", local_port=("445",)),), flow(), "outbound", None,
                     id="outbound-local-port-is-source"),
        pytest.param((REQUIRE_SUBNET,), flow(proto="ICMPv4", sport=0, dport=0), "outbound", "require-subnet",
                     id="icmp-not-exempt-by-default"),
        pytest.param((REQUIRE_SUBNET,), flow(proto="UDP", sport=500, dport=500), "outbound", None,
                     id="ike-ports-auto-exempt"),
        pytest.param((REQUIRE_SUBNET,), flow(proto="UDP", sport=68, dport=67), "outbound", None,
                     id="dhcp-default-exemption"),
    ],
)
def test_effective_rule(rules: tuple[CsRule, ...], f: Flow, direction: str, expected: str | None) -> None:
    rule = effective_rule(host(*rules), f, direction)  # type: ignore[arg-type]
    assert (rule.name if rule else None) == expected


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, "require-subnet"),
        ({"firewall_enabled": False}, None),
        ({"mpssvc_running": False}, None),
        ({"bfe_running": False}, None),
        ({"exemptions": frozenset({"Icmp"})}, None),
    ],
    ids=["active", "firewall-off", "mpssvc-stopped", "bfe-stopped", "icmp-exempt"],
)
def test_host_state_disables_rules(kw: dict[str, object], expected: str | None) -> None:
    f = flow(proto="ICMPv4", sport=0, dport=0)
    rule = effective_rule(host(REQUIRE_SUBNET, **kw), f, "outbound")
    assert (rule.name if rule else None) == expected


SAME_SCOPE_REQUIRE = CsRule("same-require", inbound_security="Require", outbound_security="Require",
                            remote_address=("10.0.0.0/24",))
SAME_SCOPE_INREQ = CsRule("same-require-in", inbound_security="Require", outbound_security="Request",
                          remote_address=("10.0.0.0/24",))


@pytest.mark.parametrize(
    ("tie_break", "direction", "expected"),
    [
        ("most_restrictive", "outbound", "same-require"),
        ("least_restrictive", "outbound", "request-subnet"),
        ("first_listed", "outbound", "request-subnet"),
        ("most_restrictive", "inbound", "same-require"),
    ],
)
def test_tie_break_assumption(tie_break: str, direction: str, expected: str) -> None:
    h = host(REQUEST_SUBNET, SAME_SCOPE_REQUIRE)
    f = flow() if direction == "outbound" else flow(src=B, dst=A)
    a = Assumptions(tie_break=tie_break)  # type: ignore[arg-type]
    rule = effective_rule(h, f, direction, a)  # type: ignore[arg-type]
    assert rule is not None and rule.name == expected


def test_tie_break_uses_direction_then_other_direction() -> None:
    # Require/Request vs Require/Require: outbound Require wins outbound; inbound both Require → other side.
    h = host(SAME_SCOPE_INREQ, SAME_SCOPE_REQUIRE)
    out = effective_rule(h, flow(), "outbound")
    inb = effective_rule(h, flow(src=B, dst=A), "inbound")
    assert out is not None and out.name == "same-require"
    assert inb is not None and inb.name == "same-require"


def test_tie_break_error() -> None:
    with pytest.raises(AmbiguousPrecedence):
        effective_rule(host(REQUEST_SUBNET, SAME_SCOPE_REQUIRE), flow(), "outbound", Assumptions(tie_break="error"))


def test_equal_rules_same_action_no_error() -> None:
    twin = CsRule("twin", remote_address=("10.0.0.0/24",))
    rule = effective_rule(host(REQUEST_SUBNET, twin), flow(), "outbound", Assumptions(tie_break="error"))
    assert rule is not None and rule.name == "request-subnet"


def test_without_address_size_tie_break_equal_criteria_is_a_tie() -> None:
    a = Assumptions(address_size_breaks_ties=False, tie_break="most_restrictive")
    rule = effective_rule(host(REQUEST_B, REQUIRE_SUBNET), flow(), "outbound", a)
    assert rule is not None and rule.name == "require-subnet"


def test_mm_rule_selection_narrowest_wins() -> None:
    wide = MmRule("mm-wide", remote_address=("10.0.0.0/16",))
    narrow = MmRule("mm-narrow", remote_address=("10.0.0.0/24",))
    off = MmRule("mm-off", enabled=False, remote_address=(B,))
    h = HostPolicy("a", (A,), mm_rules=(wide, narrow, off))
    chosen = select_mm_rule(h, A, B, Assumptions())
    assert chosen is not None and chosen.name == "mm-narrow"
    assert select_mm_rule(h, A, "192.168.1.1", Assumptions()) is None


def test_endpoints_match_as_written_or_mirrored() -> None:
    """Assumptions.cs_rule_endpoints: a rule written from a's side (a local, b remote, b's port) meets
    b's side of the flow only when endpoints are mirrored (ports swap with the addresses)."""
    from ipsec_remote.lab.ike.matching import effective_rule, select_mm_rule
    from ipsec_remote.lab.ike.model import Assumptions, CsRule, Flow, HostPolicy, MmRule

    rule = CsRule("a-to-b", local_address=("10.0.0.1",), remote_address=("10.0.0.2",), protocol="TCP",
                  remote_port=("1433",))
    mm = MmRule("mm", local_address=("10.0.0.1",), remote_address=("10.0.0.2",))
    flow = Flow("a", "10.0.0.1", "10.0.0.2", "TCP", 49152, 1433)
    a = HostPolicy("a", ("10.0.0.1",), cs_rules=(rule,), mm_rules=(mm,))
    b = HostPolicy("b", ("10.0.0.2",), cs_rules=(rule,), mm_rules=(mm,))
    as_written, mirrored = Assumptions(), Assumptions(cs_rule_endpoints="mirrored")
    assert effective_rule(a, flow, "outbound", as_written) == rule
    assert effective_rule(b, flow, "inbound", as_written) is None
    assert effective_rule(b, flow, "inbound", mirrored) == rule
    assert select_mm_rule(b, "10.0.0.2", "10.0.0.1", as_written) is None
    assert select_mm_rule(b, "10.0.0.2", "10.0.0.1", mirrored) == mm
    reverse = Flow("b", "10.0.0.2", "10.0.0.1", "TCP", 49152, 1433)  # b's port is not 1433 here
    assert effective_rule(b, reverse, "outbound", mirrored) is None

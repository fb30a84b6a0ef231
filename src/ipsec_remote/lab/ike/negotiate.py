"""Decide what happens to one flow between two hosts (windows-behaviour.md §3–§6).

Order follows an IKE exchange: rules → keying service → keying module → MM crypto → MM authentication →
(AuthIP extended mode) → QM crypto/PFS.  The outcome after a failure is documented (§3): outbound Require
discards the traffic; inbound Require discards clear text (audit 4963); Request on both sides = negotiation
discovery, the flow stays clear; a secured flow never downgrades while its SA lives.
Not modelled: a boundary (Request-inbound) responder starting IKE back toward a clear-text sender
(FW-boundary-zone) — the documented delivery outcome, clear text accepted, is the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ipsec_remote.lab.ike.auth import (
    authenticate,
    first_common_method,
    module_candidates,
    offered_modules,
    phase1_auth,
    phase2_auth,
)
from ipsec_remote.lab.ike.matching import effective_rule, protocol_number, select_mm_rule
from ipsec_remote.lab.ike.model import (
    CsRule,
    Event,
    Flow,
    HostPolicy,
    NegotiatedModule,
    NegotiationContext,
    Outcome,
)
from ipsec_remote.lab.ike.proposals import (
    BUILTIN_MM,
    BUILTIN_QM,
    MODE_CODES,
    MmChoice,
    choose_mm,
    choose_qm,
    mm_sa_crypto,
    pfs_compatible,
    qm_sa_crypto,
)
from ipsec_remote.lab.ike.sa_table import QmKey, SaTable


@dataclass
class _Run:
    """Mutable scratch for one negotiation."""

    i: HostPolicy
    r: HostPolicy
    flow: Flow
    ctx: NegotiationContext
    now: float
    table: SaTable
    rule_i: CsRule | None
    rule_r: CsRule | None
    events: list[Event] = field(default_factory=list)
    module: NegotiatedModule | None = None

    @property
    def out_i(self) -> str:
        return self.rule_i.outbound_security if self.rule_i else "None"

    @property
    def in_r(self) -> str:
        return self.rule_r.inbound_security if self.rule_r else "None"

    def both(self, event_id: int, message: str) -> None:
        self.events.append(Event(self.i.name, event_id, message))
        self.events.append(Event(self.r.name, event_id, message))


def negotiate(
    initiator: HostPolicy,
    responder: HostPolicy,
    flow: Flow,
    ctx: NegotiationContext | None = None,
    now: float = 0.0,
    sa_table: SaTable | None = None,
) -> Outcome:
    """What happens to ``flow`` (sent by ``initiator`` to ``responder``) at time ``now``.

    ``sa_table`` is consulted for live SAs and receives new ones; without it a fresh table is used, so the
    call has no lasting effect.  Each side's rule: outbound on the initiator, inbound on the responder,
    local/remote mirrored (matching.endpoints).
    """
    ctx = ctx or NegotiationContext()
    a = ctx.assumptions
    table = sa_table if sa_table is not None else SaTable(assumptions=a)
    run = _Run(
        initiator,
        responder,
        flow,
        ctx,
        now,
        table,
        effective_rule(initiator, flow, "outbound", a),
        effective_rule(responder, flow, "inbound", a),
    )
    if run.out_i == "None":
        # No rule, exemption, or Request-in/None-out: the initiator sends clear text without IKE.
        return _failed(run, "initiator does not secure this flow")
    assert run.rule_i is not None
    if (reused := _reuse(run)) is not None:
        return reused
    if not initiator.ikeext_running:
        # Event 5453 = negotiation failed because IKEEXT is not started (netsecurity.json events).
        run.events.append(Event(initiator.name, 5453, "IPsec negotiation failed: IKEEXT is not started"))
        return _failed(run, f"IKEEXT not running on {initiator.name}")
    if run.in_r == "None":
        msg = f"no IPsec policy on {responder.name} for this flow"
        run.events.append(Event(initiator.name, 4653, f"MM negotiation failed: {msg}"))
        if a.responder_without_rule_logs_4653:
            run.events.append(Event(responder.name, 4653, f"MM negotiation failed: {msg}"))
        return _failed(run, msg)
    assert run.rule_r is not None
    if not responder.ikeext_running:
        run.events.append(Event(responder.name, 5453, "IPsec negotiation failed: IKEEXT is not started"))
        if a.ikeext_down_peer_logs_4653:
            run.events.append(Event(initiator.name, 4653, f"MM negotiation failed: no response from {responder.name}"))
        return _failed(run, f"IKEEXT not running on {responder.name}")
    mm_i = table.find_mm(initiator.name, flow.src_address, flow.dst_address, now)
    mm_r = table.find_mm(responder.name, flow.dst_address, flow.src_address, now)
    if mm_i is not None and mm_r is not None:
        run.module = _module_from_code(run, mm_i)
        return _quick_mode(run, mm_i, mm_r, new_mm=False)
    return _main_mode(run)


def _main_mode(run: _Run) -> Outcome:
    a = run.ctx.assumptions
    assert run.rule_i is not None and run.rule_r is not None
    src, dst = run.flow.src_address, run.flow.dst_address
    mmr_i = select_mm_rule(run.i, src, dst, a)
    mmr_r = select_mm_rule(run.r, dst, src, a)
    p1_i, p1_r = phase1_auth(run.i, run.rule_i, mmr_i, run.ctx), phase1_auth(run.r, run.rule_r, mmr_r, run.ctx)
    p2_i, p2_r = phase2_auth(run.i, run.rule_i), phase2_auth(run.r, run.rule_r)
    modules = module_candidates(
        offered_modules(run.i, run.rule_i, p1_i, p2_i),
        offered_modules(run.r, run.rule_r, p1_r, p2_r),
        p1_i,
        p1_r,
        bool(p2_i or p2_r),
        run.ctx,
    )
    if not modules:
        return _mm_failed(run, "no common keying module supports the configured authentication")
    run.module = module = modules[0]
    # MM crypto: rule-matched MM set, else the default set ({…FE1}), else built-in (§2, §8).
    set_i = (mmr_i.mm_crypto if mmr_i else None) or run.i.default_mm_crypto or BUILTIN_MM
    set_r = (mmr_r.mm_crypto if mmr_r else None) or run.r.default_mm_crypto or BUILTIN_MM
    method = first_common_method(module, p1_i, p1_r)
    choice = choose_mm(set_i, set_r, module, method is not None and method.method in ("Ntlm", "Anonymous"))
    if choice is None:
        return _mm_failed(run, f"no common main mode proposal ({module})")
    first = authenticate(module, run.i, run.r, p1_i, p1_r, run.ctx)
    if not first.ok:
        return _mm_failed(run, f"authentication failed: {first.reason}")
    second_ids: tuple[str, str] = ("", "")
    if p2_i or p2_r:
        # AuthIP extended mode: the same "common method" rule as phase 1; a side without a phase-2 set has
        # nothing in common with one that has it [inference].
        second = authenticate(module, run.i, run.r, p2_i, p2_r, run.ctx)
        if not second.ok:
            run.both(4983, f"Extended Mode negotiation failed: {second.reason}")
            return _failed(run, f"phase-2 authentication failed: {second.reason}")
        second_ids = (_identity(run.i, second.method), _identity(run.r, second.method))
    mm_i = _mm_record(run, run.i, run.r, src, dst, choice, set_i.max_sessions, first.method, second_ids)
    mm_r = _mm_record(run, run.r, run.i, dst, src, choice, set_r.max_sessions, first.method, second_ids[::-1])
    if p2_i or p2_r:
        run.both(a.em_success_event, "IPsec Main Mode and Extended Mode security associations were established")
    else:
        event_id = 4651 if first.used_certificate else 4650  # 4651 = a certificate was used
        run.both(event_id, f"IPsec Main Mode security association established ({module})")
    return _quick_mode(run, mm_i, mm_r, new_mm=True)


def _quick_mode(run: _Run, mm_i: dict[str, object], mm_r: dict[str, object], new_mm: bool) -> Outcome:
    assert run.rule_i is not None and run.rule_r is not None and run.module is not None
    a = run.ctx.assumptions
    src, dst = run.flow.src_address, run.flow.dst_address
    keep_mm = a.keep_mm_sa_after_qm_failure
    if new_mm and keep_mm:
        _store_mm(run, mm_i, mm_r)
    set_i = run.rule_i.qm_crypto or run.i.default_qm_crypto or BUILTIN_QM
    set_r = run.rule_r.qm_crypto or run.r.default_qm_crypto or BUILTIN_QM
    proposal = choose_qm(set_i, set_r, run.module)
    reason = ""
    if proposal is None:
        reason = "no common quick mode proposal"
    elif not pfs_compatible(set_i, set_r):
        reason = f"PFS group mismatch ({set_i.pfs_group} vs {set_r.pfs_group})"
    if proposal is None or reason:
        run.both(4654, f"IPsec Quick Mode negotiation failed: {reason}")
        return _failed(run, reason, mm_i if keep_mm else None, mm_r if keep_mm else None)
    if new_mm and not keep_mm:
        _store_mm(run, mm_i, mm_r)
    crypto = qm_sa_crypto(proposal, set_i.pfs_group)
    qm_i = _qm_record(run, run.rule_i, src, dst, run.flow.src_port, run.flow.dst_port, mm_i, crypto)
    qm_r = _qm_record(run, run.rule_r, dst, src, run.flow.dst_port, run.flow.src_port, mm_r, crypto)
    key_i, key_r = _qm_keys(run)
    # Inside a main mode still negotiating, the QM SA is ready with it (ready_at: the MM SA's, or now).
    ready = run.now + run.ctx.negotiation_s if new_mm else max(run.now, run.table.ready_at(run.i.name, src, dst))
    waits = ready if ready > run.now else None  # None: listed from the start, as without the model
    run.table.add_qm(run.i.name, run.r.name, src, dst, key_i, qm_i, run.now, run.i.max_sa_idle_time_s, waits)
    run.table.add_qm(run.r.name, run.i.name, dst, src, key_r, qm_r, run.now, run.r.max_sa_idle_time_s, waits)
    run.both(5451, "IPsec Quick Mode security association established")
    return Outcome(
        delivered=True,
        secured=True,
        reason="secured",
        events=tuple(run.events),
        key_module=run.module,
        initiator_rule=run.rule_i.name,
        responder_rule=run.rule_r.name,
        mm_sa_initiator=mm_i,
        mm_sa_responder=mm_r,
        qm_sa_initiator=qm_i,
        qm_sa_responder=qm_r,
        ready_at=ready,
        clear_first=_clear_first(run),
    )


def _clear_first(run: _Run) -> bool:
    """Negotiation discovery sends the packet in clear while IKE runs; the responder accepts it unless its
    inbound is Require (WFP-negotiation-discovery-transport-mode). Outbound Require drops clear text until
    the negotiation completes (WFP-regular-transport-mode)."""
    return run.out_i == "Request" and run.in_r != "Require"


def _reuse(run: _Run) -> Outcome | None:
    """A live QM SA on both ends carries the flow: no negotiation, no events, no downgrade (§3)."""
    if run.rule_r is None or run.in_r == "None":
        return None
    src, dst = run.flow.src_address, run.flow.dst_address
    key_i, key_r = _qm_keys(run)
    qm_i = run.table.find_qm(run.i.name, src, dst, key_i, run.now)
    qm_r = run.table.find_qm(run.r.name, dst, src, key_r, run.now)
    mm_i = run.table.find_mm(run.i.name, src, dst, run.now)
    mm_r = run.table.find_mm(run.r.name, dst, src, run.now)
    if qm_i is None or qm_r is None or mm_i is None or mm_r is None:
        return None
    run.table.touch(run.i.name, src, dst, key_i, run.now)
    run.table.touch(run.r.name, dst, src, key_r, run.now)
    assert run.rule_i is not None
    return Outcome(
        delivered=True,
        secured=True,
        reason="secured (existing SA)",
        key_module=_module_from_code(run, mm_i),
        initiator_rule=run.rule_i.name,
        responder_rule=run.rule_r.name,
        mm_sa_initiator=mm_i,
        mm_sa_responder=mm_r,
        qm_sa_initiator=qm_i,
        qm_sa_responder=qm_r,
        reused=True,
        ready_at=max(run.now, run.table.ready_at(run.i.name, src, dst, key_i)),
        clear_first=_clear_first(run),
    )


def _failed(
    run: _Run, reason: str, mm_i: dict[str, object] | None = None, mm_r: dict[str, object] | None = None
) -> Outcome:
    """Documented fallback (§3): outbound Require discards; else the initiator sends clear text, which an
    inbound-Require responder drops (4963); Request on both = negotiation discovery, clear delivery."""
    delivered, why = True, f"clear text: {reason}"
    if run.out_i == "Require":
        delivered, why = False, f"dropped by {run.i.name} (outbound Require): {reason}"
    elif run.in_r == "Require":
        delivered, why = False, f"dropped by {run.r.name} (inbound Require): {reason}"
        run.events.append(
            Event(run.r.name, 4963, "IPsec dropped an inbound clear text packet that should have been secured")
        )
    return Outcome(
        delivered=delivered,
        secured=False,
        reason=why,
        events=tuple(run.events),
        key_module=run.module,
        initiator_rule=run.rule_i.name if run.rule_i else None,
        responder_rule=run.rule_r.name if run.rule_r else None,
        mm_sa_initiator=mm_i,
        mm_sa_responder=mm_r,
    )


def _mm_failed(run: _Run, reason: str) -> Outcome:
    run.both(4653, f"IPsec Main Mode negotiation failed: {reason}")
    return _failed(run, reason)


def _store_mm(run: _Run, mm_i: dict[str, object], mm_r: dict[str, object]) -> None:
    src, dst = run.flow.src_address, run.flow.dst_address
    ready = run.now + run.ctx.negotiation_s if run.ctx.negotiation_s > 0 else None
    run.table.add_mm(run.i.name, run.r.name, src, dst, mm_i, run.now, run.i.max_sa_idle_time_s, ready)
    run.table.add_mm(run.r.name, run.i.name, dst, src, mm_r, run.now, run.r.max_sa_idle_time_s, ready)


def _qm_keys(run: _Run) -> tuple[QmKey, QmKey]:
    """QM SA identity per host (``Assumptions.qm_sa_granularity``): the rule pair, plus the 5-tuple for
    "flow"; written from each host's own view so a reverse flow over the same rules finds it."""
    names_i = (run.rule_i.name if run.rule_i else "", run.rule_r.name if run.rule_r else "")
    names_r = names_i[::-1]
    if run.ctx.assumptions.qm_sa_granularity == "rule":
        return names_i, names_r
    proto = protocol_number(run.flow.protocol)
    f = run.flow
    return (*names_i, proto, f.src_port, f.dst_port), (*names_r, proto, f.dst_port, f.src_port)


def _module_from_code(run: _Run, mm: dict[str, object]) -> NegotiatedModule:
    """Key module of an existing MM SA, read back through the (assumed) KeyModule code table."""
    codes = dict(run.ctx.assumptions.sa_key_module_codes)
    modules: tuple[NegotiatedModule, ...] = ("IKEv1", "AuthIP", "IKEv2")
    return next((m for m in modules if codes.get(m) == mm["KeyModule"]), "IKEv1")


def _identity(host: HostPolicy, method: str | None) -> str:
    """LocalFirstId/RemoteFirstId text.  Only "first authentication local identity" is documented
    (MSFT_NetMainModeSA); the lab's display format (DOMAIN\\NAME$ / CN=name / empty) is illustrative."""
    if method in ("Kerberos", "Ntlm") and host.domain:
        return f"{host.domain.split('.')[0].upper()}\\{host.name.upper()}$"
    if method == "Certificate":
        return f"CN={host.name}"
    return ""


def _mm_record(
    run: _Run,
    me: HostPolicy,
    peer: HostPolicy,
    local: str,
    remote: str,
    choice: MmChoice,
    max_sessions: int,
    method: str | None,
    second_ids: tuple[str, str],
) -> dict[str, object]:
    """An MSFT_NetMainModeSA as ``me`` lists it (property names/codes: netsecurity.json)."""
    assert run.module is not None
    codes = dict(run.ctx.assumptions.sa_key_module_codes)
    return {
        "Name": str(run.table.new_id()),
        "LocalEndpoint": local,
        "RemoteEndpoint": remote,
        "LocalFirstId": _identity(me, method),
        "RemoteFirstId": _identity(peer, method),
        "LocalSecondId": second_ids[0],
        "RemoteSecondId": second_ids[1],
        "KeyModule": codes[run.module],
        **mm_sa_crypto(choice),
        "MaxQMSAs": max_sessions,  # [inference] the MM set's -MaxSessions (0 = unlimited)
    }


def _qm_record(
    run: _Run,
    rule: CsRule,
    local: str,
    remote: str,
    local_port: int,
    remote_port: int,
    mm: dict[str, object],
    crypto: dict[str, object],
) -> dict[str, object]:
    """An MSFT_NetQuickModeSA as one host lists it; ports 0 = all ports (class doc)."""
    sa_id = run.table.new_id()
    if run.ctx.assumptions.qm_sa_granularity == "flow":
        proto = protocol_number(run.flow.protocol) or 0
        ports = (local_port, remote_port) if proto in (6, 17) else (0, 0)
    else:
        proto = protocol_number(rule.protocol) or 0
        ports = (_single_port(rule.local_port), _single_port(rule.remote_port)) if proto in (6, 17) else (0, 0)
    return {
        "Name": str(sa_id),
        "QmSaId": sa_id,
        "MmSaId": int(str(mm["Name"])),
        "LocalEndpoint": local,
        "RemoteEndpoint": remote,
        "IpProtocol": proto,
        "LocalPort": ports[0],
        "RemotePort": ports[1],
        **crypto,
        "EncapsulationMode": MODE_CODES[rule.mode],
    }


def _single_port(entries: tuple[str, ...]) -> int:
    return int(entries[0]) if len(entries) == 1 and entries[0].strip().isdigit() else 0

"""Pure model of Windows IKE/AuthIP negotiation between two lab hosts (no I/O, no threads).

Entry points: ``effective_rule`` (which CS rule governs a flow on a host), ``negotiate`` (what happens to a
flow between two hosts), ``SaTable`` (the fleet's MM/QM SAs).  Inputs are the frozen dataclasses in
``model``; every undocumented behaviour is a field of ``Assumptions``.
"""

from ipsec_remote.lab.ike.matching import AmbiguousPrecedence, effective_rule
from ipsec_remote.lab.ike.model import (
    Assumptions,
    AuthProposal,
    CsRule,
    Event,
    Flow,
    HostPolicy,
    MmCryptoSet,
    MmProposal,
    MmRule,
    NegotiationContext,
    Outcome,
    QmCryptoSet,
    QmProposal,
)
from ipsec_remote.lab.ike.negotiate import negotiate
from ipsec_remote.lab.ike.sa_table import SaTable

__all__ = [
    "AmbiguousPrecedence",
    "Assumptions",
    "AuthProposal",
    "CsRule",
    "Event",
    "Flow",
    "HostPolicy",
    "MmCryptoSet",
    "MmProposal",
    "MmRule",
    "NegotiationContext",
    "Outcome",
    "QmCryptoSet",
    "QmProposal",
    "SaTable",
    "effective_rule",
    "negotiate",
]

"""The Windows host model of the lab: one simulated Windows Server host's state and its cmdlets.

``LabHost(HostConfig(...))`` is a ``runtime.ScriptHost``; ``host.active_policy()`` is the read-only view
the network/IKE model consumes (``policy.py``); ``host.snapshot()`` is the ``lab inspect --json`` shape.
"""

from .config import HostAssumptions, HostConfig
from .network import Network, NoNetwork, ProbeResult
from .policy import CsRuleView, HostPolicyView, MmRuleView, ServiceState, SetView
from .state import LabHost
from .system import HostEvent
from .tasks import ScheduledTask

__all__ = [
    "CsRuleView", "HostAssumptions", "HostConfig", "HostEvent", "HostPolicyView", "LabHost", "MmRuleView", "Network",
    "NoNetwork", "ProbeResult", "ScheduledTask", "ServiceState", "SetView",
]

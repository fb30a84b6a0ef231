"""The Windows host model of the lab: one simulated Windows Server host's state and its cmdlets.

* ``LabHost(HostConfig(...), network=..., clock=...)`` is a ``runtime.ScriptHost`` (``name``,
  ``run_pipeline`` through the lab engine over ``host.commands``); ``run_script(text, params)`` runs text.
* State: ``stores`` (PersistentStore, GPO stores, computed ActiveStore/RSOP), ``services``, ``files``,
  ``tasks``, ``events`` (``add_event``), ``calls`` (ordered NetSecurity call log), ``main_mode_sas`` /
  ``quick_mode_sas`` (filled by the network model; ``sa_listener`` hears Remove-NetIPsec*SA).
* Hooks: ``due_tasks(now)`` / ``run_task(task)`` for the fleet's timer; ``network`` (``Network`` protocol)
  for Test-NetConnection; ``active_policy()`` → ``HostPolicyView`` for the IKE model; ``snapshot()`` for
  ``lab inspect --json``.
* ``HostConfig`` says how the host differs from a fresh Server 2022 box; ``HostAssumptions`` names every
  undocumented default the model had to choose.
"""

from .config import HostAssumptions, HostConfig
from .network import Network, NoNetwork, ProbeResult
from .policy import CsRuleView, HostPolicyView, MmRuleView, ServiceState, SetView
from .state import LabHost
from .system import HostEvent
from .tasks import ScheduledTask

__all__ = [
    "CsRuleView", "HostAssumptions", "HostConfig", "HostEvent", "HostPolicyView", "LabHost", "MmRuleView",
    "Network", "NoNetwork", "ProbeResult", "ScheduledTask", "ServiceState", "SetView",
]

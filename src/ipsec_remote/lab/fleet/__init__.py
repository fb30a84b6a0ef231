"""The lab fleet: lab hosts from an inventory, their WinRM endpoints, the shared network and faults.

``Fleet(load_fleet_spec(inventory), load_faults(path, spec)).start()`` runs it in this process;
``runner.serve`` adds ``lab.json`` and the control endpoint; ``python -m ipsec_remote.lab.fleet`` is the
detached lab process ``ipsec-remote lab up --detach`` starts.
"""

from .faults import Faults, HostFaults, load_faults
from .fleet import Fleet, FleetOptions
from .network import FleetNetwork, NetworkOptions
from .spec import FleetSpec, HostSpec, LabConfigError, load_fleet_spec

__all__ = [
    "Faults", "Fleet", "FleetNetwork", "FleetOptions", "FleetSpec", "HostFaults", "HostSpec", "LabConfigError",
    "NetworkOptions", "load_faults", "load_fleet_spec",
]

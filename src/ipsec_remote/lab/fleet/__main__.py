"""``python -m ipsec_remote.lab.fleet INVENTORY [--faults FILE] [--rtt-ms N]``: the detached lab process.

``ipsec-remote lab up --detach`` starts this in its own session; it runs until ``lab down`` (control
endpoint) or SIGTERM. Problems go to stderr, which ``lab up`` redirects to ``.ipsec-remote/lab.log``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ... import gcpolicy
from .fleet import FleetOptions
from .kdc import KdcError
from .runner import serve
from .spec import LabConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ipsec_remote.lab.fleet")
    parser.add_argument("inventory", type=Path)
    parser.add_argument("--faults", type=Path)
    parser.add_argument("--rtt-ms", type=int)
    parser.add_argument("--sa-idle-s", type=float)  # default: each host's MaxSAIdleTimeSeconds
    parser.add_argument("--auth", default="default",
                        choices=("default", "basic", "ntlm", "kerberos", "certificate"))
    args = parser.parse_args(argv)
    # stderr is lab.log: lab bugs (a failing pipeline or timer) must leave a trace there.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The fleet's state lives as long as the process: full GC collections must not walk it again and again
    # (seconds-long pauses of the WinRM loop on a big fleet; gcpolicy.py).
    gcpolicy.freeze_after_full_collections()
    try:
        serve(args.inventory, args.faults, FleetOptions(rtt_ms=args.rtt_ms, sa_idle_s=args.sa_idle_s,
                                                                auth=args.auth))
    except LabConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KdcError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make mutation` checks the pure modules against the unit tests alone (tools/mutation.py sets
IPSEC_REMOTE_MUTATION_TESTS=unit for that group): the in-process tests reach the pure code too, but cost
seconds each, and mutmut would run them for every mutant of every function they touch."""

from __future__ import annotations

import os

collect_ignore_glob = ["test_*.py"] if os.environ.get("IPSEC_REMOTE_MUTATION_TESTS") == "unit" else []

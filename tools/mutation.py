"""`make mutation`: mutmut over the pure core and the orchestration, then the two scores.

mutmut 3 reads its configuration from pyproject.toml ([tool.mutmut]: the modules to mutate and the fast
tests to run). It runs each mutant against only the tests that reached the mutated function when it
collected its statistics, so the in-process and unit tests run, never the end-to-end ones.

    python tools/mutation.py                 # both groups (long: thousands of mutants)
    python tools/mutation.py --group pure    # one group
    python tools/mutation.py --report        # only the scores of what mutants/ already holds
    python tools/mutation.py --group orchestration --sample 20   # every 20th mutant (by name): an estimate
    python tools/mutation.py --recheck       # resume, and re-run the survivors (after adding tests)

A second run resumes: it checks only the mutants not checked yet (mutmut keeps results in mutants/).

The score of a group is killed / (killed + survived + no tests + suspicious), over the mutants checked;
timeouts count as killed (mutmut's own reading: the mutant changed behaviour), as does a mutant that
the type checker would catch. Prints one line per module and per group — with the 95 % Wilson interval of
the score when only a sample was checked (``--sample``: every N-th mutant of each module, by name) — and
writes mutants/mutation-scores.json. Exit 1 when a group checked in full is below its target.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Per group: the target score, the modules, and the tests mutmut may choose from for them (the pure modules
# against the unit tests; the orchestration against the unit and in-process tests).
GROUPS: dict[str, tuple[float, list[str]]] = {
    "pure": (90.0, ["plan/render", "plan/planner", "ops/verify", "model/inventory", "model/desired",
                    "remote/hoststate", "model/reference"]),
    "orchestration": (75.0, ["ops/proof", "ops/rollback", "ops/confirmed", "ops/status", "ops/promote",
                             "ops/apply", "ops/batches", "ops/firstread"]),
}
# mutmut's exit codes of a checked mutant (mutmut/stats.py): 1 and 3 killed, 0 survived, 5/33 no tests,
# 24/36/152/255/-24 timeout, 37 caught by the type checker, 34 skipped; None = not checked yet.
KILLED = {1, 3, 24, 36, 152, 255, -24, 37}
SKIPPED = {34, None}


def module_name(module: str) -> str:
    return "ipsec_remote." + module.replace("/", ".")


def _meta(module: str) -> Path:
    return ROOT / "mutants" / "src" / "ipsec_remote" / f"{module}.py.meta"


TESTS = {"pure": "unit", "orchestration": "all"}
# Tests that read a module's source text (inspect.getsource): under mutants/ that text holds every mutant's
# strings as well ("XXCipherAlgorithmXX", "CIPHERALGORITHM"), so they fail before any mutant runs and stop
# mutmut's statistics. They check the source, not behaviour: nothing a mutant changes at run time.
READS_SOURCE_TEXT = [
    "tests/unit/test_hoststate_verify.py::test_scripts_and_checks_use_documented_sa_property_names",
]


def generate() -> None:
    """Create (and name) the mutants without running any test: a first sampled run needs their names."""
    code = ("import os\n"
            "from mutmut.__main__ import (copy_also_copy_files, copy_src_dir, create_mutants,\n"
            "    set_mutant_under_test, setup_source_paths, store_lines_covered_by_tests)\n"
            "set_mutant_under_test('mutant_generation')\n"
            "os.makedirs('mutants', exist_ok=True)\n"
            "copy_src_dir(); copy_also_copy_files(); setup_source_paths(); store_lines_covered_by_tests()\n"
            "create_mutants(1)\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def sampled(codes: dict[str, int | None], sample: int, at_least: int) -> list[str]:
    """Every ``sample``-th mutant by name; with ``at_least``, every (k * ``sample``)-th for the largest k
    that still leaves ``at_least`` mutants of the module (a thinner, still systematic, sample of the big
    modules: a subset of the ``sample`` one, so what was checked for it counts)."""
    names = sorted(codes)
    step = max(1, sample)
    if at_least:
        while len(names[::step + max(1, sample)]) >= at_least:
            step += max(1, sample)
    return names[::step]


def _stats_group() -> Path:
    return ROOT / "mutants" / "mutmut-stats.group"


def run(group: str, children: int, sample: int, recheck: bool, at_least: int = 0,
        only: list[str] | None = None) -> None:
    mutmut = [str(Path(sys.executable).parent / "mutmut"), "run", "--max-children", str(children)]
    modules = [m for m in GROUPS[group][1] if not only or m in only]
    deselect = " ".join(f"--deselect {t}" for t in READS_SOURCE_TEXT)
    env = {**os.environ, "IPSEC_REMOTE_MUTATION_TESTS": TESTS[group],
           "PYTEST_ADDOPTS": (os.environ.get("PYTEST_ADDOPTS", "") + " " + deselect).strip()}
    # Each group collects its own statistics (which tests reach which function) from its own tests; a second
    # run of the same group lets mutmut update them (new tests, changed functions) instead of starting over.
    if not _stats_group().exists() or _stats_group().read_text() != group:
        (ROOT / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    if not all(_meta(m).exists() for m in modules):
        generate()  # a fresh machine: the mutants and their names first
    _stats_group().write_text(group)
    names = []
    for m in modules:
        codes = json.loads(_meta(m).read_text())["exit_code_by_key"]
        chosen = sampled(codes, sample, at_least)
        names += [k for k in chosen if codes[k] is None or (recheck and codes[k] not in KILLED)]
    if not names:
        print(f"{group}: every mutant already checked (--recheck runs the survivors again)")
        return
    print("+", " ".join(mutmut), f"<{len(names)} mutant names or patterns of {group}>", flush=True)
    subprocess.run([*mutmut, *names], cwd=ROOT, env=env, check=False)


def wilson(killed: int, checked: int, z: float = 1.96) -> list[float] | None:
    """The 95 % Wilson interval of a score measured on ``checked`` mutants (a sample: every N-th mutant by
    name stands in for the module), in percent; None when nothing was checked."""
    if not checked:
        return None
    p = killed / checked
    centre = (p + z * z / (2 * checked)) / (1 + z * z / checked)
    half = z * math.sqrt(p * (1 - p) / checked + z * z / (4 * checked * checked)) / (1 + z * z / checked)
    return [round(100.0 * max(0.0, centre - half), 1), round(100.0 * min(1.0, centre + half), 1)]


def scores(sample: int = 1, at_least: int = 0) -> dict[str, object]:
    out: dict[str, object] = {}
    for group, (target, modules) in GROUPS.items():
        total = {"killed": 0, "survived": 0, "unchecked": 0}
        per_module = {}
        for module in modules:
            meta = _meta(module)
            codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
            if sample > 1 or at_least:  # the sample's mutants only (others checked earlier are left out)
                keep = set(sampled(codes, sample, at_least))
                codes = {k: (c if k in keep else None) for k, c in codes.items()}
            killed = sum(1 for c in codes.values() if c in KILLED)
            unchecked = sum(1 for c in codes.values() if c in SKIPPED)
            survived = len(codes) - killed - unchecked
            survivors = sorted(k for k, c in codes.items() if c not in KILLED and c not in SKIPPED)
            checked = killed + survived
            per_module[module] = {"mutants": len(codes), "killed": killed, "survived": survived,
                                  "unchecked": unchecked,
                                  "score": round(100.0 * killed / checked, 1) if checked else None,
                                  "ci95": wilson(killed, checked), "survivors": survivors}
            total["killed"] += killed
            total["survived"] += survived
            total["unchecked"] += unchecked
        checked = total["killed"] + total["survived"]
        out[group] = {"target": target, **total,
                      "score": round(100.0 * total["killed"] / checked, 1) if checked else None,
                      "ci95": wilson(total["killed"], checked), "modules": per_module}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", choices=sorted(GROUPS), action="append")
    parser.add_argument("--report", action="store_true", help="only report what mutants/ holds")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--recheck", action="store_true",
                        help="run the survivors of an earlier run again too (after tests were added)")
    parser.add_argument("--sample", type=int, default=1, metavar="N",
                        help="check every N-th mutant of each module only (an estimate; the rest stay unchecked)")
    parser.add_argument("--at-least", type=int, default=0, metavar="K",
                        help="with --sample N: per module, every (k*N)-th mutant for the largest k that leaves at "
                             "least K (a subset of the 1-in-N sample; thins the big modules)")
    parser.add_argument("--only", action="append", metavar="MODULE",
                        help="run only these modules of the group (e.g. ops/apply); the report covers all")
    args = parser.parse_args()
    if not args.report:
        for group in args.group or list(GROUPS):
            run(group, args.max_children, args.sample, args.recheck, args.at_least, args.only)
    result = scores(args.sample, args.at_least)
    (ROOT / "mutants").mkdir(exist_ok=True)
    (ROOT / "mutants" / "mutation-scores.json").write_text(json.dumps(result, indent=1))
    below = False
    for group, data in result.items():
        assert isinstance(data, dict)
        for module, m in data["modules"].items():
            print(f"  {module:20} {m['killed']:5} killed {m['survived']:5} survived {m['unchecked']:5} unchecked"
                  f"  score {m['score']}" + (f" (95 % CI {m['ci95'][0]}–{m['ci95'][1]})" if m["ci95"] else ""))
        complete = data["unchecked"] == 0 and data["killed"] + data["survived"] > 0
        ci = data["ci95"]
        print(f"{group}: {data['score']} % killed (target {data['target']} %)"
              + (f", 95 % CI {ci[0]}–{ci[1]} %" if ci and not complete else "")
              + ("" if complete else f", {data['unchecked']} mutants not checked"))
        below |= complete and data["score"] is not None and data["score"] < data["target"]
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())

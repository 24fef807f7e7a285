"""Mutation testing helpers (run on demand, never by pytest or CI; see docs/mutation.md).

    python bench/mutation_scores.py sample gis.analyses.plans 150   # a seeded sample of names
    python bench/mutation_scores.py scores                          # per module, from mutants/
    python bench/mutation_scores.py survivors gis.analyses.plans    # names of the survivors

mutmut 3 writes each module's verdicts to ``mutants/<path>.py.meta`` (JSON, exit code per
mutant, read with mutmut's own table ``mutmut.stats.status_by_exit_code``: killed, survived,
no tests (no selected test runs the mutated function: counted as surviving), timeout, ...).
A sample is drawn with ``random.Random(19)`` from the module's mutant names in sorted order,
so the same command names the same mutants.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

MUTANTS = Path(__file__).resolve().parents[1] / "mutants"
SEED = 19


def _meta(module: str) -> dict:
    return json.loads((MUTANTS / (module.replace(".", "/") + ".py.meta")).read_text())


def _modules() -> list[str]:
    return sorted(str(p.relative_to(MUTANTS))[:-len(".py.meta")].replace("/", ".")
                  for p in MUTANTS.glob("gis/**/*.py.meta"))


def sample(module: str, n: int) -> list[str]:
    names = sorted(_meta(module)["exit_code_by_key"])
    return sorted(random.Random(SEED).sample(names, min(n, len(names))))


def _status(code) -> str:
    """mutmut's own reading of an exit code (killed, survived, no tests, timeout, ...)."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def scores() -> list[dict]:
    """Per module: mutants, how many ran, and the score (killed or timed out) / (those plus
    survived and not covered by any test); suspicious results are left out of the score."""
    rows = []
    for module in _modules():
        status = [_status(c) for c in _meta(module)["exit_code_by_key"].values()]
        if not status:
            continue
        killed = sum(s in ("killed", "caught by type check") for s in status)
        timeout = sum(s == "timeout" for s in status)
        survived = sum(s == "survived" for s in status)
        untested = sum(s == "no tests" for s in status)
        run = killed + timeout + survived + untested
        rows.append({"module": module, "mutants": len(status), "run": run, "killed": killed,
                     "timeout": timeout, "survived": survived, "untested": untested,
                     "other": len(status) - run - status.count("not checked"),
                     "score": (killed + timeout) / run if run else None})
    return rows


def main(argv: list[str]) -> int:
    if argv[:1] == ["sample"]:
        print("\n".join(sample(argv[1], int(argv[2]))))
    elif argv[:1] == ["survivors"]:
        print("\n".join(k for k, v in sorted(_meta(argv[1])["exit_code_by_key"].items())
                        if _status(v) in ("survived", "no tests")))
    elif argv[:1] == ["scores"]:
        print("| module | mutants | run | killed | timed out | survived | no test | score |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in scores():
            score = "-" if r["score"] is None else f"{r['score']:.1%}"
            print(f"| {r['module']} | {r['mutants']:,} | {r['run']:,} | {r['killed']:,} | "
                  f"{r['timeout']:,} | {r['survived']:,} | {r['untested']:,} | {score} |")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Mutation testing helpers (run on demand, never by pytest or CI; see docs/mutation.md).

    python bench/mutation_scores.py sample gis.analyses.plans 100   # a seeded sample of names
    python bench/mutation_scores.py sample-all 100 > sample.txt     # every module's sample
    python bench/mutation_scores.py scores [sample.txt]             # per module, from mutants/
    python bench/mutation_scores.py survivors gis.analyses.plans    # names of the survivors

mutmut 3 writes each module's verdicts to ``mutants/<path>.py.meta`` (JSON, exit code per
mutant, read with mutmut's own table ``mutmut.stats.status_by_exit_code``: killed, survived,
no tests (no selected test runs the mutated function: counted as surviving), timeout, ...).
A sample is drawn with ``random.Random(19)`` from the module's mutant names in sorted order,
so the same command on the same code names the same mutants (``mutmut run`` generates the
names; a changed module renumbers them).

Survivors explained as equivalent (no test can tell them from the original: the program's
results do not change) are listed with their reason in ``docs/mutation_equivalent.tsv``
(name, tab, reason); ``scores`` gives the score with and without them.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"
EQUIVALENT = ROOT / "docs" / "mutation_equivalent.tsv"
SEED = 19
SURVIVING = ("survived", "no tests")


def _meta(module: str) -> dict:
    return json.loads((MUTANTS / (module.replace(".", "/") + ".py.meta")).read_text())


def _modules() -> list[str]:
    return sorted(str(p.relative_to(MUTANTS))[:-len(".py.meta")].replace("/", ".")
                  for p in MUTANTS.glob("gis/**/*.py.meta"))


def sample(module: str, n: int) -> list[str]:
    names = sorted(_meta(module)["exit_code_by_key"])
    return sorted(random.Random(SEED).sample(names, min(n, len(names))))


def equivalent() -> dict[str, str]:
    """Name -> why the mutant is equivalent (docs/mutation_equivalent.tsv)."""
    if not EQUIVALENT.exists():
        return {}
    out = {}
    for line in EQUIVALENT.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, why = line.split("\t", 1)
            out[name] = why
    return out


def _status(code) -> str:
    """mutmut's own reading of an exit code (killed, survived, no tests, timeout, ...)."""
    from mutmut.stats import status_by_exit_code

    return status_by_exit_code[code]


def scores(names: set[str] | None = None) -> list[dict]:
    """Per module: mutants, how many ran (of ``names`` when given), and the score (killed or
    timed out) / (those plus survived and not covered by any test), then the same without
    the survivors listed as equivalent; suspicious results are left out of the score."""
    eq = equivalent()
    rows = []
    for module in _modules():
        verdicts = {k: _status(v) for k, v in _meta(module)["exit_code_by_key"].items()
                    if names is None or k in names}
        status = list(verdicts.values())
        if not status:
            continue
        killed = sum(s in ("killed", "caught by type check") for s in status)
        timeout = sum(s == "timeout" for s in status)
        survived = sum(s == "survived" for s in status)
        untested = sum(s == "no tests" for s in status)
        run = killed + timeout + survived + untested
        equiv = sum(s in SURVIVING and k in eq for k, s in verdicts.items())
        rows.append({"module": module, "mutants": len(_meta(module)["exit_code_by_key"]),
                     "run": run, "killed": killed, "timeout": timeout, "survived": survived,
                     "untested": untested, "equivalent": equiv,
                     "other": len(status) - run - status.count("not checked"),
                     "score": (killed + timeout) / run if run else None,
                     "score_non_equivalent": ((killed + timeout) / (run - equiv)
                                              if run - equiv else None)})
    return rows


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["sample"]:
        print("\n".join(sample(argv[1], int(argv[2]))))
    elif argv[:1] == ["sample-all"]:
        for module in _modules():
            if _meta(module)["exit_code_by_key"]:
                print("\n".join(sample(module, int(argv[1]))))
    elif argv[:1] == ["survivors"]:
        eq = equivalent()
        for k, v in sorted(_meta(argv[1])["exit_code_by_key"].items()):
            if v is not None and _status(v) in SURVIVING:
                print(k, _status(v), "(equivalent)" if k in eq else "", sep="\t")
    elif argv[:1] == ["scores"]:
        names = set(Path(argv[1]).read_text().split()) if len(argv) > 1 else None
        rows = scores(names)
        print("| module | mutants | run | killed | timed out | survived | no test | "
              "equivalent | score | score without equivalents |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['module']} | {r['mutants']:,} | {r['run']:,} | {r['killed']:,} | "
                  f"{r['timeout']:,} | {r['survived']:,} | {r['untested']:,} | "
                  f"{r['equivalent']:,} | {_pct(r['score'])} | "
                  f"{_pct(r['score_non_equivalent'])} |")
        tot = {k: sum(r[k] for r in rows) for k in ("mutants", "run", "killed", "timeout",
                                                     "survived", "untested", "equivalent")}
        ok = tot["killed"] + tot["timeout"]
        print(f"| **all** | {tot['mutants']:,} | {tot['run']:,} | {tot['killed']:,} | "
              f"{tot['timeout']:,} | {tot['survived']:,} | {tot['untested']:,} | "
              f"{tot['equivalent']:,} | {_pct(ok / tot['run'] if tot['run'] else None)} | "
              f"{_pct(ok / (tot['run'] - tot['equivalent']) if tot['run'] else None)} |")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

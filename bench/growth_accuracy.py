"""The growth verdict of every planted site, with no options (docs/growth.md).

Runs each program of tests/programs/growth/ and the zoo of tests/programs/ under
``leaktrace run`` with no option but the output, on every CPython given (by default
each .venv/py3.X of the checkout that has leaktrace installed), and prints, per
program and version, the class of each planted site: the lines marked
``# PLANT: <class>`` (growth/) or ``# LEAK-SITE`` (the zoo, all leaks), matched by
the innermost frame of the site's stack; several sites at one line are taken together
by their largest. "other leaking" counts the sites of the program's own file classed
leaking that are not planted (false alarms; the control program has no planted site).
Each program runs --runs times; a cell shows each run's class when they differ.
The zoo's programs do their work in a few milliseconds with their default count (200
requests, documents, ...); --zoo-count N runs each of them (control.py aside) once
more with that count as its first argument, still with no option to leaktrace.

Usage: python bench/growth_accuracy.py [--python PATH ...] [--runs N] [--long]
       [--zoo-count N]
(--long adds growth/long_run.py, a 30 s run.)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs"
PLANT = re.compile(r"#\s*(?:PLANT:\s*(\w+)|LEAK-SITE)")


def planted(program: Path) -> dict[int, str]:
    """Line -> expected class of each planted site."""
    out = {}
    for n, text in enumerate(program.read_text().splitlines(), 1):
        match = PLANT.search(text)
        if match:
            out[n] = match.group(1) or "leaking"
    return out


def programs(long: bool) -> list[Path]:
    """The planted programs (growth/sqlalchemy_cache.py, whose sites are SQLAlchemy's,
    has none: tests/e2e/test_growth_programs.py checks it), and the zoo."""
    found = [p for p in sorted((PROGRAMS / "growth").glob("*.py")) if planted(p)]
    if not long:
        found = [p for p in found if p.name != "long_run.py"]
    return found + sorted(PROGRAMS.glob("*.py"))


def classes(python: str, program: Path, args: list[str]) -> tuple[dict[int, str], int, float]:
    """The class of each planted line, the other leaking sites, and the seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c.ltc"
        report = Path(tmp) / "c.json"
        argv = ["-m", "leaktrace", "run", "-q", "-o", str(out), "--json-output", str(report)]
        done = subprocess.run(
            [python, *argv, str(program), *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp,
        )
        if done.returncode != 0:
            raise SystemExit(f"{program.name}: {done.stderr.strip()}")
        doc = json.loads(report.read_text())
    expected = planted(program)
    best: dict[int, tuple[int, str]] = {}
    others = 0
    for site in doc["leaks"]:
        stack = [doc["frames"][i] for i in site["stack"]]  # docs/json-schema.md
        if not stack or stack[0]["file"] != str(program):
            continue
        line, kind = stack[0]["line"], site["growth"]["class"]
        if line in expected:
            if line not in best or site["bytes"] > best[line][0]:
                best[line] = (site["bytes"], kind)
        elif kind == "leaking":
            others += 1
    return (
        {line: best.get(line, (0, "absent"))[1] for line in expected},
        others,
        doc["duration_s"] or 0.0,
    )


def default_pythons() -> list[str]:
    found = []
    for venv in sorted((ROOT / ".venv").glob("py3.*")):
        python = venv / "bin" / "python"
        probe = [str(python), "-c", "import leaktrace._core"]
        if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
            found.append(str(python))
    return found or [sys.executable]


def version(python: str) -> str:
    probe = [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
    return subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", action="append", help="a python with leaktrace installed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long", action="store_true", help="add the 30 s run")
    parser.add_argument("--zoo-count", type=int, default=0, help="the zoo once more, this big")
    args = parser.parse_args()
    pythons = [str(Path(p).absolute()) for p in args.python] if args.python else default_pythons()
    versions = [version(p) for p in pythons]
    print("| program | planted | expected | " + " | ".join(versions) + " |")
    print("| --- | --- | --- |" + " --- |" * len(versions))
    right = Counter[str]()
    total = Counter[str]()
    runs = [(p, []) for p in programs(args.long)]
    if args.zoo_count:
        zoo = sorted(PROGRAMS.glob("*.py"))
        runs += [(p, [str(args.zoo_count)]) for p in zoo if p.name != "control.py"]
    for program, program_args in runs:
        expected = planted(program)
        cells: dict[int, list[str]] = {line: [] for line in expected}
        alarms = []
        for python, v in zip(pythons, versions, strict=True):
            seen: dict[int, list[str]] = {line: [] for line in expected}
            other = []
            for _ in range(args.runs):
                got, others, _ = classes(python, program, program_args)
                for line, kind in got.items():
                    seen[line].append(kind)
                    total[v] += 1
                    right[v] += kind == expected[line]
                other.append(others)
            for line in expected:
                kinds = seen[line]
                cells[line].append(kinds[0] if len(set(kinds)) == 1 else "/".join(kinds))
            alarms.append("/".join(map(str, other)))
        name = f"{'growth/' if program.parent.name == 'growth' else ''}{program.name}"
        if program_args:
            name += " " + " ".join(program_args)
        for line, kind in expected.items():
            print(f"| {name} | line {line} | {kind} | " + " | ".join(cells[line]) + " |")
        print(f"| {name} | other leaking sites | 0 | " + " | ".join(alarms) + " |")
    print()
    for v in versions:
        print(f"CPython {v}: {right[v]} of {total[v]} planted sites classed as planted")


if __name__ == "__main__":
    main()

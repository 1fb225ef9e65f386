"""Accuracy of sampled tracking against full tracking (docs/sampling.md).

Runs bench/leaky_service.py once with full tracking and, for each rate, with several
seeds sampled. For every site holding at least 1% of the leaked bytes under full
tracking, it compares the sampled estimate with the full figure. The table gives, per
rate, the largest relative error over those sites (median and worst over the seeds),
how many of the site estimates were within 10%, and how many were within the
reported two-sigma bound.

Usage: python bench/sampling_accuracy.py [--leak-mb MB] [--rates N ...] [--seeds K]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SERVICE = Path(__file__).resolve().parent / "leaky_service.py"


def run(python: str, leak_mb: float, out: str, *options: str) -> dict[tuple, dict]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [python, "-m", "leaktrace", "run", "-q", "-o", out, *options, str(SERVICE), str(leak_mb)],
        env=env,
        check=True,
    )
    report = subprocess.run(
        [python, "-m", "leaktrace", "report", "--format", "json", out],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(report.stdout)
    frames = doc["frames"]  # stacks are indexes into it (docs/json-schema.md)
    return {
        tuple(
            (frames[i]["file"], frames[i]["line"], frames[i]["function"]) for i in leak["stack"]
        ): leak
        for leak in doc["leaks"]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leak-mb", type=float, default=256.0)
    parser.add_argument("--rates", type=int, nargs="+", default=[512 * 1024, 64 * 1024, 4096])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leaktrace-accuracy-") as tmp:
        full = run(args.python, args.leak_mb, os.path.join(tmp, "full.ltc"))
        total = sum(leak["bytes"] for leak in full.values())
        big = {k: v for k, v in full.items() if v["bytes"] >= total / 100}
        print(
            f"{args.leak_mb:g} MB leak requested; full tracking: {total / 2**20:.1f} MiB in "
            f"{len(full)} sites, {len(big)} of them holding >= 1%: "
            + ", ".join(f"{v['bytes'] / total:.1%}" for v in big.values())
        )
        print()
        print(
            "| rate | max rel. error (median over seeds) | worst | sites within 10% "
            "| within the 2-sigma bound | bytes needed for 10% at 2 sigma (400 x rate) |"
        )
        print("|---|---|---|---|---|---|")
        for rate in args.rates:
            worst_per_seed, within, bounded, n = [], 0, 0, 0
            for seed in range(1, args.seeds + 1):
                out = os.path.join(tmp, f"s{rate}.{seed}.ltc")
                sampled = run(
                    args.python,
                    args.leak_mb,
                    out,
                    "--sample-bytes",
                    str(rate),
                    "--sample-seed",
                    str(seed),
                )
                errors = []
                for key, site in big.items():
                    estimate = sampled.get(key, {"bytes": 0, "bytes_error": 0})
                    error = abs(estimate["bytes"] - site["bytes"])
                    errors.append(error / site["bytes"])
                    within += error <= site["bytes"] / 10
                    bounded += error <= estimate["bytes_error"]
                    n += 1
                worst_per_seed.append(max(errors))
            print(
                f"| {rate:,} | {statistics.median(worst_per_seed):.1%} "
                f"| {max(worst_per_seed):.1%} | {within}/{n} | {bounded}/{n} "
                f"| {400 * rate / 2**20:.1f} MiB |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

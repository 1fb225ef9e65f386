"""Sampled tracking (--sample-bytes, docs/sampling.md): weights, exactness of frees,
unbiasedness, reproducibility with a seed, and accuracy against full tracking."""

from __future__ import annotations

import json
import math
import os
import subprocess
import textwrap
from pathlib import Path

import leaktrace_cli
import pytest
from ltx_support import marker_lines
from report_support import with_stacks

import leaktrace
from leaktrace import _core

SCALE = 1024  # LT_SAMPLE_COUNT_SCALE


def weight(rate: int, size: int) -> tuple[int, int]:
    """lt_sampler_weigh_at: estimated bytes and fixed-point blocks of one sample."""
    p = -math.expm1(-size / rate)
    return round(size / p), round(SCALE / p)


def site_at(capture: leaktrace.Capture, line: int) -> tuple[int, int, int]:
    """(live bytes, live count, allocated bytes) of the sites whose innermost frame
    is this file's line, summed."""
    totals = [0, 0, 0]
    for site in capture.sites():
        if site.stack and site.stack[0].file == __file__ and site.stack[0].line == line:
            totals[0] += site.bytes
            totals[1] += site.count
            totals[2] += site.alloc_bytes
    return totals[0], totals[1], totals[2]


LINES = marker_lines(__file__)


def obj_malloc(ext, size: int) -> int:
    return ext.obj_malloc(size)  # @obj


def mem_malloc(ext, size: int) -> int:
    return ext.mem_malloc(size)  # @mem


def raw_malloc(ext, size: int) -> int:
    return ext.raw_malloc(size)  # @raw


def test_each_sample_weighs_size_over_its_probability(ext, tmp_path: Path) -> None:
    rate, size, n = 8192, 3000, 200
    path = tmp_path / "w.ltc"
    leaktrace.start(path, sample_bytes=rate, sample_seed=7)
    handles = [obj_malloc(ext, size) for _ in range(n)]
    leaktrace.stop()
    capture = leaktrace.load(path)
    live_bytes, _, _ = site_at(capture, LINES["obj"])
    w_bytes, _ = weight(rate, size)
    # Every recorded block of the site adds exactly w_bytes; some were recorded.
    assert live_bytes > 0
    assert live_bytes % w_bytes == 0, (live_bytes, w_bytes)
    samples = live_bytes // w_bytes
    assert 0 < samples < n
    assert capture.sampling == {"rate": rate, "count_scale": SCALE, "seed": 7}
    for h in handles:
        ext.obj_free(h)


def test_frees_of_sampled_blocks_subtract_what_they_added(ext, tmp_path: Path) -> None:
    path = tmp_path / "f.ltc"
    leaktrace.start(path, sample_bytes=4096, sample_seed=3)
    handles = [mem_malloc(ext, 1000 + i) for i in range(200)]
    for h in handles:
        ext.mem_free(h)
    leaktrace.stop()
    live_bytes, live_count, allocated = site_at(leaktrace.load(path), LINES["mem"])
    assert allocated > 0  # some blocks were sampled...
    assert (live_bytes, live_count) == (0, 0)  # ...and their frees removed them exactly


def test_rate_of_one_byte_records_every_block_at_its_size(ext, tmp_path: Path) -> None:
    # p(size) = 1 - exp(-size) is 1 in double precision from 38 bytes on.
    path = tmp_path / "one.ltc"
    leaktrace.start(path, sample_bytes=1, sample_seed=1)
    handles = [raw_malloc(ext, 5000) for _ in range(30)]
    during = _core.stats()
    stats = leaktrace.stop()
    # Statistics count whole blocks, not the capture's fixed-point units.
    assert during["heap_count"] <= stats["total_allocations"] < 30 * SCALE
    assert stats["total_allocations"] >= 30
    live_bytes, live_count, allocated = site_at(leaktrace.load(path), LINES["raw"])
    assert (live_bytes, live_count, allocated) == (30 * 5000, 30, 30 * 5000)
    for h in handles:
        ext.raw_free(h)


def test_estimates_are_unbiased_over_seeds(ext, tmp_path: Path) -> None:
    # 40 independent seeds: the mean estimate of the 2 MB allocated in 200-byte blocks
    # at a 32 KiB rate must be within 4 standard errors of the truth
    # (sigma <= sqrt(rate * bytes), docs/sampling.md).
    rate, size, n, seeds = 32768, 200, 10_000, 40
    truth = size * n
    estimates = []
    for seed in range(seeds):
        path = tmp_path / f"u{seed}.ltc"
        leaktrace.start(path, sample_bytes=rate, sample_seed=seed)
        for _ in range(n):
            ext.obj_free(obj_malloc(ext, size))
        leaktrace.stop()
        estimates.append(site_at(leaktrace.load(path), LINES["obj"])[2])
    mean = sum(estimates) / seeds
    standard_error = math.sqrt(rate * truth / seeds)
    assert abs(mean - truth) < 4 * standard_error, (mean, truth, estimates)
    assert len(set(estimates)) > 5  # the seeds did change the sampling


LEAKER = """
import sys
keep = []
def site(n, size):
    for _ in range(n):
        keep.append(bytes(size))
site(12_000, 1000)  # 12 MB
site(6_000, 1000)   # 6 MB
site(3_000, 1000)
site(1_500, 1000)
site(500, 1000)     # 0.5 MB: about 2% of the leak
"""


def run_leaker(tmp_path: Path, name: str, *args: str) -> dict[str, object]:
    program = tmp_path / "leaker.py"
    program.write_text(textwrap.dedent(LEAKER))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "-o", f"{name}.ltc", *args, str(program)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    report = subprocess.run(
        [*leaktrace_cli.command(), "report", "--format", "json", f"{name}.ltc"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=True,
    )
    return with_stacks(json.loads(report.stdout))


def by_line(doc: dict[str, object]) -> dict[int, dict[str, int]]:
    sites: dict[int, dict[str, int]] = {}
    for leak in doc["leaks"]:  # type: ignore[attr-defined]
        stack = leak["stack"]
        if len(stack) >= 2 and stack[0]["line"] == 6:
            sites[stack[1]["line"]] = leak
    return sites


@pytest.fixture(scope="module")
def leaker_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, dict]:
    tmp = tmp_path_factory.mktemp("leaker")
    full = run_leaker(tmp, "full")
    sampled = run_leaker(tmp, "s1", "--sample-bytes", "1024", "--sample-seed", "11")
    again = run_leaker(tmp, "s2", "--sample-bytes", "1024", "--sample-seed", "11")
    return full, sampled, again


def test_sites_holding_one_percent_are_within_ten_percent(leaker_runs) -> None:
    full, sampled, _ = leaker_runs
    full_sites, sampled_sites = by_line(full), by_line(sampled)
    total = sum(leak["bytes"] for leak in full["leaks"])
    big = {line: s for line, s in full_sites.items() if s["bytes"] >= total / 100}
    assert sorted(big) == [7, 8, 9, 10, 11]
    for line, site in big.items():
        estimate = sampled_sites[line]
        error = abs(estimate["bytes"] - site["bytes"])
        assert error <= site["bytes"] / 10, (line, estimate["bytes"], site["bytes"])
        assert error <= estimate["bytes_error"], (line, estimate, site)
        assert site["bytes_error"] == 0
    assert sampled["sampling"] == {"rate_bytes": 1024, "seed": 11}
    assert full["sampling"] is None


def test_a_fixed_seed_repeats_the_sampling_exactly(leaker_runs) -> None:
    _, sampled, again = leaker_runs
    # Sorted: the verdicts (which rank the sites) follow snapshots taken on a timer.
    key = lambda doc: sorted(  # noqa: E731
        (s["bytes"], s["count"], json.dumps(s["stack"])) for s in doc["leaks"]
    )
    assert key(sampled) == key(again)


def test_text_report_says_it_is_sampled(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("keep = [bytes(2000) for _ in range(5000)]\n")
    result = subprocess.run(
        [*leaktrace_cli.command(), "run", "--sample", "-o", "p.ltc", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"SAMPLED every ~{leaktrace.DEFAULT_SAMPLE_BYTES // 1024}.0 KiB" in result.stderr
    assert " ± " in result.stderr.split("#1", 1)[1].splitlines()[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample-bytes", "-5"], "argument --sample-bytes: a size cannot be negative: '-5'"),
        (["--sample-bytes", "x"], "argument --sample-bytes: not a size: 'x'"),
        (["--sample-seed", "-1"], "--sample-seed must be between 0 and 2**64 - 1"),
    ],
)
def test_bad_sampling_options(tmp_path: Path, args: list[str], message: str) -> None:
    program = tmp_path / "p.py"
    program.write_text("pass\n")
    result = subprocess.run(
        [*leaktrace_cli.command(), "run", *args, str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("leaktrace: error:") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_api_rejects_a_negative_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_bytes"):
        leaktrace.start(tmp_path / "x.ltc", sample_bytes=-1)
    assert not _core.is_tracking()

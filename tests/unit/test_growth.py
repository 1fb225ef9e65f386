"""Growth classes: the statistics, every leak pattern of tests/programs, and the
memory that is not a leak (a bounded cache, a lazy import, interned strings, free lists)."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

import leaktrace
from leaktrace.api import parse_size
from leaktrace.reading import growth

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"


# ---- the classifier (its statistics are tested in C: tests/c/test_growth.c) ----


@pytest.mark.parametrize(
    ("series", "kind"),
    [
        ([0, 100, 200, 300, 400, 500, 600], "leaking"),
        ([0, 90, 210, 300, 390, 520, 600], "leaking"),
        ([0, 500, 600, 600, 600, 600, 600], "plateaued"),
        ([0, 600, 600, 600, 600, 600, 600, 600], "plateaued"),
        ([500, 520, 480, 510, 490, 505, 495], "noise"),
        ([100, 100, 100, 100, 100], "noise"),
        ([0, 100, 200], "insufficient"),  # too short to tell
        ([0, 900, 0, 900, 0, 900, 100], "transient"),
    ],
)
def test_classify(series: list[int], kind: str) -> None:
    g = growth.classify(list(range(len(series))), series, "iteration")
    assert g.kind == kind
    assert g.total == series[-1] - series[0]
    assert 0.0 <= g.confidence <= 1.0


def test_leak_rate_is_per_iteration() -> None:
    g = growth.classify([0, 1, 2, 3, 4, 5], [0, 64, 128, 192, 256, 320], "iteration")
    assert (g.kind, g.rate, g.unit) == ("leaking", 64, "iteration")
    assert g.confidence > 0.95


def test_insufficient_says_how_many_points() -> None:
    g = growth.classify([0, 1], [10, 20], "iteration")
    assert (g.kind, g.reason, g.points) == ("insufficient", "few-points", 2)
    assert g.explanation == "seen at 2 snapshots, 4 needed"
    assert growth.classify([], [], "iteration").kind == "insufficient"


def test_a_site_that_stopped_allocating_keeps_its_leak() -> None:
    """Rising with every allocation of the site, then quiet: leaking, not plateaued."""
    xs = list(range(20))
    ys = [100 * min(i, 12) for i in xs]
    g = growth.classify(xs, ys, "iteration", allocs=ys)
    assert (g.kind, g.reason, g.rate) == ("leaking", "stopped", 100)
    # the same live bytes from a site that kept allocating under a bound
    churn = [100 * i for i in xs]
    assert growth.classify(xs, ys, "iteration", allocs=churn).kind == "plateaued"


@pytest.mark.parametrize(
    ("text", "size"),
    [(0, 0), ("512", 512), ("1 KB", 1000), ("1KiB", 1024), ("10 MB", 10_000_000), ("2 k", 2048)],
)
def test_parse_size(text: int | str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "KB", "1 parsec", "-3", -3])
def test_parse_size_rejects(text: int | str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


# ---- the leak patterns of tests/programs, one request per iteration ----

# program -> the statement that serves request `i` (the program's own per-request code)
REQUESTS = {
    "global_list.py": "handle_request(i)",
    "class_cache.py": "ReportRenderer().render(i)",
    "lru_method.py": "Document(i).checksum(251)",
    "stored_exceptions.py": (
        "try:\n    parse_record(i)\nexcept RecordError as e:\n    _errors.append(e)"
    ),
    "closure_callbacks.py": "render_widget(i)",
}


def _load_program(name: str) -> tuple[dict[str, object], int]:
    """The program's namespace without running its main(), and its LEAK-SITE line."""
    path = PROGRAMS / name
    source = path.read_text()
    assert source.rstrip().endswith("main()")
    body = source.rstrip()[: -len("main()")]
    namespace: dict[str, object] = {"__name__": "leaky_program"}
    argv, sys.argv = sys.argv, [str(path), "1", "4096"]
    try:
        exec(compile(body, str(path), "exec"), namespace)
    finally:
        sys.argv = argv
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "# LEAK-SITE" in text)
    return namespace, line


@pytest.mark.parametrize("program", sorted(REQUESTS))
def test_program_leak_is_flagged_at_its_site(program: str) -> None:
    namespace, line = _load_program(program)
    request = compile(REQUESTS[program], "<request>", "exec")
    counter = iter(range(1_000_000))

    def serve() -> None:
        namespace["i"] = next(counter)
        exec(request, namespace)

    result = leaktrace.check(serve, iterations=8)
    top = result.leaking[0]
    assert top.frame is not None
    assert (top.frame.file, top.frame.line) == (str(PROGRAMS / program), line)
    assert top.growth is not None
    # each request keeps one 4096-byte object (plus its header) alive
    assert 4096 <= top.growth.rate < 4096 + 256


def test_run_flags_the_leak_with_no_options(tmp_path: Path) -> None:
    script = tmp_path / "slow_leak.py"
    script.write_text(
        "import time\nkeep = []\nfor i in range(30):\n"
        "    keep.append(bytearray(10_000))  # LEAK\n    time.sleep(0.01)\n"
    )
    capture = tmp_path / "c.ltc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "leaktrace",
            "run",
            "-q",
            "-o",
            str(capture),
            str(script),
        ],
        check=True,
    )
    cap = leaktrace.load(capture)
    kinds = [s.kind for s in cap.snapshots]
    assert kinds[-1] == "final" and kinds.count("interval") >= 4
    assert all(s.rss_bytes and s.rss_bytes > s.heap_bytes for s in cap.snapshots)
    by_site = growth.analyze(cap)
    assert by_site is not None
    leaking = [key for key, g in by_site.items() if g.kind == "leaking"]
    assert [(k[0][0].file, k[0][0].line) for k in leaking] == [(str(script), 4)]
    assert by_site[leaking[0]].unit == "MB allocated"
    assert by_site[leaking[0]].rate_per_second > 0


# ---- not leaks ----


def test_bounded_lru_cache_is_not_flagged() -> None:
    @functools.lru_cache(maxsize=32)
    def render(key: int) -> str:
        return f"entry {key} " + "x" * 200

    counter = iter(range(1_000_000))

    def serve() -> None:
        base = next(counter) * 100
        for k in range(64):
            render(base + k)

    result = leaktrace.check(serve, iterations=8)
    assert result.leaking == []
    kinds = {g.growth.kind for g in result.sites if g.growth}
    assert "leaking" not in kinds


def test_lazy_import_on_first_iteration_is_not_flagged(tmp_path: Path) -> None:
    (tmp_path / "lazy_mod_ltx.py").write_text("TABLE = [bytearray(5000) for _ in range(20)]\n")
    sys.path.insert(0, str(tmp_path))
    try:

        def work() -> int:
            import lazy_mod_ltx

            return len(lazy_mod_ltx.TABLE)

        result = leaktrace.check(work, warmup=0, iterations=8)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lazy_mod_ltx", None)
    assert result.leaking == []


def test_interned_strings_are_not_flagged() -> None:
    def work() -> None:
        for k in range(200):
            sys.intern("interned-key-" + str(k))

    assert leaktrace.check(work, iterations=8).leaking == []


def test_free_lists_are_not_flagged() -> None:
    def work() -> None:
        floats = [float(k) * 0.5 for k in range(2000)]
        pairs = [(k, -k) for k in range(2000)]
        del floats, pairs

    assert leaktrace.check(work, iterations=8).leaking == []

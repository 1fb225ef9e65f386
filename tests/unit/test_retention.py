"""Retention: which reference keeps leaked memory alive.

End-to-end: each leaky program in ``tests/programs`` runs under ``leaktrace run``,
and the JSON report must name the holder of its ``# LEAK-SITE`` allocation in the
first reference path of that site. In process: ``leaktrace.why()`` on small heaps
with exact expected edge names.
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import leaktrace_cli
import pytest
from report_support import with_stacks

import leaktrace

PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
LEAK_MARKER = re.compile(r"#\s*LEAK-SITE\s*$")
TIMEOUT = 300
COUNT, SIZE = 40, 20_000

Report = dict[str, Any]
Edges = list[tuple[str, str]]


def run_report(tmp_path: Path, program: str) -> Report:
    capture = tmp_path / "run.ltc"
    script = PROGRAMS / program
    command = ["-m", "leaktrace", "run", "-q", "-o", str(capture), str(script), str(COUNT)]
    run = subprocess.run(
        [sys.executable, *command, str(SIZE)],
        cwd=tmp_path,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    report = subprocess.run(
        [*leaktrace_cli.command(), "report", str(capture), "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert report.returncode == 0, report.stderr.decode(errors="replace")
    return with_stacks(json.loads(report.stdout))


def leak_site(report: Report, program: str) -> dict[str, Any]:
    """The site whose innermost frame is the program's LEAK-SITE line."""
    script = PROGRAMS / program
    lines = script.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, 1) if LEAK_MARKER.search(text))
    for site in report["leaks"]:
        top = site["stack"][0] if site["stack"] else {}
        if top.get("line") == line and Path(top.get("file", "")).name == program:
            return site
    tops = [s["stack"][:1] for s in report["leaks"]]
    raise AssertionError(f"no site at {program}:{line} in {tops}")


def edges_of(path: dict[str, Any]) -> Edges:
    return [(e["kind"], e["name"]) for e in path["edges"]]


def check_global_list(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("module", "__main__")
    edges = edges_of(path)
    assert edges[0] == ("attr", "_request_log")
    assert edges[1][0] == "index" and int(edges[1][1]) < COUNT
    assert len(edges) == 2


def check_class_cache(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("class", "__main__.ReportRenderer")
    edges = edges_of(path)
    assert edges[0] == ("attr", "_cache")
    assert edges[1][0] == "key" and int(edges[1][1]) < COUNT
    assert len(edges) == 2


def check_lru_method(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("class", "__main__.Document")
    edges = edges_of(path)
    assert edges[0] == ("attr", "checksum")
    assert any(kind == "other" and name.startswith("lru_cache") for kind, name in edges)
    assert edges[-1] == ("attr", "payload")


def check_stored_exceptions(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("module", "__main__")
    edges = edges_of(path)
    assert edges[0] == ("attr", "_errors")
    assert edges[1][0] == "index"
    assert edges[2:] == [
        ("attr", "__traceback__"),
        ("attr", "tb_next"),
        ("attr", "tb_frame"),
        ("local", "raw"),
    ]


def check_closure_callbacks(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("module", "__main__")
    edges = edges_of(path)
    assert edges[0] == ("attr", "_listeners")
    assert edges[1][0] == "index"
    assert edges[2] == ("closure", "snapshot")
    assert len(edges) == 3


def check_logger_handlers(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("class", "logging.Logger")
    edges = edges_of(path)
    assert edges[:3] == [("attr", "manager"), ("attr", "loggerDict"), ("key", "'app.worker'")]
    assert edges[3] == ("attr", "handlers")
    assert edges[4][0] == "index"
    assert edges[5:] == [("attr", "buffer")]


def check_asyncio_tasks(path: dict[str, Any]) -> None:
    assert (path["root_kind"], path["root"]) == ("module", "__main__")
    edges = edges_of(path)
    assert edges[:2] == [("attr", "_background"), ("set_item", "")]
    assert path["text"].startswith("module __main__ → _background → item of set → ")


CASES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("global_list.py", check_global_list),
    ("class_cache.py", check_class_cache),
    ("lru_method.py", check_lru_method),
    ("stored_exceptions.py", check_stored_exceptions),
    ("closure_callbacks.py", check_closure_callbacks),
    ("logger_handlers.py", check_logger_handlers),
    ("asyncio_tasks.py", check_asyncio_tasks),
]


@pytest.mark.parametrize(("program", "check"), CASES, ids=[c[0] for c in CASES])
def test_path_names_the_holder(
    tmp_path: Path, program: str, check: Callable[[dict[str, Any]], None]
) -> None:
    report = run_report(tmp_path, program)
    site = leak_site(report, program)
    paths = site["retention"]
    assert 1 <= len(paths) <= 3
    # The leaked objects themselves; a site's paths may also lead to the
    # owner of a buffer allocated on the same line (the list that grew).
    leaked = [p for p in paths if p["target"] == "bytes"]
    assert leaked, paths
    for path in leaked:
        check(path)
        assert path["object_bytes"] >= SIZE
        assert path["retained_bytes"] >= path["object_bytes"]
    suspects = report["leak_suspects"]
    assert suspects, "a leak this size has a suspect"
    assert suspects[0]["leaked_bytes"] >= COUNT * SIZE
    assert report["retention_summary"]["objects"] > 0


def test_cyclic_garbage_with_gc_disabled_is_reported_as_cycles(tmp_path: Path) -> None:
    program = "gc_disabled_cycles.py"
    report = run_report(tmp_path, program)
    site = leak_site(report, program)
    assert site["bytes"] >= COUNT * SIZE, "no collection ran at exit: the cycles are alive"
    assert site["retention"]
    for path in site["retention"]:
        assert path["root_kind"] == "garbage", path
        assert path["edges"] == []
    cycle = report["cycles"][0]
    assert cycle["clusters"] == COUNT
    # Request, Session and the payload; before 3.11 each instance has its __dict__.
    per_cycle = 3 if sys.version_info >= (3, 11) else 5
    assert cycle["objects"] == per_cycle * COUNT
    assert cycle["bytes"] >= COUNT * SIZE
    assert cycle["cycle"]["root"] in ("Request", "Session")
    assert sorted(edges_of(cycle["cycle"])) == [("attr", "request"), ("attr", "session")]
    lines = {frame["line"] for s in cycle["sites"] for frame in s["stack"][:1]}
    assert site["stack"][0]["line"] in lines
    summary = report["retention_summary"]
    assert summary["garbage_bytes"] >= COUNT * SIZE


def test_text_report_shows_the_holder_and_the_cycles(tmp_path: Path) -> None:
    for program in ("global_list.py", "gc_disabled_cycles.py"):
        args = [str(PROGRAMS / program), str(COUNT), str(SIZE)]
        run = subprocess.run(
            [*leaktrace_cli.command(), "run", "-o", str(tmp_path / f"{program}.ltc"), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        lines = run.stderr.splitlines()
        if program == "global_list.py":
            held = [line for line in lines if "module __main__ → _request_log[" in line]
            assert held and all(line.endswith(" → bytes  (retains 19.6 KiB)") for line in held)
            assert "kept alive by:" in [line.strip() for line in lines]
            assert any(line.startswith("Leak suspects") for line in lines)
        else:
            start = next(i for i, line in enumerate(lines) if line.startswith("Unreachable"))
            assert f"({COUNT} alike)" in lines[start + 1]
            # The payload, or before 3.11 the instance dict holding it.
            held = lines[lines.index("    kept alive by:") + 1]
            assert held.startswith("      unreachable cyclic garbage → "), held


UNCOLLECTABLE = """
import gc

class Node:
    def __init__(self):
        self.payload = bytes(5000)

gc.set_debug(gc.DEBUG_SAVEALL)  # every collected object goes to gc.garbage
for _ in range(30):
    a, b = Node(), Node()
    a.other, b.other = b, a
del a, b
gc.collect()
"""


def test_gc_garbage_is_reported_as_cycles_not_held_by_module_gc(tmp_path: Path) -> None:
    script = tmp_path / "uncollectable.py"
    script.write_text(UNCOLLECTABLE, encoding="utf-8")
    capture = tmp_path / "u.ltc"
    run = subprocess.run(
        [*leaktrace_cli.command(), "run", "-q", "-o", str(capture), str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    loaded = leaktrace.load(capture)
    cycle = loaded.retention.cycles[0]
    assert cycle.clusters == 30
    assert cycle.bytes >= 60 * 5000
    assert cycle.around() == "Node → .other → .other → (back to Node)"
    for paths in loaded.retention.site_paths.values():
        assert all(p.root != "gc" for p in paths)


def test_retention_option(tmp_path: Path) -> None:
    script = str(PROGRAMS / "global_list.py")
    base = [*leaktrace_cli.command(), "run", "-q", "-o", str(tmp_path / "r.ltc")]
    bad = subprocess.run([*base, "--retention", "-1", script], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().endswith("--retention must be between 0 and 1000")
    off = subprocess.run([*base, "--retention", "0", script, "5", "400"], capture_output=True)
    assert off.returncode == 0
    loaded = leaktrace.load(tmp_path / "r.ltc")
    assert loaded.retention.site_paths == {} and loaded.retention.summary == {}


def test_old_captures_and_untracked_sites_have_no_paths(tmp_path: Path) -> None:
    capture = tmp_path / "api.ltc"
    leaktrace.start(capture)
    kept = [bytes(SIZE) for _ in range(3)]
    leaktrace.stop()  # no retention_sites: no records
    loaded = leaktrace.load(capture)
    sites, _ = loaded.leaks()
    assert sites and all(loaded.retention.paths_for(s.nodes) == [] for s in sites)
    assert loaded.retention.summary == {}
    del kept


def test_stop_with_retention_sites_records_paths(tmp_path: Path) -> None:
    capture = tmp_path / "api.ltc"
    leaktrace.start(capture)
    _KEPT.extend(bytes(SIZE) for _ in range(3))
    leaktrace.stop(retention_sites=5)
    loaded = leaktrace.load(capture)
    sites, _ = loaded.leaks()
    top = max(sites, key=lambda s: s.bytes)
    paths = loaded.retention.paths_for(top.nodes)
    assert paths and all(p.target == "bytes" for p in paths)
    assert all(str(p).startswith(f"module {__name__} → _KEPT[") for p in paths)
    assert loaded.retention.summary["objects"] > 0
    _KEPT.clear()


_KEPT: list[bytes] = []


# ---- why() in this process ----


class Order:
    pass


class User:
    def __init__(self) -> None:
        self.orders = [Order() for _ in range(5)]


@pytest.fixture
def app_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("app.cache")
    sys.modules["app.cache"] = module
    yield module
    del sys.modules["app.cache"]


def test_why_module_dict_attribute_index(app_module: types.ModuleType) -> None:
    app_module._CACHE = {"user:42": User()}
    paths = leaktrace.why(app_module._CACHE["user:42"].orders[3])
    assert str(paths[0]) == "module app.cache → _CACHE['user:42'] → .orders[3] → Order"
    assert paths[0].edges == (
        ("attr", "_CACHE"),
        ("key", "'user:42'"),
        ("attr", "orders"),
        ("index", "3"),
    )


def test_why_int_keys_tuples_and_sets(app_module: types.ModuleType) -> None:
    target = Order()
    app_module._REGISTRY = {7: ("pad", {target})}
    paths = leaktrace.why(target)
    assert str(paths[0]) == "module app.cache → _REGISTRY[7][1] → item of set → Order"


def test_why_deque_items_by_position(app_module: types.ModuleType) -> None:
    import collections

    target = Order()
    # More than one of deque's 64-item blocks before it, and a bound (as Django's
    # connection.queries_log has).
    app_module._LOG = collections.deque([Order() for _ in range(130)], maxlen=500)
    app_module._LOG.append({"sql": target})
    paths = leaktrace.why(target)
    assert str(paths[0]) == "module app.cache → _LOG[130]['sql'] → Order"


def test_why_closure_cell_by_variable_name(app_module: types.ModuleType) -> None:
    def make(payload: Order) -> Callable[[], Order]:
        def handler() -> Order:
            return payload

        return handler

    app_module.listeners = [make(Order())]
    target = app_module.listeners[0]()
    paths = leaktrace.why(target)
    assert str(paths[0]) == "module app.cache → listeners[0] → closure cell 'payload' → Order"


def test_why_class_attribute(app_module: types.ModuleType) -> None:
    class Registry:
        handlers: dict[str, list[Order]] = {"x": [Order()]}  # noqa: RUF012

    Registry.__module__ = "app.cache"
    app_module.Registry = Registry
    paths = leaktrace.why(Registry.handlers["x"][0])
    expected = "class app.cache.test_why_class_attribute.<locals>.Registry → .handlers['x'][0]"
    assert str(paths[0]) == f"{expected} → Order"


def test_why_falls_back_to_the_callers_local() -> None:
    lonely = Order()
    paths = leaktrace.why(lonely)
    assert paths[0].root_kind == "frame"
    assert paths[0].root.startswith("test_why_falls_back_to_the_callers_local (")
    assert paths[0].edges == (("local", "lonely"),)


def test_why_other_referrers_get_their_own_paths(app_module: types.ModuleType) -> None:
    shared = Order()
    app_module.first = shared
    app_module.box = [shared]
    texts = {str(p) for p in leaktrace.why(shared)}
    assert {"module app.cache → first → Order", "module app.cache → box[0] → Order"} <= texts


def test_why_retained_bytes_come_from_the_dominator_tree(app_module: types.ModuleType) -> None:
    app_module.blobs = [bytes(10_000) for _ in range(10)]
    path = leaktrace.why(app_module.blobs)[0]
    assert str(path) == "module app.cache → blobs → list"
    assert path.retained_bytes >= 10 * 10_000 + path.object_bytes


def test_why_cyclic_garbage_is_not_held_by_a_root() -> None:
    gc.collect()
    gc.disable()
    try:
        a, b = Order(), Order()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        ref = weakref.ref(a)
        del a, b
        paths = leaktrace.why(ref())
        assert [p.root_kind for p in paths] == ["garbage"]
        assert str(paths[0]) == "unreachable cyclic garbage → Order"
    finally:
        gc.enable()
        gc.collect()
    assert ref() is None


class Hostile:
    """A key whose methods must never run during the analysis."""

    calls = 0

    def __hash__(self) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        Hostile.calls += 1
        raise AssertionError("__eq__ called")

    def __repr__(self) -> str:
        Hostile.calls += 1
        raise AssertionError("__repr__ called")


def test_why_never_calls_user_code(app_module: types.ModuleType) -> None:
    target = Order()
    app_module.table = {Hostile(): target}
    Hostile.calls = 0
    paths = leaktrace.why(target)
    assert Hostile.calls == 0
    assert str(paths[0]) == "module app.cache → table[<Hostile>] → Order"

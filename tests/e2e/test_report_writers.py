"""The reports written in C (_core.json_rows, pprof_samples, folded, speedscope_stacks,
rank_nodes, prune_tree) against plain-Python references of the same output, on real
captures of a program with many stacks: growth series, retention records, truncated
stacks, sampling. The references are what the reports were before their big arrays
moved to C, written the obvious way; the reports must stay byte for byte the same."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import pytest
from leaktrace_cli import run as leaktrace

from leaktrace import _core
from leaktrace.reading.capture import Capture
from leaktrace.reading.growth import WORK_UNIT, by_site, insufficient, rank_key
from leaktrace.reading.model import NO_FRAME, Frame, FrameTable
from leaktrace.reading.profile import Profile, load_profile
from leaktrace.reports import export, render
from leaktrace.reports import pprof as pprof_report
from leaktrace.reports.collapsed import frame_label
from leaktrace.reports.html import _Frames, _tree

STEP = """\
def step_{i}(path, depth):
    if depth == 0:
        kept.append(bytearray(len(path) * 10 + 1))
        return
    STEPS[path[depth - 1]](path, depth - 1)
"""
# Six functions calling each other along random paths up to six deep: about as many
# distinct stacks as blocks kept, some deeper than --depth 5.
PROGRAM = (
    "import random, time\nkept = []\n"
    + "".join(STEP.format(i=i) for i in range(6))
    + """\
STEPS = [step_0, step_1, step_2, step_3, step_4, step_5]
rng = random.Random(3)
for round in range(8):
    for _ in range(150):
        path = [rng.randrange(6) for _ in range(rng.randrange(1, 7))]
        STEPS[path[-1]](path, len(path))
    time.sleep(0.02)
"""
)


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Captures of the program: with snapshots, retention and stacks deeper than the
    depth limit; and sampled."""
    tmp = tmp_path_factory.mktemp("writers")
    program = tmp / "stacks.py"
    program.write_text(PROGRAM)
    runs = {
        "growth": ["--interval", "0.01", "--retention", "3", "--depth", "5"],
        "sampled": ["--interval", "0.01", "--sample-bytes", "64", "--sample-seed", "1"],
        "plain": [],
    }
    out = {}
    for name, options in runs.items():
        path = tmp / f"{name}.ltc"
        result = leaktrace("run", "-q", *options, "-o", path, program)
        assert result.returncode == 0, result.stderr
        out[name] = path
    return out


CAPTURES = ("growth", "sampled", "plain")


# ---- JSON ----


def reference_json(capture: Capture, include_all: bool) -> str:
    """json.dumps of the whole document, every site and every frame of the frame table a
    dict on a line of its own."""
    sites, excluded = capture.leaks(include_all=include_all)
    growth = by_site(capture, include_all=include_all)
    sites.sort(key=lambda s: rank_key(growth.get(s.site_id), s.bytes))
    frames = FrameTable()
    leaks = []
    for s in sites:
        site = s.to_json(frames)
        site["growth"] = (growth.get(s.site_id) or insufficient(0, WORK_UNIT)).to_json()
        site["bytes_error"] = capture.error_bound(s.bytes)
        paths = capture.retention.paths_for(s.nodes)
        holder = capture.retention.holder_for(s.nodes)
        site["holder"] = holder.to_json() if holder else None
        site["retention"] = [p.to_json() for p in paths]
        leaks.append(site)
    doc = json.loads(render(capture, "json", include_all=include_all))
    for cycle, found in zip(doc["cycles"], capture.retention.cycles, strict=True):
        for site, (node, _) in zip(cycle["sites"], found.sites, strict=True):
            site["stack"] = frames.numbers(capture.stack(node)[0])
    doc["frames"] = doc["leaks"] = []
    doc["excluded"] = {k: {"bytes": e.bytes, "count": e.count} for k, e in excluded.items()}
    text = json.dumps(doc, indent=2)
    for key, items in (("frames", [f.to_json() for f in frames.frames]), ("leaks", leaks)):
        rows = ",\n".join("    " + json.dumps(item) for item in items)
        text = text.replace(
            f'"{key}": []', f'"{key}": [\n{rows}\n  ]' if items else f'"{key}": []', 1
        )
    return text + "\n"


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("include_all", [False, True])
def test_json_report_is_json_dumps(
    captures: dict[str, Path], name: str, include_all: bool, tmp_path: Path
) -> None:
    capture = Capture(captures[name])
    text = render(capture, "json", include_all=include_all)
    assert text == reference_json(capture, include_all)
    doc = json.loads(text)
    assert doc["leaks"], "the capture has sites"
    # The frame table: each frame once, every number names one, numbered in the order
    # the leak list's stacks (then the cycles') first use them.
    assert doc["schema_version"] == 2
    frames = [tuple(f.values()) for f in doc["frames"]]
    assert len(set(frames)) == len(frames)
    stacks = [s["stack"] for s in doc["leaks"]]
    stacks += [s["stack"] for c in doc["cycles"] for s in c["sites"]]
    assert list(dict.fromkeys(n for stack in stacks for n in stack)) == list(range(len(frames)))
    if name == "growth":
        assert any(s["growth"] for s in doc["leaks"])
        assert any(s["retention"] for s in doc["leaks"])
        assert any(s["truncated"] for s in doc["leaks"])
    if name == "sampled":
        assert any(s["bytes_error"] for s in doc["leaks"])
    # The command streams the same text, to a file and to stdout.
    out = tmp_path / "report.json"
    flags = ["--all"] if include_all else []
    result = leaktrace("report", captures[name], "--format", "json", *flags, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == text
    assert leaktrace("report", captures[name], "--format", "json", *flags).stdout == text


def test_json_rows_checks_its_input() -> None:
    from array import array

    ints = array("Q", [1, 2])
    assert (
        _core.json_rows(2, [("n", "int", ints)], 0)
        == '[\n  {\n    "n": 1\n  },\n  {\n    "n": 2\n  }\n]'
    )
    assert _core.json_rows(0, [("n", "int", ints)], 1) == "[]"
    with pytest.raises(ValueError, match="values for"):
        _core.json_rows(3, [("n", "int", ints)], 0)
    with pytest.raises(TypeError, match="format"):
        _core.json_rows(1, [("n", "int", array("d", [1.0]))], 0)
    with pytest.raises(ValueError, match="enum index"):
        _core.json_rows(1, [("k", "enum", array("B", [3]), ['"a"'])], 0)
    # a stack: the numbers of its frames from the row's node to the root, innermost
    # first, the truncation marker (0xFFFFFFFE) left out
    parent, frame = array("I", [0, 0, 1, 1, 3]), array("I", [0xFFFFFFFF, 0, 2, 0xFFFFFFFE, 1])
    numbers = array("I", [7, 5, 9])
    stack = ("s", "stack", array("I", [2, 4, 0]), parent, frame, numbers)
    assert _core.json_rows(3, [stack], 0, None, True) == (
        '[\n  {"s": [9, 7]},\n  {"s": [5, 7]},\n  {"s": []}\n]'
    )
    with pytest.raises(ValueError, match="has no index"):
        unnumbered = array("I", [7, 5, 0xFFFFFFFF])
        _core.json_rows(1, [("s", "stack", array("I", [2]), parent, frame, unnumbered)], 0)
    with pytest.raises(ValueError, match="has no index"):
        _core.json_rows(1, [("s", "stack", array("I", [2]), parent, frame, numbers[:2])], 0)
    with pytest.raises(ValueError, match="parent must come before"):
        loop = array("I", [0, 1])
        _core.json_rows(1, [("s", "stack", array("I", [1]), loop, frame[:2], numbers)], 0)
    with pytest.raises(ValueError, match="plain ASCII"):
        _core.json_rows(1, [('a"b', "int", ints)], 0)
    # compact: each row as json.dumps(row) writes it, on a line of its own
    series = ("s", "series", array("I", [0, 0xFFFFFFFF]), array("Q", [3, 4]), 2)
    nested = ("o", "object", None, [("n", "int", ints), series])
    rows = [{"n": 1, "o": {"n": 1, "s": [3, 4]}}, {"n": 2, "o": {"n": 2, "s": []}}]
    assert _core.json_rows(2, [("n", "int", ints), nested], 1, None, True) == (
        "[\n" + ",\n".join("    " + json.dumps(r) for r in rows) + "\n  ]"
    )
    assert _core.json_rows(1, [], 0, None, True) == "[\n  {}\n]"
    floats = array("d", [0.1 + 0.2, -1e-9, math.inf, math.nan, 2.5e-5, 1e22])
    text = _core.json_rows(6, [("x", "float", floats, 3), ("y", "float", floats, None)], 0)
    rows = [(round(x, 3), x) for x in floats]
    assert text == json.dumps([{"x": a, "y": b} for a, b in rows], indent=2)
    # Rounded floats of every magnitude, and the edges of the digits written without
    # asking repr(): 15 significant digits, 1e-4, 1e16
    rng = random.Random(5)
    edges = [1e-4, 0.5e-4, 0.00015, 1e16 - 2, 1e15 + 0.5, 123456789012.3456, 5e-324, -0.0]
    many = array("d", [rng.choice((1, -1)) * 10 ** rng.uniform(-8, 18) for _ in range(20_000)])
    many.extend(edges + [x + 0.0005 for x in range(-50, 50)])
    for ndigits in (1, 3, 4, 8):
        text = _core.json_rows(len(many), [("x", "float", many, ndigits)], 0, None, True)
        rows = [json.dumps({"x": round(x, ndigits)}) for x in many]
        assert text == "[\n" + ",\n".join("  " + r for r in rows) + "\n]"


def test_json_rows_rounds_floats_as_python() -> None:
    """repr(round(x, n)) byte for byte, where json_rows rounds in integers (0 <= n <= 4,
    |x| < 1e11) and at the edges of that path: exact ties, the decimals either side of a
    rounding boundary, negatives that round to -0.0, subnormals, the limit."""
    from array import array

    rng = random.Random(14)
    values = [0.0005, 0.00049999999999999, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, -0.0625]
    values += [2.675, 1.0005, 0.0001, 0.00005, -0.00004, -0.0, 0.0, 5e-324, -5e-324]
    values += [2.2250738585072014e-308, 1e11, math.nextafter(1e11, 0), 99999999999.99995]
    values += [123456789.98765, 1e15, 1e16, 9007199254740993.0, 1e300, -1e300]
    # exact binary ties k / 2**j at every place, and their neighbours
    for _ in range(3000):
        tie = rng.randrange(-(10**9), 10**9) / 2 ** rng.randrange(1, 14)
        values += [tie, math.nextafter(tie, math.inf), math.nextafter(tie, -math.inf)]
    # the decimals of a boundary (k + 0.5) / 10**n read as doubles, and their neighbours
    for n in range(6):
        for _ in range(2000):
            edge = (rng.randrange(-(10**11), 10**11) + 0.5) / 10**n
            values += [edge, math.nextafter(edge, math.inf), math.nextafter(edge, -math.inf)]
    # rates and confidences as the report has them, and every magnitude
    values += [rng.uniform(0, 1000) for _ in range(5000)] + [rng.random() for _ in range(5000)]
    values += [rng.choice((1, -1)) * 10 ** rng.uniform(-330, 20) for _ in range(5000)]
    column = array("d", values)
    for ndigits in range(7):
        text = _core.json_rows(len(column), [("x", "float", column, ndigits)], 0, None, True)
        rows = [json.dumps({"x": round(x, ndigits)}) for x in column]
        assert text == "[\n" + ",\n".join("  " + r for r in rows) + "\n]", ndigits


def test_frame_table_numbers_frames_as_the_stacks_first_meet_them() -> None:
    from array import array

    # node: 0 root, 1 f0, 2 f2 < 1, 3 [truncated] < 1, 4 f1 < 3, 5 f3 < 2 (f3 is f1 again)
    parent = array("I", [0, 0, 1, 1, 3, 2])
    frame = array("I", [0xFFFFFFFF, 0, 2, 0xFFFFFFFE, 1, 3])
    same = array("I", [0, 1, 2, 1, 4])  # f3 equals f1; f4 is in no stack
    index, order = _core.frame_table(array("I", [4, 5, 2, 0]), parent, frame, same)
    # row 0: f1, f0; row 1: f3 (= f1), f2; row 2 and the root: nothing new
    assert memoryview(order).cast("I").tolist() == [1, 0, 2]
    assert memoryview(index).cast("I").tolist() == [1, 0, 2, 0, 0xFFFFFFFF]
    empty = _core.frame_table(array("I"), parent, frame, same)
    assert memoryview(empty[1]).cast("I").tolist() == []
    with pytest.raises(ValueError, match="first frame equal"):
        _core.frame_table(array("I", [4]), parent, frame, array("I", [0, 1, 2, 4, 4]))
    with pytest.raises(ValueError, match="out of range"):
        _core.frame_table(array("I", [4]), parent, frame, same[:1])
    with pytest.raises(ValueError, match="outside its tree"):
        _core.frame_table(array("I", [6]), parent, frame, same)
    with pytest.raises(ValueError, match="parent must come before"):
        _core.frame_table(array("I", [1]), array("I", [0, 1]), frame[:2], same)
    with pytest.raises(TypeError, match="format 'I'"):
        _core.frame_table(array("Q", [1]), parent, frame, same)


def test_take_gathers_in_order() -> None:
    from array import array

    values = array("d", [0.5, 1.5, 2.5])
    got = memoryview(_core.take(values, array("I", [2, 0, 2]))).cast("d")
    assert got.tolist() == [2.5, 0.5, 2.5]
    assert _core.take(b"abc", array("I", [1])) == b"b"
    assert _core.take(values, array("I")) == b""
    with pytest.raises(IndexError, match="index 3 of 3"):
        _core.take(values, array("I", [3]))
    with pytest.raises(TypeError, match="uint32"):
        _core.take(values, array("Q", [0]))
    # an index outside the values takes the fill, when there is one
    filled = _core.take(values, array("I", [1, 0xFFFFFFFF]), array("d", [-1.0]))
    assert memoryview(filled).cast("d").tolist() == [1.5, -1.0]
    with pytest.raises(ValueError, match="one item"):
        _core.take(values, array("I", [0]), b"x")
    # every width, copied as values (1, 4, 8 bytes) or by memcpy (2), with a fill
    for code, fill in (("B", 7), ("H", 9), ("I", 2**32 - 1), ("Q", 2**64 - 2), ("q", -3)):
        column = array(code, [1, 2, 3, 0])
        taken = _core.take(column, array("I", [3, 9, 0, 2]), array(code, [fill]))
        assert array(code, taken).tolist() == [0, fill, 1, 3], code


def test_positions_inverts_a_list_of_indexes() -> None:
    from array import array

    where = memoryview(_core.positions(array("I", [4, 0, 2, 9]), 6)).cast("I")
    assert where.tolist() == [1, 0xFFFFFFFF, 2, 0xFFFFFFFF, 0, 0xFFFFFFFF]
    assert _core.positions(array("I"), 0) == b""
    with pytest.raises(TypeError, match="uint32"):
        _core.positions(array("Q", [0]), 1)
    with pytest.raises(ValueError, match="size"):
        _core.positions(array("I"), -1)


# ---- profile formats ----


def reference_nodes_by_size(p: Profile) -> list[int]:
    nodes = [n for n in range(len(p.parent)) if p.alloc_count[n] or p.peak_count[n]]
    nodes.sort(key=lambda n: (-p.live_bytes[n], -p.peak_bytes[n], -p.alloc_bytes[n]))
    return nodes


def stack_of(p: Profile, node: int) -> list[Frame]:
    """Outermost first; the root's own values as NO_FRAME."""
    frames = []
    while node:
        frames.append(p.frames[p.frame[node]])
        node = p.parent[node]
    return frames[::-1] or [NO_FRAME]


def reference_folded(p: Profile) -> bytes:
    lines = []
    for n, value in enumerate(p.live_bytes):
        if value:
            stack = ";".join(frame_label(f) for f in stack_of(p, n)) if n else NO_FRAME.function
            lines.append((value, stack))
    lines.sort(key=lambda item: (-item[0], item[1]))
    return "".join(f"{stack} {value}\n" for value, stack in lines).encode()


def reference_pprof_samples(
    p: Profile, labels: list[bytes | None] | None = None
) -> tuple[bytes, list[Frame]]:
    """The encoded samples (each ending with its node's labels, when given) and the frame
    of each location id, in id order."""
    v, field = pprof_report.varint, pprof_report._bytes_field
    ids: dict[tuple[str, str, int], int] = {}
    located: list[Frame] = []
    out = b""
    for node in reference_nodes_by_size(p):
        if not p.alloc_count[node]:
            continue
        packed = b""
        for f in stack_of(p, node)[::-1] if node else [NO_FRAME]:
            key = (f.function, f.file, f.line)
            if key not in ids:
                ids[key] = len(ids) + 1
                located.append(f)
            packed += v(ids[key])
        values = (p.alloc_count[node], p.alloc_bytes[node], p.live_count[node], p.live_bytes[node])
        sample = field(1, packed) + field(2, b"".join(map(v, values)))
        if labels is not None and labels[node] is not None:
            sample += labels[node]
        out += field(2, sample)
    return out, located


def reference_speedscope(p: Profile) -> dict[str, object]:
    index: dict[int, int] = {}
    numbered: list[Frame] = []
    stacks = {}
    order = reference_nodes_by_size(p)
    for n in order:
        stack = []
        chain = stack_of(p, n)
        keys = [p.frame[c] for c in _chain(p, n)][::-1] if n else [-1]
        for key, frame in zip(keys, chain, strict=True):
            if key not in index:
                index[key] = len(numbered)
                numbered.append(frame)
            stack.append(index[key])
        stacks[n] = stack
    weights = [p.live_bytes, p.peak_bytes, p.alloc_bytes]
    return {
        "frames": numbered,
        "samples": [[stacks[n] for n in order if w[n]] for w in weights],
        "weights": [[w[n] for n in order if w[n]] for w in weights],
    }


def _chain(p: Profile, node: int) -> list[int]:
    out = []
    while node:
        out.append(node)
        node = p.parent[node]
    return out


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("include_all", [False, True])
def test_profile_writers_match_their_references(
    captures: dict[str, Path], name: str, include_all: bool
) -> None:
    p = load_profile(captures[name], include_all=include_all)
    assert list(p.nodes_by_size()) == reference_nodes_by_size(p)
    _, folded = export(captures[name], "collapsed", include_all=include_all)
    assert folded == reference_folded(p)
    assert folded.count(b"\n") > 100
    parent, frame = p.tree_arrays()
    keys: dict[tuple[str, str, int], int] = {}
    frame_location = [keys.setdefault((f.function, f.file, f.line), len(keys)) for f in p.frames]
    root = keys.setdefault((NO_FRAME.function, NO_FRAME.file, NO_FRAME.line), len(keys))
    from array import array

    samples, order = _core.pprof_samples(
        p.nodes_by_size(),
        parent,
        frame,
        *(array("Q", x) for x in (p.alloc_count, p.alloc_bytes, p.live_count, p.live_bytes)),
        array("I", frame_location),
        root,
    )
    want_samples, located = reference_pprof_samples(p)
    assert samples == want_samples
    by_key = {k: f for f in [*p.frames, NO_FRAME] for k in [keys[f.function, f.file, f.line]]}
    assert [by_key[k] for k in memoryview(order).cast("I")] == [
        by_key[keys[f.function, f.file, f.line]] for f in located
    ]
    # With each node's verdict labels, as the pprof report writes them.
    labels = pprof_report._verdict_label_list(p, len(parent), pprof_report._Strings())
    assert any(labels)
    labelled, _ = _core.pprof_samples(
        p.nodes_by_size(),
        parent,
        frame,
        *(array("Q", x) for x in (p.alloc_count, p.alloc_bytes, p.live_count, p.live_bytes)),
        array("I", frame_location),
        root,
        labels,
    )
    assert labelled == reference_pprof_samples(p, labels)[0]
    message = gzip.decompress(export(captures[name], "pprof", include_all=include_all)[1])
    assert len(message) > len(labelled)
    doc = json.loads(export(captures[name], "speedscope", include_all=include_all)[1])
    want = reference_speedscope(p)
    assert [s["samples"] for s in doc["profiles"]] == want["samples"]
    assert [s["weights"] for s in doc["profiles"]] == want["weights"]
    assert [s["endValue"] for s in doc["profiles"]] == [sum(w) for w in want["weights"]]
    assert [f["name"] for f in doc["shared"]["frames"]] == [f.function for f in want["frames"]]


@pytest.mark.parametrize("name", CAPTURES)
def test_html_tree_matches_its_reference(captures: dict[str, Path], name: str) -> None:
    p = load_profile(captures[name])
    count = len(p.parent)
    weight = [p.live_bytes[n] + p.peak_bytes[n] for n in range(count)]
    for n in range(count - 1, 0, -1):
        weight[p.parent[n]] += weight[n]
    kept = [n for n in range(count) if weight[n] or n == 0]
    number = {n: i for i, n in enumerate(kept)}
    frames = _Frames()
    tree = _tree(p, frames)
    assert list(tree["parent"]) == [number[p.parent[n]] for n in kept]
    assert list(tree["leaked"]) == [p.live_bytes[n] for n in kept]
    assert list(tree["peakCount"]) == [p.peak_count[n] for n in kept]
    for column in tree.values():
        assert json.loads(_core.json_ints(column)) == list(column)
    names = [-1 if p.frame[n] < 0 else p.frames[p.frame[n]].function for n in kept]
    assert [-1 if f < 0 else frames.rows[f][0] for f in tree["frame"]] == names
    assert len(kept) < count or all(weight)


def test_profile_writers_check_their_input() -> None:
    from array import array

    parent, frame = array("I", [0, 0, 5]), array("i", [-1, 0, 0])
    values = array("Q", [0, 1, 1])
    with pytest.raises(ValueError, match="parent must come before"):
        _core.folded(parent, frame, values, [b"a"], "root")
    with pytest.raises(ValueError, match="frame is out of range"):
        _core.folded(array("I", [0, 0]), array("i", [-1, 4]), values, [b"a"], "root")
    with pytest.raises(TypeError, match="format"):
        _core.rank_nodes(array("I", [1]), values, values, values, values)
    with pytest.raises(ValueError, match="values"):
        _core.rank_nodes(values, array("Q", [1]), values, values, values)


@pytest.mark.parametrize(
    "labels",
    [
        [b"f", b"f (x)", b"g"],  # a sibling's label a prefix of another's: texts compared
        [b"a", b"b", b"c"],  # the tree's order
        [b"f", b"f", b"g"],  # equal labels of two siblings
        [b"[no Python frame]x", b"b", b"c"],  # the root's own line's label a prefix
    ],
)
def test_folded_orders_as_python_sorts(labels: list[bytes]) -> None:
    from array import array

    # 0 -> 1 -> 3, 0 -> 2 -> 4, 0 -> 5 -> 6; every node and the root leaked, ties
    parent = array("I", [0, 0, 0, 1, 2, 0, 5])
    frame = array("i", [-1, 0, 1, 2, 2, 2, 0])
    live = array("Q", [5, 5, 5, 5, 5, 9, 5])
    texts = {}
    for n in range(len(parent)):
        chain = []
        m = n
        while m:
            chain.append(labels[frame[m]].decode())
            m = parent[m]
        texts[n] = ";".join(reversed(chain)) or "[no Python frame]"
    lines = sorted((-live[n], texts[n]) for n in range(len(parent)))
    want = "".join(f"{text} {-value}\n" for value, text in lines).encode()
    assert _core.folded(parent, frame, live, labels, b"[no Python frame]") == want

"""The side of ``leaktrace attach`` that runs inside the attached process.

``leaktrace attach/snapshot/detach PID`` inject a call of serve() (see _inject) with a
directory holding the request (request.json); serve() answers in the request's result
file, as one JSON object, and never raises: an exception would print a traceback in
the target's stderr. Everything it allocates is in its own frames, which the reports
of an attached capture leave out.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from . import _core, session

_capture: str | None = None  # the capture of the session that attach started


def _start(request: dict[str, object]) -> dict[str, object]:
    global _capture
    if _core.is_tracking():
        raise RuntimeError("leaktrace is already tracking in this process")
    options = session.Options.from_dict(request["options"])
    argv = " ".join(sys.orig_argv)
    session.begin(options, f"{argv} (attached at pid {os.getpid()})", attached=True)
    _capture = options.output
    return {"capture": options.output}


def _require_session() -> str:
    if _capture is None or not _core.is_tracking():
        raise RuntimeError("leaktrace attach is not tracking this process")
    return _capture


def _snapshot(request: dict[str, object]) -> dict[str, object]:
    capture = _require_session()
    seq = _core.snapshot(str(request.get("label") or "leaktrace snapshot"))
    return {"capture": capture, "seq": seq}


def _stop(request: dict[str, object]) -> dict[str, object]:
    global _capture
    capture = _require_session()
    gc.collect()
    session.end()
    _capture = None
    return {"capture": capture}


_COMMANDS = {"start": _start, "snapshot": _snapshot, "stop": _stop}


def serve(workdir: str) -> None:
    result = os.path.join(workdir, "result.json")
    try:
        with open(os.path.join(workdir, "request.json"), encoding="utf-8") as f:
            request = json.load(f)
        result = str(request["result"])
        answer = {"ok": True, **_COMMANDS[str(request["command"])](request)}
    except Exception as e:
        answer = {"ok": False, "error": str(e) or type(e).__name__}
    # json.dumps, not json.dump: the pure-Python encoder of dump leaves reference
    # cycles behind in the process.
    with open(result, "w", encoding="utf-8") as f:
        f.write(json.dumps(answer))

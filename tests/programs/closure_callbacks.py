"""Leaky program: closures capturing large data stay registered as listeners.

Usage: python closure_callbacks.py [WIDGETS] [SNAPSHOT_SIZE]

Each rendered widget subscribes a callback that closes over a snapshot of its
state. Widgets are discarded, but the callbacks are never unsubscribed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

WIDGETS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SNAPSHOT_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024

_listeners: list[Callable[[str], int]] = []


def subscribe(widget_id: int) -> None:
    snapshot = widget_id.to_bytes(4, "little") * (SNAPSHOT_SIZE // 4)  # LEAK-SITE

    def on_event(event: str) -> int:
        return len(snapshot) + len(event) + widget_id

    _listeners.append(on_event)


def render_widget(widget_id: int) -> str:
    subscribe(widget_id)
    return f"<widget id={widget_id}>"


def main() -> None:
    html = [render_widget(widget_id) for widget_id in range(WIDGETS)]
    html.clear()
    handled = sum(listener("resize") for listener in _listeners)
    print(f"rendered {WIDGETS} widgets, {len(_listeners)} listeners, event total {handled}")


main()

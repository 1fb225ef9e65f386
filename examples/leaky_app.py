"""leaky_app.py - a small simulated web service with two real memory leaks.

Try it with leaktrace:

    python -m leaktrace run examples/leaky_app.py
    python -m leaktrace run -o leaky.capture examples/leaky_app.py --requests 5000

The service handles a stream of requests for user profiles and search results.
Most of what it allocates is healthy churn: request parsing, JSON rendering, a
bounded session cache, metrics. Two bugs keep memory alive forever:

1. ``ProfileRenderer`` caches rendered pages in a dict that lives on the class,
   keyed by ``(user, request id)``, so every request adds an entry that is never
   reused or evicted.
2. Every ``RequestHandler`` subscribes to config-change events on the global
   ``EventBus`` and never unsubscribes, so every handler (and the response body
   it holds) stays reachable through the listener list.

The two lines that allocate the leaked memory carry a LEAK-SITE comment so the
report can be checked against them.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

USERS = [f"user{n:03d}" for n in range(250)]
PATHS = ["/profile", "/search", "/search", "/health"]
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


@dataclass
class Request:
    request_id: int
    user: str
    path: str
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: bytes


class EventBus:
    """Publish/subscribe hub shared by the whole service."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str], None]) -> None:
        self._listeners.remove(listener)

    def publish(self, event: str) -> int:
        for listener in list(self._listeners):
            listener(event)
        return len(self._listeners)


BUS = EventBus()


class SessionCache:
    """A correctly bounded LRU of session tokens (healthy)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._tokens: OrderedDict[str, str] = OrderedDict()

    def token_for(self, user: str) -> str:
        token = self._tokens.get(user)
        if token is None:
            token = f"tok-{abs(hash(user)) % 10**12:012d}"
            self._tokens[user] = token
            if len(self._tokens) > self.limit:
                self._tokens.popitem(last=False)
        else:
            self._tokens.move_to_end(user)
        return token

    def __len__(self) -> int:
        return len(self._tokens)


class ProfileRenderer:
    # Bug 1: shared by every instance, never evicted, and the key includes the
    # request id, so a cached page is never looked up again.
    _pages: ClassVar[dict[tuple[str, int], bytes]] = {}

    def render(self, request: Request) -> bytes:
        key = (request.user, request.request_id)
        page = self._pages.get(key)
        if page is None:
            rows = [
                f"<li>{WORDS[(request.request_id + i) % len(WORDS)]} #{i}</li>" for i in range(160)
            ]
            html = f"<html><h1>{request.user}</h1><ul>{''.join(rows)}</ul></html>"
            page = html.encode()  # LEAK-SITE
            self._pages[key] = page
        return page


class RequestHandler:
    def __init__(self, request: Request, sessions: SessionCache, rng: random.Random) -> None:
        self.request = request
        self.sessions = sessions
        self.rng = rng
        self.response: Response | None = None
        self.stale = False
        # Bug 2: subscribed for the lifetime of the request but never removed.
        BUS.subscribe(self.on_config_change)

    def on_config_change(self, event: str) -> None:
        self.stale = True

    def handle(self) -> Response:
        token = self.sessions.token_for(self.request.user)
        if self.request.path == "/health":
            self.response = Response(200, b"ok")
        elif self.request.path == "/profile":
            self.response = Response(200, ProfileRenderer().render(self.request))
        else:
            self.response = Response(200, self.search(token))
        return self.response

    def search(self, token: str) -> bytes:
        term = self.request.query.get("q", "")
        hits = [
            {"rank": rank, "title": f"{term} result {rank}", "score": self.rng.random()}
            for rank in range(40)
        ]
        document = {"token": token, "query": term, "hits": hits}
        return json.dumps(document).encode()  # LEAK-SITE


def parse_request(request_id: int, raw: str) -> Request:
    data = json.loads(raw)
    return Request(request_id, data["user"], data["path"], data.get("query", {}))


def incoming_requests(count: int, rng: random.Random) -> list[str]:
    raw = []
    for _ in range(count):
        message: dict[str, object] = {"user": rng.choice(USERS), "path": rng.choice(PATHS)}
        if message["path"] == "/search":
            message["query"] = {"q": " ".join(rng.sample(WORDS, 2))}
        raw.append(json.dumps(message))
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated web service with two leaks.")
    parser.add_argument("--requests", type=int, default=5000, help="requests to serve")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    sessions = SessionCache(limit=100)
    statuses: Counter[int] = Counter()
    per_path: Counter[str] = Counter()
    bytes_served = 0

    for request_id, raw in enumerate(incoming_requests(args.requests, rng)):
        request = parse_request(request_id, raw)
        response = RequestHandler(request, sessions, rng).handle()
        statuses[response.status] += 1
        per_path[request.path] += 1
        bytes_served += len(response.body)

    notified = BUS.publish("config-reloaded")
    print(f"served {sum(statuses.values())} requests ({bytes_served / 1e6:.1f} MB of responses)")
    print("by path: " + ", ".join(f"{path}={n}" for path, n in sorted(per_path.items())))
    print(f"sessions cached: {len(sessions)} (bounded)")
    print(f"profile pages cached: {len(ProfileRenderer._pages)}")
    print(f"config listeners notified: {notified}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Leaky program: finished asyncio tasks stay in a module-level set.

Usage: python asyncio_tasks.py [TASKS] [RESULT_SIZE]

The set keeps a strong reference to every task (as the asyncio documentation
advises, so that tasks are not collected mid-flight), but nothing discards them
when they finish, so every task and its result live on.
"""

from __future__ import annotations

import asyncio
import sys

TASKS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
RESULT_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 32 * 1024

_background: set[asyncio.Task[bytes]] = set()


async def fetch(item: int) -> bytes:
    await asyncio.sleep(0)
    return item.to_bytes(4, "little") * (RESULT_SIZE // 4)  # LEAK-SITE


async def main() -> None:
    for item in range(TASKS):
        _background.add(asyncio.create_task(fetch(item)))
    await asyncio.gather(*_background)
    print(f"fetched {TASKS} items, {len(_background)} tasks kept")


asyncio.run(main())

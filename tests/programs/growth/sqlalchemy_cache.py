"""Real SQLAlchemy: many distinct statements through an engine's compiled cache.

The engine keeps compiled statements in a sqlalchemy.util.LRUCache of
query_cache_size entries (pruned back to it past 1.5 times that): bounded, and the
verdict reads its capacity. Not run by bench/growth_accuracy.py (its allocations are
inside SQLAlchemy); tests/e2e/test_growth_programs.py checks it.

Usage: python sqlalchemy_cache.py [STATEMENTS] [CACHE_SIZE]
"""

from __future__ import annotations

import sys

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

STATEMENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
CACHE_SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 200

metadata = MetaData()
users = Table("users", metadata, Column("id", Integer, primary_key=True), Column("name", String))
engine = create_engine("sqlite://", query_cache_size=CACHE_SIZE)


def main() -> None:
    metadata.create_all(engine)
    rows = 0
    with engine.connect() as conn:
        for i in range(STATEMENTS):
            # a distinct label makes a distinct cache key: one compiled entry each
            statement = select(users.c.id.label(f"id_{i % 1500}"), users.c.name)
            rows += len(conn.execute(statement).fetchall())
    print(rows >= 0, len(engine._compiled_cache))


main()

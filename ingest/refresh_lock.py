"""One refresh at a time: a Postgres advisory lock shared by `payops refresh`, the hourly schedule's steps and
the sensor-launched processing.

Two refreshes at once failed each other on duplicate keys (two dbt builds merging the same incremental models).
The lock lives on a connection of its own, so it ends with its holder even if that process dies. It is
re-entrant within a process: `payops refresh` holds it for the whole run and the steps it runs in-process pass
through; the schedule's steps, each in its own process, take it one by one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa

LOCK_KEY = "hashtext('payops.refresh')"

class _Held:
    """How deep this process is inside the lock: process-wide, since the in-process executor may run steps on
    other threads than the one that took it."""

    depth = 0
    guard = threading.Lock()


_held = _Held()


def refresh_started_at(engine: sa.Engine) -> datetime | None:
    """When the session holding the refresh lock took it (its connection's start), or None when it is free."""
    with engine.connect() as conn:
        return conn.execute(sa.text(f"""
            select activity.backend_start
            from pg_locks as locks
            join pg_stat_activity as activity using (pid)
            where locks.locktype = 'advisory' and locks.granted
              -- a bigint key shows as its high and low 32 bits
              and locks.classid::text::bigint = (({LOCK_KEY})::bigint >> 32) & 4294967295
              and locks.objid::text::bigint = ({LOCK_KEY})::bigint & 4294967295 and locks.objsubid = 1
        """)).scalar()


@contextmanager
def refresh_lock(engine: sa.Engine, on_wait: Callable[[datetime | None], None] = lambda since: None,
                 *, wait: bool = True) -> Iterator[bool]:
    """Hold the refresh lock for the block; yields False (at once) when `wait` is off and another holds it.

    `on_wait(since)` is called once before waiting, with when the other refresh started."""
    with _Held.guard:
        inside = _held.depth > 0
        if inside:
            _held.depth += 1
    if inside:
        try:
            yield True
        finally:
            with _Held.guard:
                _held.depth -= 1
        return
    conn = engine.connect()
    try:
        taken = conn.execute(sa.text(f"select pg_try_advisory_lock({LOCK_KEY})")).scalar()
        conn.commit()
        if not taken:
            on_wait(refresh_started_at(engine))
            if not wait:
                yield False
                return
            conn.execute(sa.text(f"select pg_advisory_lock({LOCK_KEY})"))
            conn.commit()
        _held.depth = 1
        try:
            yield True
        finally:
            _held.depth = 0
            conn.execute(sa.text(f"select pg_advisory_unlock({LOCK_KEY})"))
            conn.commit()
    finally:
        conn.close()

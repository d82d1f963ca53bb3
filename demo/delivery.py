"""Webhook delivery as it really happens, written to the landing folder in arrival order.

Most events arrive within seconds of `created`; some only after Stripe retried a failed delivery with back-off
(minutes up to 3 days), which puts them after later events of the same object; and a few arrive twice, as
byte-identical copies, possibly far apart. Sorting by arrival is an external merge sort (sorted runs spilled to
disk, then merged), so memory stays constant however many events there are.
"""

from __future__ import annotations

import heapq
import math
import random
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import orjson

RETRIED_SHARE = 0.03
DUPLICATE_SHARE = 0.02
MAX_RETRY_DELAY = 3 * 86_400
RUN_BYTES = 32 * 1024 * 1024
EVENTS_PER_JSONL = 100_000
FILES_PER_FOLDER = 10_000
OUTPUT_GLOB = "events-*"


def _log_uniform(rng: random.Random, low: float, high: float) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


class ArrivalOrder:
    """Collects serialized events with their arrival second and yields them back sorted by arrival."""

    def __init__(self, rng: random.Random, work_dir: Path) -> None:
        self._rng = rng
        self._work_dir = work_dir
        self._runs: list[Path] = []
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._sequence = 0
        self.unique = 0
        self.written = 0

    def deliver(self, event: dict[str, Any], *, late_by: int | None, twice: bool) -> None:
        body = orjson.dumps(event)
        first = event["created"] + (late_by if late_by is not None else self._latency())
        self._add(first, event["id"], body)
        self.unique += 1
        if twice or self._rng.random() < DUPLICATE_SHARE:
            self._add(first + _log_uniform(self._rng, 1, 2 * 86_400), event["id"], body)

    def _latency(self) -> int:
        if self._rng.random() < RETRIED_SHARE:
            return _log_uniform(self._rng, 60, MAX_RETRY_DELAY)
        return self._rng.randint(0, 2)

    def _add(self, arrival: int, event_id: str, body: bytes) -> None:
        # Fixed-width arrival and sequence make byte order equal arrival order (ties: the order events were made).
        line = b"%011d%012d %s %s\n" % (arrival, self._sequence, event_id.encode(), body)
        self._sequence += 1
        self.written += 1
        self._buffer.append(line)
        self._buffered_bytes += len(line)
        if self._buffered_bytes >= RUN_BYTES:
            self._spill()

    def _spill(self) -> None:
        run = self._work_dir / f"run-{len(self._runs):05d}"
        self._buffer.sort()
        run.write_bytes(b"".join(self._buffer))
        self._runs.append(run)
        self._buffer.clear()
        self._buffered_bytes = 0

    def arrivals(self) -> Iterator[tuple[str, bytes]]:
        """(event id, JSON body) in arrival order."""
        self._spill()
        with ExitStack() as stack:
            runs = [stack.enter_context(run.open("rb", buffering=256 * 1024)) for run in self._runs]
            for line in heapq.merge(*runs):
                _, event_id, body = line.rstrip(b"\n").split(b" ", 2)
                yield event_id.decode(), body


class JsonlSink:
    """events-0001.jsonl, events-0002.jsonl, ...: one event per line, EVENTS_PER_JSONL lines per file."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir
        self._file: Any = None
        self._lines = 0
        self.files = 0

    def write(self, event_id: str, body: bytes) -> None:
        if self._file is None or self._lines == EVENTS_PER_JSONL:
            self.close()
            self.files += 1
            self._file = (self._out_dir / f"events-{self.files:04d}.jsonl").open("wb")
            self._lines = 0
        self._file.write(body + b"\n")
        self._lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class FilesSink:
    """events-0001/<event id>.json, ...: one file per event, at most FILES_PER_FOLDER per folder. A duplicate
    delivery has its original's name, so it starts a new folder when the original is in the current one."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir
        self._folder = out_dir
        self._names: set[str] = set()
        self._folders = 0
        self.files = 0

    def write(self, event_id: str, body: bytes) -> None:
        if self._folders == 0 or len(self._names) == FILES_PER_FOLDER or event_id in self._names:
            self._folders += 1
            self._folder = self._out_dir / f"events-{self._folders:04d}"
            self._folder.mkdir()
            self._names.clear()
        (self._folder / f"{event_id}.json").write_bytes(body)
        self._names.add(event_id)
        self.files += 1

    def close(self) -> None:
        """Nothing stays open between events."""


def open_sink(staging_dir: Path, fmt: Literal["jsonl", "files"]) -> JsonlSink | FilesSink:
    """A sink writing beside the landing folder; `publish` moves its files in once the whole run succeeded."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    return JsonlSink(staging_dir) if fmt == "jsonl" else FilesSink(staging_dir)


def publish(staging_dir: Path, out_dir: Path) -> None:
    """Replace the earlier generated output in `out_dir` by this run's: only once it is complete, so a failed
    run leaves the earlier files as they were (they would mix with this run's otherwise)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(OUTPUT_GLOB):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.suffix == ".jsonl":
            old.unlink()
    for new in sorted(staging_dir.glob(OUTPUT_GLOB)):
        new.rename(out_dir / new.name)

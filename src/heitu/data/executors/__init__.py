"""Executors run shard tasks; they only schedule, the work itself is `runner.run_shard_task`."""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

from heitu.data.runner import ShardTask

ProgressSink = Callable[[int, int, int], None]


class Executor(Protocol):
    kind: str
    workers: int

    def map(self, tasks: list[ShardTask], progress: ProgressSink) -> Iterator[dict]:
        """Run every task; yield each task's stats as it finishes (any order)."""
        ...

    def describe(self) -> dict:
        """What the manifest records about where the run ran."""
        ...

    def close(self) -> None: ...

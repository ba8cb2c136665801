"""Local executor: a process pool over shards (in-process when workers == 1)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterator

from heitu.data.runner import ShardTask, run_shard_task

_progress_queue = None


def _init_worker(q) -> None:
    global _progress_queue
    _progress_queue = q
    try:  # die with the parent: a killed run must not leave workers writing into its output
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover - not Linux
        pass


def _report(docs: int, nbytes: int, errors: int) -> None:
    _progress_queue.put((docs, nbytes, errors))


def _run(task: ShardTask) -> dict:
    return run_shard_task(task, _report)


class LocalExecutor:
    kind = "local"

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        self._manager = None
        self._queue = None

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.workers, "cpus": os.cpu_count()}

    def _ensure_pool(self) -> None:
        if self._pool is not None:
            return
        ctx = mp.get_context("spawn")  # fork after polars/arrow threads start can deadlock
        self._queue = ctx.Queue()
        # one polars thread per worker: the parallelism is across workers
        old = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(self._queue,))
        finally:
            if old is None:
                os.environ.pop("POLARS_MAX_THREADS", None)
            else:
                os.environ["POLARS_MAX_THREADS"] = old

    def map(self, tasks: list[ShardTask], progress) -> Iterator[dict]:
        if self.workers == 1:
            for task in tasks:
                yield run_shard_task(task, progress)
            return
        self._ensure_pool()
        stop = threading.Event()

        def pump() -> None:
            while not stop.is_set():
                try:
                    progress(*self._queue.get(timeout=0.1))
                except queue.Empty:
                    continue

        pumper = threading.Thread(target=pump, daemon=True)
        pumper.start()
        try:
            pending = {self._pool.submit(_run, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
        finally:
            stop.set()
            pumper.join()
            while True:  # drain what the workers reported last
                try:
                    progress(*self._queue.get_nowait())
                except queue.Empty:
                    break

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

"""Ray executor: the same shard tasks as the local executor, scheduled on a Ray cluster.

One Ray task per `ShardTask`, each calling `runner.run_shard_task` — exactly the code the local
process pool runs, so a run gives the same files (and the same dataset version id) on either.

Why Ray tasks and not Ray Data: the data engine already has its own contract for where every
document goes — one task per input shard and stage, every file written under a temp name and
renamed when complete, a done marker last, a task that cleans up its own earlier partial files
so it can simply be run again, and resume by done markers. Ray Data would bring its own
partitioning, its own block format and its own writers, and with them a second answer to "which
file holds which document, and what happens when a worker dies half-way". Here Ray only
schedules: it places tasks on nodes, and re-runs a task whose worker or node died
(``max_retries``; ``retry_exceptions=False``, so a task that *raises* — bad input, --max-errors —
fails the run instead of being retried). Re-running is safe because a task is idempotent.

Requirements:

* the output folder must be on a filesystem every node sees under the same path (NFS, a shared
  volume; on one machine it trivially is), and so must the inputs;
* every node needs heitu (same version) and its extras installed in the Python the cluster runs.

Progress is reported per finished task (its documents, text bytes and read errors, from the
task's stats): exact even when a killed task is re-run, which live counts from inside tasks
would not be. Worker output goes to Ray's session logs, not the terminal. The global-step plans
(`runner.run_global_plan`) run on the driver.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from heitu.core.errors import UserError, require
from heitu.data.runner import ShardTask, run_shard_task


def heitu_shard_task(task: ShardTask) -> dict[str, Any]:
    """The Ray task (its worker process is titled ``ray::heitu_shard_task`` while it runs)."""
    return run_shard_task(task, None)


class RayExecutor:
    kind = "ray"

    def __init__(self, workers: int = 1, address: str | None = None, max_retries: int = 3):
        self.workers = max(1, int(workers))
        self.address = address or None
        self.max_retries = max(0, int(max_retries))
        self._ray = require("ray", extra="ray", feature="The Ray executor")
        self._owns_connection = False
        self._info: dict[str, Any] = {"nodes": 0, "cpus": 0}
        self._connect()
        self._remote = self._ray.remote(heitu_shard_task).options(
            num_cpus=1,
            max_retries=self.max_retries,
            retry_exceptions=False,
            # one polars thread per task: the parallelism is across tasks (as in the local pool)
            runtime_env={"env_vars": {"POLARS_MAX_THREADS": "1"}},
        )

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():  # a session the caller opened (e.g. a notebook): use it, leave it open
            self._snapshot()
            return
        common = {"logging_level": logging.WARNING, "log_to_driver": False}
        try:
            if self.address:
                ray.init(address=self.address, **common)
            else:
                # address="local": always a new instance, never an existing cluster found through
                # RAY_ADDRESS or /tmp/ray/ray_current_cluster
                ray.init(address="local", num_cpus=self.workers, include_dashboard=False, **common)
        except ConnectionError as exc:
            raise UserError(f"cannot connect to the Ray cluster at {self.address}: {exc}") from exc
        self._owns_connection = True
        self._snapshot()

    def _snapshot(self) -> None:
        ray = self._ray
        try:
            nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
            cpus = ray.cluster_resources().get("CPU", 0)
        except Exception:  # the manifest gets the last figures we had
            return
        self._info = {"nodes": nodes, "cpus": int(cpus) if float(cpus).is_integer() else cpus}

    def describe(self) -> dict:
        return {"kind": self.kind, "workers": self.workers, "nodes": self._info["nodes"],
                "cpus": self._info["cpus"], "address": self.address or "local"}

    def map(self, tasks: list[ShardTask], progress) -> Iterator[dict]:
        if not tasks:
            return
        ray = self._ray
        from ray.exceptions import RayError, RayTaskError

        self._snapshot()
        pending = [self._remote.remote(t) for t in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        stats = ray.get(ref)
                    except RayTaskError as exc:  # the task raised: no retry, the run stops
                        if isinstance(exc.cause, UserError):
                            raise exc.cause from None
                        raise
                    except RayError as exc:  # worker or node died more than max_retries times
                        raise UserError(
                            f"a Ray task died {self.max_retries + 1} times ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); finished shards are kept "
                            f"in {tasks[0].root}: run again with --resume") from exc
                    progress(stats["docs_in"], stats["text_bytes"], stats["errors"])
                    yield stats
        finally:
            for ref in pending:  # the run stopped early: nothing may keep writing into its output
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            self._snapshot()

    def close(self) -> None:
        if self._owns_connection and self._ray.is_initialized():
            self._snapshot()
            self._ray.shutdown()
        self._owns_connection = False


__all__ = ["RayExecutor", "heitu_shard_task"]

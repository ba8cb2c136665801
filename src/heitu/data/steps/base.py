"""The step protocol. Documents move through steps as Arrow record batches.

A step author writes one method:

- ``Annotator.annotate(batch, cache) -> {column: array}``: adds signal columns (versioned names,
  e.g. ``gopher_word_count_v1``). Signals are computed once; selectors and the quality report
  read the same columns.
- ``Transform.transform(batch, cache) -> batch``: rewrites ``text`` (and may add count columns).
- ``Filter.keep(batch, cache) -> (mask, reasons)``: ``mask[i]`` is True to keep row i; for a
  dropped row ``reasons[i]`` is a short stable string (``"gopher_short_doc"``).
- ``GlobalStep``: needs the whole dataset (dedup). ``index`` computes per-document key columns
  while streaming; ``plan`` sees the index of every document and returns the rows to drop.

``cache`` is a dict shared by all steps for one batch, so expensive shared features (lines,
words) are computed once per batch. Its values must be row-aligned with the batch: a list or a
numpy array with one entry per row. When a filter drops rows the runner filters every cached
list/array with the same mask (other values are discarded). A step that changes ``text`` must
clear the cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

STEP_TYPES: dict[str, type["Step"]] = {}


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def register(type_name: str):
    """Class decorator: make a step type available to pipeline specs under `type_name`."""

    def deco(cls: type[Step]) -> type[Step]:
        cls.type_name = type_name
        STEP_TYPES[type_name] = cls
        return cls

    return deco


class Step(ABC):
    type_name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, name: str, params: BaseModel | None = None):
        self.name = name
        self.params = params if params is not None else self.Params()

    def output_columns(self) -> list[str]:
        """Signal/count columns this step adds (recorded in the ledger and the manifest)."""
        return []

    def artifacts(self) -> list[Path]:
        """Files the step's results depend on (e.g. a quality model): copied into the dataset
        version under ``artifacts/STEP/`` and checksummed in its manifest."""
        return []

    def __repr__(self) -> str:  # pragma: no cover
        return f"{type(self).__name__}({self.name!r})"


class Annotator(Step):
    kind = "annotate"

    @abstractmethod
    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        ...


class Transform(Step):
    kind = "transform"

    @abstractmethod
    def transform(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> pa.RecordBatch:
        ...


class Filter(Step):
    kind = "filter"

    @abstractmethod
    def keep(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> tuple[np.ndarray, list[str | None]]:
        ...

    def decided_by(self, reason: str) -> list[str]:
        """Columns whose values decided a drop for `reason` (shown by `heitu data explain`)."""
        return []


class GlobalStep(Step):
    kind = "global"
    spill_dir: "Any" = None
    """Where `plan` may spill to disk (set by the runner to a folder of the run; the system
    temporary folder otherwise)."""
    staged_files: "Any" = None
    """The parquet files behind `plan`'s index frame, when the runner staged them (a plan may
    stream them directly instead of going through the frame)."""

    @abstractmethod
    def index(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        """Per-document index columns (e.g. a text hash), computed while streaming."""
        ...

    def plan_columns(self) -> list[str]:
        """Columns of the staged documents `plan` reads besides ``_shard``, ``_row``, ``id``:
        the index columns, plus any signal a keep policy needs."""
        return self.output_columns()

    @abstractmethod
    def plan(self, index: "Any") -> "Any":
        """Given a polars LazyFrame with columns ``_shard``, ``_row`` (source order) and the
        index columns of every document, return a polars DataFrame of the rows to drop with
        columns ``_shard``, ``_row``, ``reason`` and ``dup_of`` (id of the kept document)."""
        ...


def with_columns(batch: pa.RecordBatch, cols: dict[str, pa.Array | np.ndarray]) -> pa.RecordBatch:
    """Append or replace columns on a record batch."""
    names = list(batch.schema.names)
    arrays = list(batch.columns)
    for name, arr in cols.items():
        if not isinstance(arr, (pa.Array, pa.ChunkedArray)):
            arr = pa.array(arr)
        if name in names:
            arrays[names.index(name)] = arr
        else:
            names.append(name)
            arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=names)

"""Declarative selectors: keep/drop by predicates over signal columns.

    - name: zh_quality
      type: select
      params:
        rules:
          - {reason: not_chinese, keep: "zh_cjk_ratio_v1 >= 0.3"}

Each `keep` is a SQL expression (parsed by polars, never eval'd). A document is kept when every
rule holds; otherwise the first failing rule's `reason` is recorded. A rule whose signal is null
(not applicable to the document) holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from heitu.core.errors import UserError
from heitu.data.steps.base import Filter, register


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(pattern=r"^[a-z0-9_]+$")
    """Short stable reason recorded for documents this rule drops."""
    keep: str
    """SQL predicate over signal columns; documents for which it is false are dropped."""


class SelectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(min_length=1)


@register("select")
class Select(Filter):
    Params = SelectParams

    def __init__(self, name: str, params: SelectParams):
        super().__init__(name, params)
        self._exprs: list[pl.Expr] = []
        self._columns: dict[str, list[str]] = {}
        for rule in params.rules:
            try:
                expr = pl.sql_expr(rule.keep)
                cols = expr.meta.root_names()
            except Exception as exc:  # polars raises several error types for bad SQL
                raise UserError(f"rule '{rule.reason}': cannot parse keep expression {rule.keep!r}: {exc}") from exc
            self._exprs.append(expr.fill_null(True).alias(rule.reason))
            self._columns[rule.reason] = cols
        if len({r.reason for r in params.rules}) != len(params.rules):
            raise UserError("two rules share a reason; reasons must be unique within a select step")
        self._needed = sorted({c for cols in self._columns.values() for c in cols})

    def decided_by(self, reason: str) -> list[str]:
        return self._columns.get(reason, [])

    def keep(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> tuple[np.ndarray, list[str | None]]:
        missing = [c for c in self._needed if c not in batch.schema.names]
        if missing:
            available = ", ".join(n for n in batch.schema.names if n not in ("id", "text", "source", "meta"))
            raise UserError(
                f"select step '{self.name}' reads column(s) {', '.join(missing)} that no earlier step "
                f"produces. Signal columns available here: {available or '(none)'}"
            )
        df = pl.from_arrow(batch.select(self._needed)) if self._needed else pl.DataFrame({"_": [0] * batch.num_rows})
        try:
            verdicts = df.select(self._exprs)
        except Exception as exc:
            raise UserError(f"select step '{self.name}': a rule cannot be evaluated: {exc}") from exc
        mask = np.ones(batch.num_rows, dtype=bool)
        reasons: list[str | None] = [None] * batch.num_rows
        for reason in verdicts.columns:
            ok = verdicts[reason].to_numpy().astype(bool)
            newly = np.flatnonzero(mask & ~ok)
            for i in newly:
                reasons[i] = reason
            mask &= ok
        return mask, reasons

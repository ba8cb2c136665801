"""Exact deduplication on a normalised-text hash (a global step).

Normalisation: lower case, and every whitespace and punctuation character removed, so copies
that differ only in spacing, line breaks, case or punctuation collide. The first document in
source order (input file order, then record order) is kept; the others are dropped with reason
``exact_duplicate`` and the id of the kept copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash
from pydantic import BaseModel, ConfigDict

from heitu.data.steps.base import GlobalStep, register

HASH_COLUMN = "exact_text_hash_v1"


class ExactDedupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    normalize: bool = True
    """Hash the normalised text (case, whitespace and punctuation ignored) instead of the raw text."""


@register("exact_dedup")
class ExactDedup(GlobalStep):
    Params = ExactDedupParams

    def output_columns(self) -> list[str]:
        return [HASH_COLUMN]

    def index(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        text = pl.from_arrow(batch.column("text"))
        if self.params.normalize:
            text = text.str.to_lowercase().str.replace_all(r"[\s\p{P}\p{S}]+", "")
        digest = xxhash.xxh3_64_intdigest
        hashes = np.fromiter((digest(t.encode("utf-8")) for t in text.to_list()), dtype=np.uint64, count=len(text))
        return {HASH_COLUMN: pa.array(hashes, type=pa.uint64())}

    def plan(self, index: pl.LazyFrame) -> pl.DataFrame:
        ranked = index.select("_shard", "_row", "id", HASH_COLUMN).sort("_shard", "_row")
        first = ranked.group_by(HASH_COLUMN, maintain_order=True).agg(pl.col("id").first().alias("dup_of"))
        return (
            ranked.with_columns(pl.int_range(pl.len()).over(HASH_COLUMN).alias("_nth"))
            .filter(pl.col("_nth") > 0)
            .join(first, on=HASH_COLUMN)
            .select("_shard", "_row", pl.lit("exact_duplicate").alias("reason"), "dup_of")
            .collect(engine="streaming")
        )

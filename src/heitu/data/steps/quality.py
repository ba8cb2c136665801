"""Learned quality score (``quality_score``): P("clean") from a model trained with
``heitu data quality-model train`` (see `heitu.data.quality.model`).

Column ``quality_score_v1``: float32 probability that the document reads like the clean reference
set rather than raw web text. The whole batch is vectorised in one call (hashed n-grams, no
vocabulary) and scored with one sparse matrix-vector product; the model folder is loaded once per
process (cached by path and file mtimes). Loading reads JSON and a numpy ``.npz`` with
``allow_pickle=False``: a shared model runs no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from heitu.data.steps.base import Annotator, register

COLUMN = "quality_score_v1"


class QualityScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    """Model folder (model.json + weights.npz) written by `heitu data quality-model train`."""


@register("quality_score")
class QualityScore(Annotator):
    """P(clean) per document from a learned linear model on hashed n-grams."""

    Params = QualityScoreParams

    def __init__(self, name: str, params: QualityScoreParams | None = None):
        super().__init__(name, params)
        from heitu.data.quality.model import load_model

        load_model(self.params.model)  # fail early (UserError naming the file) on a bad folder

    def _model(self):
        from heitu.data.quality.model import load_model

        return load_model(self.params.model)  # cached per process

    def artifacts(self) -> list[Path]:
        """The files that define the model (to be copied/checksummed into the dataset version)."""
        from heitu.data.quality.model import model_files

        return model_files(Path(self.params.model).expanduser())

    def output_columns(self) -> list[str]:
        return [COLUMN]

    def annotate(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> dict[str, pa.Array | np.ndarray]:
        texts = cache.get("text_pylist")
        if texts is None or len(texts) != batch.num_rows:
            texts = batch.column("text").to_pylist()
            cache["text_pylist"] = texts
        return {COLUMN: self._model().predict_proba(texts).astype(np.float32)}

"""Pipeline specs: YAML <-> pydantic, and the steps they build.

A spec names its steps in order. Per-document steps (annotate, transform, filter) stream;
a global step (dedup) splits the pipeline into stages run one after another::

    stage 0: [per-doc steps] -> global step 0 -> stage 1: [per-doc steps] -> global step 1 -> ...
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heitu.core.errors import UserError
from heitu.data.steps import STEP_TYPES, GlobalStep, Step, load_builtin_steps


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    """Registered step type (`heitu data steps` lists them)."""
    name: str | None = None
    """Name of this step in the ledger and rejects; defaults to the type."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameters of the step type, checked against its Params model."""


class ReaderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text_field: str = "text"
    """Field holding the text in jsonl/parquet inputs."""
    id_field: str = "id"
    """Field holding the document id; when absent the id is derived from source and offset."""
    max_doc_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Larger documents are recorded in `errors/` (doc_too_large) instead of processed."""


class WriterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["parquet", "jsonl.gz"] = "parquet"
    """Output format of the kept documents."""
    shard_size_mb: int = Field(default=256, gt=0)
    """Target size of one output shard (uncompressed Arrow bytes)."""


class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    reader: ReaderSpec = Field(default_factory=ReaderSpec)
    steps: list[StepSpec]
    writer: WriterSpec = Field(default_factory=WriterSpec)
    batch_docs: int = Field(default=2000, gt=0)
    """Documents per Arrow batch (a batch is also cut at `batch_mb`)."""
    batch_mb: int = Field(default=32, gt=0)
    """Upper bound on the text bytes of one batch: keeps worker memory bounded."""

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, step params included (recorded in the manifest)."""
        data = self.model_dump(mode="json")
        for step_spec, step in zip(data["steps"], build_steps(self)):
            step_spec["name"] = step.name
            step_spec["params"] = step.params.model_dump(mode="json")
        return data

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode()).hexdigest()


def _format_validation(exc: ValidationError, where: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return f"{where}: " + "; ".join(parts)


def load_spec(path: str | Path) -> PipelineSpec:
    """Read a pipeline YAML file; every mistake is a UserError naming the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pipeline spec {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"pipeline spec {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise UserError(f"pipeline spec {path} must be a mapping with 'name' and 'steps'")
    try:
        spec = PipelineSpec.model_validate(raw)
    except ValidationError as exc:
        raise UserError(_format_validation(exc, f"pipeline spec {path}")) from exc
    build_steps(spec, where=str(path))  # fail now, not in a worker
    return spec


def build_steps(spec: PipelineSpec, where: str = "pipeline spec") -> list[Step]:
    load_builtin_steps()
    steps: list[Step] = []
    seen: set[str] = set()
    for i, s in enumerate(spec.steps):
        cls = STEP_TYPES.get(s.type)
        name = s.name or s.type
        label = f"{where}: steps[{i}] ({name})"
        if cls is None:
            known = ", ".join(sorted(STEP_TYPES))
            raise UserError(f"{label}: unknown step type '{s.type}'. Known types: {known}")
        if name in seen:
            raise UserError(f"{label}: step name '{name}' is used twice; give each step a unique 'name'")
        seen.add(name)
        try:
            params = cls.Params.model_validate(s.params)
        except ValidationError as exc:
            raise UserError(_format_validation(exc, f"{label}.params")) from exc
        try:
            steps.append(cls(name, params))
        except UserError as exc:
            raise UserError(f"{label}: {exc}") from exc
    return steps


def split_stages(steps: list[Step]) -> list[tuple[list[Step], GlobalStep | None]]:
    """[(per-doc steps, global step ending the stage or None)] — the last stage has no global step."""
    stages: list[tuple[list[Step], GlobalStep | None]] = []
    current: list[Step] = []
    for step in steps:
        if isinstance(step, GlobalStep):
            stages.append((current, step))
            current = []
        else:
            current.append(step)
    stages.append((current, None))
    return stages

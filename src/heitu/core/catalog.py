"""The catalog: every artifact heitu makes (source files, dataset versions, and later training
runs, model versions, deployments) and the lineage edges between them.

SQLAlchemy over a SQLite file in the workspace by default; a PostgreSQL URL
(HEITU_CATALOG_URL=postgresql+psycopg://...) works through the same code. Two tables:

- ``artifacts``: id (e.g. ``ds-3f2a…``), kind (``source``, ``dataset``, ``model``…), name, uri,
  created_at, summary (JSON), record (JSON: the full manifest/eval card)
- ``lineage``: parent_id -> child_id with a relation (``input_of``, ``trained_on``…)

Tracing a served answer back to raw documents is a walk up ``lineage``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from heitu.core.errors import UserError
from heitu.core.settings import get_settings


class Base(DeclarativeBase):
    pass


class Artifact(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(256), index=True)
    uri: Mapped[str] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    record: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lineage(Base):
    __tablename__ = "lineage"

    parent_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class ArtifactView:
    id: str
    kind: str
    name: str
    uri: str
    created_at: dt.datetime
    summary: dict[str, Any]
    record: dict[str, Any]


def _view(a: Artifact) -> ArtifactView:
    return ArtifactView(a.id, a.kind, a.name, a.uri, a.created_at, dict(a.summary or {}), dict(a.record or {}))


class Catalog:
    def __init__(self, url: str | None = None):
        settings = get_settings()
        self.url = url or settings.resolved_catalog_url
        if self.url.startswith("sqlite:///"):
            settings.workspace.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = create_engine(self.url, future=True)
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise UserError(f"cannot open the catalog at {self.url}: {exc.__class__.__name__}: {exc}") from exc

    def register(self, *, id: str, kind: str, name: str, uri: str, summary: dict, record: dict,
                 parents: list[tuple[str, str]] = (), created_at: dt.datetime | None = None) -> None:
        """Insert or update an artifact and its lineage edges (parent id, relation)."""
        with Session(self.engine) as s, s.begin():
            art = s.get(Artifact, id) or Artifact(id=id)
            art.kind, art.name, art.uri = kind, name, uri
            art.created_at = created_at or dt.datetime.now(dt.timezone.utc)
            art.summary, art.record = summary, record
            s.add(art)
            s.flush()
            for parent_id, relation in parents:
                if s.get(Lineage, (parent_id, id)) is None:
                    s.add(Lineage(parent_id=parent_id, child_id=id, relation=relation))

    def ensure(self, *, id: str, kind: str, name: str, uri: str, summary: dict) -> None:
        """Register an artifact if it is not known yet (e.g. a raw source file)."""
        with Session(self.engine) as s, s.begin():
            if s.get(Artifact, id) is None:
                s.add(Artifact(id=id, kind=kind, name=name, uri=uri, summary=summary, record={},
                               created_at=dt.datetime.now(dt.timezone.utc)))

    def get(self, id_or_prefix: str, kind: str | None = None) -> ArtifactView:
        with Session(self.engine) as s:
            art = s.get(Artifact, id_or_prefix)
            if art is None:
                q = select(Artifact).where(Artifact.id.startswith(id_or_prefix))
                if kind:
                    q = q.where(Artifact.kind == kind)
                found = s.scalars(q.limit(2)).all()
                if len(found) > 1:
                    raise UserError(f"'{id_or_prefix}' matches several artifacts; give more of the id")
                art = found[0] if found else None
            if art is None or (kind and art.kind != kind):
                raise UserError(f"no {kind or 'artifact'} '{id_or_prefix}' in the catalog at {self.url}")
            return _view(art)

    def list(self, kind: str | None = None) -> list[ArtifactView]:
        with Session(self.engine) as s:
            q = select(Artifact).order_by(Artifact.created_at.desc())
            if kind:
                q = q.where(Artifact.kind == kind)
            return [_view(a) for a in s.scalars(q)]

    def parents(self, id: str) -> list[tuple[ArtifactView, str]]:
        with Session(self.engine) as s:
            rows = s.execute(select(Artifact, Lineage.relation).join(Lineage, Lineage.parent_id == Artifact.id)
                             .where(Lineage.child_id == id)).all()
            return [(_view(a), rel) for a, rel in rows]

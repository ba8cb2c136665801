"""Settings, parsed once from the environment (HEITU_*) and typed."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEITU_", extra="ignore")

    home: Path = Field(default=Path("~/.heitu"), description="Workspace folder (HEITU_HOME).")
    """Workspace: the catalog file and default outputs live here."""

    catalog_url: str | None = Field(default=None, description="SQLAlchemy URL of the catalog (HEITU_CATALOG_URL).")
    """Default: a SQLite file `catalog.db` under the workspace. A postgresql:// URL works the same way."""

    @property
    def workspace(self) -> Path:
        return self.home.expanduser()

    @property
    def resolved_catalog_url(self) -> str:
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{self.workspace / 'catalog.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Service settings, read from ``RUJUK_*`` environment variables (never at import time)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geodata.dataset import bundled_dataset_path


class Settings(BaseSettings):
    """Where the data is and how to serve it. Every field can be set as ``RUJUK_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RUJUK_", extra="ignore")

    dataset_path: Path = Field(default_factory=bundled_dataset_path)
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

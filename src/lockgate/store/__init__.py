"""Durable records of runs, jobs, steps, logs and annotations (SQLite or any SQLAlchemy URL)."""

from .database import Store, default_url

__all__ = ["Store", "default_url"]

"""The tracking tests' app (real Redis, SQLite or PostgreSQL), one per test module."""

from tests.service.tracking.test_tracking import tr

__all__ = ["tr"]

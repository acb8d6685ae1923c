"""Logging helpers: what must never reach a log line."""

from __future__ import annotations

import logging


class NoQueryString(logging.Filter):
    """Drop the query string from uvicorn access-log records (it may carry a device token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument in place; never drop the record."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True

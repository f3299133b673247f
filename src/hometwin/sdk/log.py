"""`base_logger`: the logger course components write to (`from ... import base_logger`).

sifec_base logged through the `fastapi_cli` logger, which prints nothing under plain uvicorn.
Ours prints INFO and above to stderr unless the application configured logging itself.
"""

from __future__ import annotations

import logging
import os

base_logger = logging.getLogger("hometwin.sdk")


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Prints only while the application has not configured logging (then records propagate)."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def _install_default_handler() -> None:
    # A library normally adds no handler; component authors, however, expect base_logger.info to show.
    if base_logger.handlers:
        return
    handler = _FallbackHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    base_logger.addHandler(handler)
    level = os.environ.get("HOMETWIN_LOG_LEVEL", "INFO").upper()
    base_logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")


_install_default_handler()


def child(name: str) -> logging.Logger:
    return base_logger.getChild(name)

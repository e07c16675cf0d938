"""The operator's campaign console, served by the HTTP API at ``/console`` (``routes.py``)."""

from api.console.routes import STATIC_PATH, console_router, console_static

__all__ = ["STATIC_PATH", "console_router", "console_static"]

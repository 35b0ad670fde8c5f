"""Logging: one JSON object per line in production, readable lines in development.

Every record, whether written by a structlog logger or by a plain `logging.getLogger` one
(Django's, django-q2's, ours), goes through one formatter that adds the bound context
(opscore/request_context.py), the level, the logger name and a UTC timestamp. JSON lines
escape every control character, so no value (a header, a payload field, an error message)
can end a line early and forge another.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

from opscore.request_context import FIELDS

JSON = "json"
CONSOLE = "console"
FORMATS = (JSON, CONSOLE)
LEADING_KEYS = ("timestamp", "level", "logger", "event", *FIELDS)
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


def _escaped(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _escape_line_breaks(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict:
    """Console output is one line per record too: a newline in a value is shown as \\n."""
    for name, value in event_dict.items():
        if isinstance(value, str) and name != "exception":
            event_dict[name] = _LINE_BREAKING.sub(_escaped, value)
    return event_dict


def _leading_keys_first(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict:
    """timestamp, level, logger, event, then the context fields: a line reads left to right."""
    ordered = {key: event_dict.pop(key) for key in LEADING_KEYS if key in event_dict}
    return {**ordered, **event_dict}


def _drop_request_objects(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict:
    """Django passes its HttpRequest as `extra`; its repr adds nothing the line lacks."""
    if not isinstance(event_dict.get("request", ""), str):
        del event_dict["request"]
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        _drop_request_objects,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(log_format: str) -> list[Any]:
    if log_format == CONSOLE:
        return [_escape_line_breaks, structlog.dev.ConsoleRenderer()]
    # A traceback as one string (no frame locals: they can hold keys and payloads).
    return [
        structlog.processors.format_exc_info,
        _leading_keys_first,
        structlog.processors.JSONRenderer(),
    ]


def formatter(log_format: str = JSON) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of the console handler (named by `logging_settings`)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(log_format),
        ],
    )


class RedactSecretPaths(logging.Filter):
    """Django names the path of every refused request in its own line ("Conflict:
    /information/<token>/"): the path is logged as `request_context.loggable_path` gives it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if path and isinstance(record.args, tuple) and path in record.args:
            from opscore.request_context import loggable_path

            safe = loggable_path(request)
            record.args = tuple(safe if arg == path else arg for arg in record.args)
        return True


def logging_settings(*, log_format: str, level: str, levels: dict[str, str]) -> dict[str, Any]:
    """Django's LOGGING: everything to stderr through the structured formatter."""
    if log_format not in FORMATS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"OPSCORE_LOG_FORMAT is {log_format!r}; it is one of {', '.join(FORMATS)}"
        )
    for name, value in {"root": level, **levels}.items():
        if not isinstance(logging.getLevelName(value.upper()), int):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"log level {value!r} for {name} is not one of DEBUG, INFO, WARNING, ERROR"
            )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": "opscore.logging_config.formatter", "log_format": log_format}
        },
        "filters": {"secret_paths": {"()": "opscore.logging_config.RedactSecretPaths"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "structured",
                "filters": ["secret_paths"],
            },
        },
        "root": {"handlers": ["console"], "level": level.upper()},
        "loggers": {
            # Django's defaults give these handlers of their own (plain text, runserver only);
            # here they only propagate, so their lines are structured like every other.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            **{name: {"level": value.upper()} for name, value in levels.items()},
        },
    }


def configure_structlog() -> None:
    """structlog loggers hand their event dicts to the stdlib handler above, to be rendered."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

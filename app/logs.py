"""Logging, as plain text or as one JSON object a line (LOG_FORMAT): uvicorn's access log and
its own, the line each 503 gets (app.unavailable), and the libraries' warnings."""

import copy
import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from uvicorn.config import LOGGING_CONFIG

from app.settings import LogFormat

JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# uvicorn's copy of some messages with terminal colours: not a field of their own.
NOT_FIELDS = [*RESERVED_ATTRS, "color_message"]


class AccessJsonFormatter(JsonFormatter):
    """uvicorn's access log line as JSON, the parts of the request as fields of their own."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        client, method, path, http_version, status = record.args or ()  # as uvicorn logs them
        log_data.update(
            client=client, method=method, path=path, http_version=http_version, status=status
        )


def log_config(log_format: LogFormat) -> dict[str, Any]:
    """uvicorn's logging configuration in `log_format`, whose default handler also takes the
    warnings of every other logger."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    if log_format == "json":
        config["formatters"] = {
            name: {
                "()": formatter,
                "fmt": JSON_FORMAT,
                "rename_fields": JSON_NAMES,
                "reserved_attrs": NOT_FIELDS,
            }
            for name, formatter in [("default", JsonFormatter), ("access", AccessJsonFormatter)]
        }
    return config

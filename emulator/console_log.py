"""The emulator's console: plain lines or JSON objects, and what the pump did at info level."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from firmware_model import LogEntry, Pump
from firmware_model.event_log import EventLog
from firmware_model.log_kinds import LogClass

pump_log = logging.getLogger("emulator.pump")
PLAIN_FORMAT = "pump-emulator: %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "t": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj)


def configure_logging(level: str, *, as_json: bool = False) -> None:
    handler = logging.StreamHandler()
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("pump-emulator: %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("transitions").setLevel(logging.WARNING)


def narrate(pump: Pump) -> None:
    """Say at info level what the pump writes to its clinical log (alarms, changes), and at
    debug level its link records."""
    offset = pump.clock_us - pump.t_us

    def on_entry(entry: LogEntry) -> None:
        level = (
            logging.INFO if EventLog.class_of(entry.kind) is LogClass.CLINICAL else logging.DEBUG
        )
        if not pump_log.isEnabledFor(level):
            return
        detail = " ".join(f"{k}={v}" for k, v in entry.detail.items())
        clock_s = entry.on_clock_us(offset) // 1_000_000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock_s))
        pump_log.log(level, "%s %s %s", stamp, entry.kind, detail)

    pump.log.listeners.append(on_entry)

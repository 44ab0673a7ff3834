"""A quiet console for runs: our lines as they are, libraries' chatter only at WARNING (all of it in the log file)."""

from __future__ import annotations

import logging

OURS = "experiments"
# Libraries' INFO records a person asked for: Lightning's profiler report (debug=profile).
ASKED_FOR = ("pytorch_lightning.profilers", "lightning.pytorch.profilers")


class LibrariesAtWarning(logging.Filter):
    """Passes every record of ``experiments.*`` (and :data:`ASKED_FOR`), other libraries' from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= logging.WARNING
            or record.name == OURS
            or record.name.startswith((f"{OURS}.", *ASKED_FOR))
        )


class ConsoleFormatter(logging.Formatter):
    """Our INFO lines as plain text; warnings and errors say so and who sent them."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno < logging.WARNING:
            return message
        source = "" if record.name.startswith(OURS) else f" ({record.name})"
        return f"{record.levelname.lower()}{source}: {message}"

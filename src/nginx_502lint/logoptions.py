"""What the CLI needs around `--log`: reading `--since`, and progress on a terminal."""
from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from typing import TextIO

_RELATIVE = re.compile(r"^(\d+)\s*(s|sec|m|min|h|d|w)$")
_UNITS = {"s": "seconds", "sec": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a moment (`2026-11-21`, `2026-11-21 10:00`, `2026-11-21T10:00:00+01:00`,
    nginx's `2026/11/21 10:00:00`) or a span back from now (`90s`, `30m`, `2h`, `1d`, `1w`).

    Without a zone the moment is local time, as nginx writes it. Raises ValueError.
    """
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now()) - timedelta(**{_UNITS[unit]: amount})
    iso = re.sub(r"^(\d{4})/(\d\d)/(\d\d)", r"\1-\2-\3", value)
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a date and time (2026-11-21 10:00, 2026/11/21 10:00:00) "
            "or a span back from now (30m, 2h, 1d)"
        ) from None


class StderrProgress:
    """A `ProgressCallback` that keeps one self-overwriting line on a terminal.

    Nothing is written for reads that finish before the first throttled report
    (small logs stay silent); `close()` wipes the line.
    """

    def __init__(self, stream: TextIO, label: str = "reading error logs") -> None:
        self.stream = stream
        self.label = label
        self._width = 0

    def __call__(self, done: int, total: int | None) -> None:
        if self._width == 0 and total is not None and done >= total:
            return
        if total:
            text = f"{self.label}: {100 * done // total}% ({_size(done)} of {_size(total)})"
        else:
            text = f"{self.label}: {_size(done)}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(text))

    def close(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def progress_printer(stream: TextIO | None = None) -> StderrProgress | None:
    """A progress callback for analyze_logs when `stream` (default stderr) is a terminal, else None."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return StderrProgress(stream) if isatty is not None and isatty() else None


def _size(count: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} B"

"""Read nginx error logs: stream lines from plain, gzip-rotated or piped files,
and parse each line into a record.

Lines are streamed one at a time so multi-gigabyte logs never sit in memory.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import re
import stat
import sys
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Callable, ContextManager, Iterable, Iterator, NamedTuple

STDIN = "-"
STDIN_SOURCE = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"
# nginx never writes an error-log line longer than NGX_MAX_ERROR_STR (2048
# bytes); anything far longer is not nginx's, so only its head is kept.
MAX_LINE_BYTES = 16 * 1024
PROGRESS_INTERVAL_SECONDS = 0.5

ProgressCallback = Callable[[int, "int | None"], None]
"""Called with (bytes_read, total_bytes); total_bytes is None when unknown (stdin)."""
WarningCallback = Callable[[str], None]


class LogLine(NamedTuple):
    source: str
    lineno: int
    text: str


def iter_log_lines(
    paths: Iterable[str],
    *,
    progress: ProgressCallback | None = None,
    on_warning: WarningCallback | None = None,
    stdin: BinaryIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[LogLine]:
    """Yield every line of every file in order, without its line ending.

    `-` reads standard input. Gzip data is recognised by its magic bytes, so
    `error.log.2.gz` and a renamed or piped gzip stream both work. Invalid
    UTF-8 becomes U+FFFD. A truncated gzip file (still being compressed by
    logrotate) yields what it holds and reports a warning; a missing file
    raises OSError.
    """
    paths = list(paths)
    meter = _ProgressMeter(progress, _total_size(paths) if progress else None, clock)
    for path in paths:
        with _open_binary(path, stdin) as raw:
            source = STDIN_SOURCE if path == STDIN else path
            stream = _decompressed(raw)
            for lineno, data in enumerate(_read_lines(stream, source, on_warning), start=1):
                meter.advance(len(data), raw)
                yield LogLine(source, lineno, _decode(data))
            meter.finish_file(raw)
    meter.done()


def _open_binary(path: str, stdin: BinaryIO | None) -> ContextManager[BinaryIO]:
    if path == STDIN:
        # nullcontext: leaving the `with` must not close the process's stdin.
        return contextlib.nullcontext(stdin if stdin is not None else sys.stdin.buffer)
    return open(path, "rb")


def _decompressed(raw: BinaryIO) -> BinaryIO:
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    if buffered.peek(len(GZIP_MAGIC))[: len(GZIP_MAGIC)] == GZIP_MAGIC:  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def _read_lines(stream: BinaryIO, source: str, on_warning: WarningCallback | None) -> Iterator[bytes]:
    try:
        while line := stream.readline(MAX_LINE_BYTES):
            if len(line) == MAX_LINE_BYTES and not line.endswith(b"\n"):
                _discard_rest_of_line(stream)
            yield line
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        if on_warning is not None:
            on_warning(f"{source}: compressed data ends early or is damaged ({error}); read up to there")


def _discard_rest_of_line(stream: BinaryIO) -> None:
    while rest := stream.readline(MAX_LINE_BYTES):
        if rest.endswith(b"\n"):
            return


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").rstrip("\r\n")


def _total_size(paths: list[str]) -> int | None:
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None
        total += info.st_size
    return total


class _ProgressMeter:
    """Throttles progress reports to one per interval, plus one at the end."""

    def __init__(self, callback: ProgressCallback | None, total: int | None, clock: Callable[[], float]) -> None:
        self._callback = callback
        self._total = total
        self._clock = clock
        self._done_in_earlier_files = 0
        self._counted_in_file = 0
        self._last_report = clock() if callback else 0.0

    def _position_in_file(self, raw: BinaryIO) -> int:
        # For gzip files the raw offset counts compressed bytes, matching the on-disk total.
        if raw.seekable():
            return raw.tell()
        return self._counted_in_file

    def advance(self, line_bytes: int, raw: BinaryIO) -> None:
        if self._callback is None:
            return
        self._counted_in_file += line_bytes
        now = self._clock()
        if now - self._last_report >= PROGRESS_INTERVAL_SECONDS:
            self._last_report = now
            self._callback(self._done_in_earlier_files + self._position_in_file(raw), self._total)

    def finish_file(self, raw: BinaryIO) -> None:
        if self._callback is None:
            return
        self._done_in_earlier_files += self._position_in_file(raw)
        self._counted_in_file = 0

    def done(self) -> None:
        if self._callback is not None:
            self._callback(self._done_in_earlier_files, self._total)


# --- parsing -----------------------------------------------------------------

_HEADER = re.compile(
    r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[([a-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)",
    re.DOTALL,
)
# (field, quoted) in the order nginx's ngx_http_log_error() appends them; each is
# optional after `client`. Values are raw client/backend text that may hold quotes
# and commas, so a value ends only where the next field's marker, or the line's
# end, follows. A scan, not a backtracking regex: crafted referrers stay linear.
_CONTEXT_FIELDS = (
    ("client", False),
    ("server", False),
    ("request", True),
    ("subrequest", True),
    ("upstream", True),
    ("host", True),
    ("referrer", True),
)
_MARKERS = tuple(f", {name}: " + ('"' if quoted else "") for name, quoted in _CONTEXT_FIELDS)
_CONTEXT_START = _MARKERS[0]
_LINE_END = -1
_PHASE_SEPARATOR = " while "
# Left over at the start of a line by logrotate's copytruncate (a sparse hole).
_LEADING_JUNK = "\x00\ufeff"


@dataclass(frozen=True)
class Request:
    method: str
    uri: str
    protocol: str

    @property
    def path(self) -> str:
        """The URI without query string or fragment; absolute-form URIs reduced to their path."""
        uri = self.uri
        if "://" in uri.split("?", 1)[0]:
            after_scheme = uri.split("://", 1)[1]
            slash = after_scheme.find("/")
            uri = after_scheme[slash:] if slash >= 0 else "/"
        return uri.split("?", 1)[0].split("#", 1)[0]


@dataclass(frozen=True)
class Upstream:
    """The `upstream:` field: the peer nginx was talking to when the error happened.

    `address` is `host:port`, `[v6]:port`, `unix:/path`, or an upstream block's
    name when no peer was left to pick (`no live upstreams`).
    """

    scheme: str
    address: str
    uri: str

    @property
    def is_unix(self) -> bool:
        return self.address.startswith("unix:")


@dataclass(frozen=True)
class LogRecord:
    time: datetime
    level: str
    pid: int
    tid: int
    connection: int | None
    message: str
    client: str | None = None
    server: str | None = None
    request: Request | None = None
    subrequest: str | None = None
    upstream: Upstream | None = None
    host: str | None = None
    referrer: str | None = None

    @property
    def phase(self) -> str:
        """What nginx was doing (`connecting to upstream`, …): the text after the last ` while `."""
        _, separator, phase = self.message.rpartition(_PHASE_SEPARATOR)
        return phase if separator else ""


def parse_line(text: str) -> LogRecord | None:
    """Parse one error-log line; None when it is not in nginx's error-log format."""
    header = _HEADER.fullmatch(text.lstrip(_LEADING_JUNK))
    if header is None:
        return None
    stamp, level, pid, tid, connection, rest = header.groups()
    when = _timestamp(stamp)
    if when is None:
        return None
    message, context = _split_context(rest)
    return LogRecord(
        time=when,
        level=level,
        pid=int(pid),
        tid=int(tid),
        connection=int(connection) if connection is not None else None,
        message=message,
        client=context.get("client"),
        server=context.get("server"),
        request=_parse_request(context.get("request")),
        subrequest=context.get("subrequest"),
        upstream=_parse_upstream(context.get("upstream")),
        host=context.get("host"),
        referrer=context.get("referrer"),
    )


@functools.lru_cache(maxsize=256)
def _timestamp(stamp: str) -> datetime | None:
    # Cached: consecutive lines mostly share their second.
    try:
        return datetime(int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10]),
                        int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19]))
    except ValueError:
        return None


def _split_context(rest: str) -> tuple[str, dict[str, str]]:
    # The leftmost `, client: ` whose tail parses is nginx's: a later one sits inside
    # a client-controlled value (referrer, request), an earlier one inside the message.
    start = rest.find(_CONTEXT_START)
    while start >= 0:
        context = _parse_context(rest, start)
        if context is not None:
            return rest[:start], context
        start = rest.find(_CONTEXT_START, start + 1)
    return rest, {}


def _parse_context(text: str, start: int) -> dict[str, str] | None:
    """The fields of the context that starts at `start`, or None if the tail is not one."""
    fields: dict[str, str] = {}
    index, pos = 0, start + len(_CONTEXT_START)
    while True:
        name, quoted = _CONTEXT_FIELDS[index]
        found = _value_end(text, pos, index, quoted)
        if found is None:
            return None
        end, following = found
        fields[name] = text[pos:end]
        if following == _LINE_END:
            return fields
        index, pos = following, end + quoted + len(_MARKERS[following])


def _value_end(text: str, pos: int, index: int, quoted: bool) -> tuple[int, int] | None:
    """Where the value at `pos` ends and which field follows it (or _LINE_END)."""
    if not quoted:
        end = text.find(",", pos)
        if end < 0:
            return len(text), _LINE_END
        following = _following_field(text, end, index)
        return (end, following) if following is not None else None
    end = text.find('"', pos)
    while end >= 0:
        if end + 1 == len(text):
            return end, _LINE_END
        following = _following_field(text, end + 1, index)
        if following is not None:
            return end, following
        end = text.find('"', end + 1)
    return None


def _following_field(text: str, at: int, index: int) -> int | None:
    for later in range(index + 1, len(_CONTEXT_FIELDS)):
        if text.startswith(_MARKERS[later], at):
            return later
    return None


def _parse_request(line: str | None) -> Request | None:
    if not line:
        return None
    method, _, rest = line.partition(" ")
    uri, _, protocol = rest.rpartition(" ")
    if not protocol.startswith("HTTP/"):
        uri, protocol = rest, ""  # HTTP/0.9 style, or a garbled request line
    return Request(method=method, uri=uri, protocol=protocol)


def _parse_upstream(value: str | None) -> Upstream | None:
    if not value:
        return None
    scheme, separator, rest = value.partition("://")
    if not separator:
        scheme, rest = "", value
    if rest.startswith("unix:"):
        # nginx writes unix peers as `unix:/path` + ":" + uri; a unix path cannot hold ":".
        path, _, uri = rest[len("unix:"):].partition(":")
        return Upstream(scheme=scheme, address="unix:" + path, uri=uri)
    slash = rest.find("/")
    if slash < 0:
        return Upstream(scheme=scheme, address=rest, uri="")
    return Upstream(scheme=scheme, address=rest[:slash], uri=rest[slash:])

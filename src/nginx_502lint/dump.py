"""`nginx -T` dumps: split them back into the files nginx read."""
from __future__ import annotations

import re

_MARKER = re.compile(r"^# configuration file (.+):$")
# What nginx prints on stderr, mixed in when the dump was captured with 2>&1.
_NGINX_NOISE = re.compile(r"^nginx: (\[\w+\] |the configuration file .* syntax is ok$|configuration file .* test (is successful|failed)$)")


def _meaningful_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if not _NGINX_NOISE.match(line)]


def looks_like_dump(text: str) -> bool:
    for line in _meaningful_lines(text[:65536]):
        if line.strip():
            return bool(_MARKER.match(line))
    return False


def split_dump(text: str) -> dict[str, str]:
    """Map each file path in the dump to its text, main file first.

    nginx writes `# configuration file PATH:`, the file's bytes, then one
    newline of its own; line 1 of each file is the line after its marker.
    """
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in _meaningful_lines(text):
        match = _MARKER.match(line)
        if match:
            current = files.setdefault(match.group(1), [])
            current.clear()
            continue
        if current is not None:
            current.append(line)
    result: dict[str, str] = {}
    for path, lines in files.items():
        body = "\n".join(lines)
        if body.endswith("\n"):
            body = body[:-1]  # the newline nginx adds after each file
        result[path] = body
    return result

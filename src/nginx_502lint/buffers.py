"""nginx's upstream buffer rules, as `nginx -t` applies them.

From ngx_http_{proxy,fastcgi,uwsgi,scgi}_merge_loc_conf: with
size = max(*_buffer_size, one of *_buffers), at every merged level:
  1. *_buffers number >= 2
  2. size <= *_busy_buffers_size (default 2*size) <= (number - 1) * buffer
  3. *_temp_file_write_size (default 2*size) >= size
  4. *_max_temp_file_size (default 1024m) is 0 or >= size
An explicit busy/temp size is inherited as is and re-checked below; the
defaults are recomputed per level from that level's sizes.
"""
from __future__ import annotations

from typing import NamedTuple

from .parse import Node
from .values import InvalidValue, format_size, parse_bufs, parse_size

CONSTRAINED_MODULES = ("proxy", "fastcgi", "uwsgi", "scgi")
SIZED_MODULES = (*CONSTRAINED_MODULES, "grpc", "memcached")
DEFAULT_MAX_TEMP = 1024 * 1024 * 1024


class BufferConfig(NamedTuple):  # a NamedTuple, not a dataclass: see findings.py
    module: str
    buffer_size: int
    number: int
    size: int
    busy: int | None = None
    temp_write: int | None = None
    max_temp: int | None = None
    # Where each explicit value is set, for reports. Unlike the other fields it
    # is no part of what a configuration is, but nothing compares or hashes configs.
    nodes: dict[str, Node] = {}  # never mutated: effective_buffers always passes its own

    @property
    def largest(self) -> int:
        return max(self.buffer_size, self.size)

    @property
    def effective_busy(self) -> int:
        return self.busy if self.busy is not None else 2 * self.largest

    @property
    def effective_temp_write(self) -> int:
        return self.temp_write if self.temp_write is not None else 2 * self.largest

    @property
    def effective_max_temp(self) -> int:
        return self.max_temp if self.max_temp is not None else DEFAULT_MAX_TEMP


class Violation(NamedTuple):
    check: str  # "buffers", "busy-min", "busy-max", "temp-write", "max-temp"
    directive: str  # the directive nginx names in its message
    message: str  # nginx's own wording


def effective_buffers(model: object, block: Node, module: str, page_size: int) -> BufferConfig | None:
    """The merged buffer settings at `block`, or None if a value is unparsable (B203's job)."""
    get = model.effective  # type: ignore[attr-defined]
    nodes: dict[str, Node] = {}

    def setting(suffix: str) -> Node | None:
        node = get(block, f"{module}_{suffix}").node
        if node is not None:
            nodes[suffix] = node
        return node

    try:
        node = setting("buffer_size")
        buffer_size = parse_size(node.args[0]) if node is not None and node.args else page_size
        if module not in CONSTRAINED_MODULES:
            return BufferConfig(module, buffer_size, 8, page_size, nodes=nodes)
        node = setting("buffers")
        number, size = parse_bufs(node.args) if node is not None else (8, page_size)
        node = setting("busy_buffers_size")
        busy = parse_size(node.args[0]) if node is not None and node.args else None
        node = setting("temp_file_write_size")
        temp_write = parse_size(node.args[0]) if node is not None and node.args else None
        node = setting("max_temp_file_size")
        max_temp = parse_size(node.args[0]) if node is not None and node.args else None
    except (InvalidValue, IndexError):
        return None
    return BufferConfig(module, buffer_size, number, size, busy, temp_write, max_temp, nodes)


def violations(config: BufferConfig) -> list[Violation]:
    if config.module not in CONSTRAINED_MODULES:
        return []
    m = config.module
    found: list[Violation] = []
    if config.number < 2:
        found.append(Violation("buffers", f"{m}_buffers", f'there must be at least 2 "{m}_buffers"'))
        return found  # nginx stops at the first error of a level
    largest = config.largest
    busy = config.effective_busy
    if busy < largest:
        found.append(Violation(
            "busy-min", f"{m}_busy_buffers_size",
            f'"{m}_busy_buffers_size" must be equal to or greater than the maximum of the value of '
            f'"{m}_buffer_size" and one of the "{m}_buffers"',
        ))
        return found
    if busy > (config.number - 1) * config.size:
        found.append(Violation(
            "busy-max", f"{m}_busy_buffers_size",
            f'"{m}_busy_buffers_size" must be less than the size of all "{m}_buffers" minus one buffer',
        ))
        return found
    if config.effective_temp_write < largest:
        found.append(Violation(
            "temp-write", f"{m}_temp_file_write_size",
            f'"{m}_temp_file_write_size" must be equal to or greater than the maximum of the value of '
            f'"{m}_buffer_size" and one of the "{m}_buffers"',
        ))
        return found
    max_temp = config.effective_max_temp
    if max_temp != 0 and max_temp < largest:
        found.append(Violation(
            "max-temp", f"{m}_max_temp_file_size",
            f'"{m}_max_temp_file_size" must be equal to zero to disable temporary files usage or must be '
            f'equal to or greater than the maximum of the value of "{m}_buffer_size" and one of the "{m}_buffers"',
        ))
    return found


def propose(config: BufferConfig, buffer_size: int | None = None) -> list[tuple[str, list[str]]]:
    """Directives that make `config` valid (optionally with a larger buffer_size).

    Changes as little as possible: only the directives whose current value
    breaks a rule are emitted, and the result always passes `violations()`.
    """
    m = config.module
    wanted = config
    changes: dict[str, list[str]] = {}
    if buffer_size is not None and buffer_size > config.buffer_size:
        wanted = wanted._replace(buffer_size=buffer_size)
        changes["buffer_size"] = [format_size(buffer_size)]
    if m not in CONSTRAINED_MODULES:
        return [(f"{m}_{k}", v) for k, v in changes.items()]
    if wanted.number < 2 or wanted.largest > (wanted.number - 1) * wanted.size:
        number = max(wanted.number, 4)
        size = max(wanted.size, wanted.buffer_size)
        wanted = wanted._replace(number=number, size=size)
        changes["buffers"] = [str(number), format_size(size)]
    largest = wanted.largest
    ceiling = (wanted.number - 1) * wanted.size
    if not largest <= wanted.effective_busy <= ceiling:
        busy = min(2 * largest, ceiling)
        wanted = wanted._replace(busy=busy)
        changes["busy_buffers_size"] = [format_size(busy)]
    if wanted.effective_temp_write < largest:
        wanted = wanted._replace(temp_write=2 * largest)
        changes["temp_file_write_size"] = [format_size(2 * largest)]
    if wanted.effective_max_temp != 0 and wanted.effective_max_temp < largest:
        wanted = wanted._replace(max_temp=DEFAULT_MAX_TEMP)
        changes["max_temp_file_size"] = ["1024m"]
    assert not violations(wanted), (config, wanted)
    order = ("buffer_size", "buffers", "busy_buffers_size", "temp_file_write_size", "max_temp_file_size")
    return [(f"{m}_{key}", changes[key]) for key in order if key in changes]

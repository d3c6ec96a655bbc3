"""nginx value parsing, byte for byte as nginx's C code does it.

Mirrors ngx_parse_time(), ngx_parse_size(), ngx_parse_offset() (src/core/ngx_parse.c)
and ngx_conf_set_bufs_slot() (src/core/ngx_conf_file.c) of nginx 1.x on a 64-bit
build, including their quirks: "1h 30" is 1h + 30s, "30 30" is 60s, "1h m" is 1h.
Checked spelling by spelling against a real nginx 1.22.1 (tests/test_values.py).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

# NGX_MAX_INT_T_VALUE, NGX_MAX_SIZE_T_VALUE and NGX_MAX_OFF_T_VALUE on 64-bit builds.
NGX_MAX_INT_T_VALUE = 2**63 - 1
NGX_MAX_SIZE_T_VALUE = 2**63 - 1
NGX_MAX_OFF_T_VALUE = 2**63 - 1

# Big configs repeat a few spellings ("60s", "16k") tens of thousands of times and
# several rules read each one; the parsers are pure, so their answers are kept.
# Invalid values raise and are not kept: they are rare.
_memoised = lru_cache(maxsize=65536)

# One memory page on x86-64 Linux: the default of *_buffer_size and of each *_buffers buffer.
PAGE_SIZE_DEFAULT = 4096

KIB = 1024
MIB = 1024 * 1024
GIB = 1024 * 1024 * 1024

_SECOND = 1
_MINUTE = 60
_HOUR = 60 * 60
_DAY = 24 * _HOUR
_WEEK = 7 * _DAY
_MONTH = 30 * _DAY
_YEAR = 365 * _DAY

# The order of ngx_parse_time()'s "step" enum: each unit must come after the previous one.
_STEP_START, _STEP_YEAR, _STEP_MONTH, _STEP_WEEK, _STEP_DAY = 0, 1, 2, 3, 4
_STEP_HOUR, _STEP_MIN, _STEP_SEC, _STEP_MSEC, _STEP_LAST = 5, 6, 7, 8, 9

_UNIT_STEPS: dict[str, tuple[int, int]] = {
    "y": (_STEP_YEAR, _YEAR),
    "M": (_STEP_MONTH, _MONTH),
    "w": (_STEP_WEEK, _WEEK),
    "d": (_STEP_DAY, _DAY),
    "h": (_STEP_HOUR, _HOUR),
    "m": (_STEP_MIN, _MINUTE),
    "s": (_STEP_SEC, _SECOND),
}

_UNIT_ORDER_HINT = "units must go from largest to smallest, each at most once (y M w d h m s ms)"


class InvalidValue(ValueError):
    """A value nginx rejects with "invalid value" (or "invalid number of arguments")."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f'invalid value "{text}": {reason}')
        self.text = text
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidValue], tuple[str, str]]:
        return (type(self), (self.text, self.reason))


@_memoised
def parse_time_ms(text: str) -> int:
    """Milliseconds, as ngx_conf_set_msec_slot reads *_timeout: ngx_parse_time(is_sec=0).

    A bare number means seconds ("60" is 60000); "ms" is allowed; "M" and "y" are not.
    """
    return _parse_time(text, is_sec=False)


@_memoised
def parse_time_s(text: str) -> int:
    """Seconds, as ngx_conf_set_sec_slot reads a value: ngx_parse_time(is_sec=1).

    A bare number means seconds; "M" (30 days) and "y" (365 days) are allowed; "ms" is not.
    """
    return _parse_time(text, is_sec=True)


def _parse_time(text: str, is_sec: bool) -> int:
    # Millisecond parsing starts past "month" so that "y" and "M" are out of order at once.
    step = _STEP_START if is_sec else _STEP_MONTH
    unit_scale = 1 if is_sec else 1000
    value = 0
    total = 0
    seen_digit = False
    position = 0
    length = len(text)

    while position < length:
        char = text[position]
        position += 1

        if "0" <= char <= "9":
            value = value * 10 + (ord(char) - ord("0"))
            if value > NGX_MAX_INT_T_VALUE:
                raise InvalidValue(text, "number too large")
            seen_digit = True
            continue

        if char == "m" and position < length and text[position] == "s":
            position += 1
            if is_sec:
                raise InvalidValue(text, '"ms" is not accepted here: this directive takes whole seconds')
            if step >= _STEP_MSEC:
                raise InvalidValue(text, _UNIT_ORDER_HINT)
            step, max_value, scale = _STEP_MSEC, NGX_MAX_INT_T_VALUE, 1
        elif char in _UNIT_STEPS:
            unit_step, unit_seconds = _UNIT_STEPS[char]
            if not is_sec and char in "yM":
                raise InvalidValue(text, f'"{char}" is not accepted in millisecond timeouts (only w d h m s ms)')
            # "y" is only ever valid first; every other unit must follow a larger one.
            if (char == "y" and step > _STEP_START) or (char != "y" and step >= unit_step):
                raise InvalidValue(text, _UNIT_ORDER_HINT)
            step, max_value, scale = unit_step, NGX_MAX_INT_T_VALUE // unit_seconds, unit_seconds
        elif char == " ":
            # A space right after digits closes a bare number (seconds); nothing with a unit may follow.
            if step >= _STEP_SEC:
                raise InvalidValue(text, _UNIT_ORDER_HINT)
            step, max_value, scale = _STEP_LAST, NGX_MAX_INT_T_VALUE, 1
        else:
            raise InvalidValue(text, _unexpected_character_reason(char))

        if step != _STEP_MSEC and not is_sec:
            scale *= 1000
            max_value //= 1000
        if value > max_value:
            raise InvalidValue(text, "time too large")
        value *= scale
        if total > NGX_MAX_INT_T_VALUE - value:
            raise InvalidValue(text, "time too large")
        total += value
        value = 0

        while position < length and text[position] == " ":
            position += 1

    if not seen_digit:
        raise InvalidValue(text, "no number")
    if value > NGX_MAX_INT_T_VALUE // unit_scale:
        raise InvalidValue(text, "time too large")
    value *= unit_scale
    if total > NGX_MAX_INT_T_VALUE - value:
        raise InvalidValue(text, "time too large")
    return total + value


def _unexpected_character_reason(char: str) -> str:
    if char == ".":
        return 'fractions are not accepted: write "1500ms" instead of "1.5s", or "90s" instead of "1.5m"'
    if char in "+-":
        return "signs are not accepted"
    if char in "SHDW":
        return f'unknown unit "{char}" (units are case-sensitive: y M w d h m s ms)'
    return f'unexpected "{char}" (units are y M w d h m s ms)'


@_memoised
def parse_size(text: str) -> int:
    """Bytes, as ngx_parse_size() reads *_buffer_size and friends: digits with k/K or m/M.

    "g" is not accepted here (only by ngx_parse_offset), neither is "kb" nor a fraction.
    """
    return _parse_scaled(text, {"k": KIB, "K": KIB, "m": MIB, "M": MIB}, NGX_MAX_SIZE_T_VALUE, "k or m")


@_memoised
def parse_offset(text: str) -> int:
    """Bytes, as ngx_parse_offset() reads off_t values (client_max_body_size): k, m or g."""
    units = {"k": KIB, "K": KIB, "m": MIB, "M": MIB, "g": GIB, "G": GIB}
    return _parse_scaled(text, units, NGX_MAX_OFF_T_VALUE, "k, m or g")


def _parse_scaled(text: str, units: dict[str, int], max_bytes: int, units_hint: str) -> int:
    if not text:
        raise InvalidValue(text, "empty value")
    digits, scale = text, 1
    if text[-1] in units:
        digits, scale = text[:-1], units[text[-1]]
    number = _parse_digits(text, digits, max_bytes, lambda: _size_syntax_reason(text, units_hint))
    if number > max_bytes // scale:
        raise InvalidValue(text, "size too large")
    return number * scale


def _parse_digits(text: str, digits: str, max_value: int, syntax_reason: Callable[[], str]) -> int:
    """ngx_atoi()/ngx_atosz()/ngx_atoof(): plain ASCII digits, nothing else, no overflow."""
    if not digits:
        raise InvalidValue(text, "no number")
    if not all("0" <= char <= "9" for char in digits):
        raise InvalidValue(text, syntax_reason())
    number = int(digits)
    if number > max_value:
        raise InvalidValue(text, "number too large")
    return number


def _size_syntax_reason(text: str, units_hint: str) -> str:
    if "." in text:
        return 'fractions are not accepted: use a smaller unit, e.g. "1536k" for 1.5m'
    if text[-1:] in ("g", "G") and "g" not in units_hint:
        return 'the "g" suffix is not accepted by this directive (only k or m): write "1024m" for 1g'
    if text[-1:] in ("b", "B"):
        return f'write "16k", not "16kb": the only suffixes are {units_hint}'
    if text[:1] in ("+", "-"):
        return "signs are not accepted"
    return f"expected digits with an optional {units_hint} suffix"


def parse_bufs(args: list[str]) -> tuple[int, int]:
    """(number, size) of a "number size" pair such as proxy_buffers 8 4k (ngx_conf_set_bufs_slot)."""
    if len(args) != 2:
        raise InvalidValue(" ".join(args), f"expected 2 arguments (number and size), got {len(args)}")
    count_text, size_text = args
    count = _parse_digits(
        count_text, count_text, NGX_MAX_INT_T_VALUE, lambda: "the number of buffers must be plain digits"
    )
    if count == 0:
        raise InvalidValue(count_text, "the number of buffers must be at least 1")
    size = parse_size(size_text)
    if size == 0:
        raise InvalidValue(size_text, "the buffer size must not be 0")
    return count, size


def format_time_ms(ms: int) -> str:
    """The natural nginx spelling of a duration: 500ms, 60s, 90s, 5m, 2h, 1d.

    Up to a minute stays in seconds ("60s", as nginx's documented defaults read);
    longer values take the largest unit that divides them exactly.
    """
    if ms < 0:
        raise ValueError(f"a duration cannot be negative: {ms}")
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    if seconds <= 60:
        return f"{seconds}s"
    for unit, unit_seconds in (("d", _DAY), ("h", _HOUR), ("m", _MINUTE)):
        if seconds % unit_seconds == 0:
            return f"{seconds // unit_seconds}{unit}"
    return f"{seconds}s"


def format_size(n: int) -> str:
    """The natural nginx spelling of a byte count: 1500, 4k, 16k, 1m (valid for sizes and offsets)."""
    if n < 0:
        raise ValueError(f"a size cannot be negative: {n}")
    if n and n % MIB == 0:
        return f"{n // MIB}m"
    if n and n % KIB == 0:
        return f"{n // KIB}k"
    return str(n)

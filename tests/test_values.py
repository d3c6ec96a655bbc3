from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nginx_502lint.values import (
    InvalidValue,
    format_size,
    format_time_ms,
    parse_bufs,
    parse_offset,
    parse_size,
    parse_time_ms,
    parse_time_s,
)
from nginx_tools import nginx_test, require_nginx

MAX = 2**63 - 1

# (spelling, milliseconds or None when nginx rejects it), read as proxy_read_timeout.
MSEC_SPELLINGS: list[tuple[str, int | None]] = [
    ("30", 30_000),
    ("0", 0),
    ("00", 0),
    ("30s", 30_000),
    ("01s", 1_000),
    ("500ms", 500),
    ("0ms", 0),
    ("1m", 60_000),
    ("1h", 3_600_000),
    ("1d", 86_400_000),
    ("1w", 604_800_000),
    ("4w", 2_419_200_000),
    ("25d", 2_160_000_000),
    ("597h", 2_149_200_000),
    ("1h 30m", 5_400_000),
    ("1h30m", 5_400_000),
    ("1h  30m", 5_400_000),
    ("1d1h1m1s1ms", 90_061_001),
    ("1m500ms", 60_500),
    ("1s 500ms", 1_500),
    ("1h 30", 3_630_000),
    ("1s 30", 31_000),
    ("30 30", 60_000),
    (" 30", 30_000),
    ("30 ", 30_000),
    ("1h m", 3_600_000),
    ("1hms", 3_600_000),
    ("1sms", 1_000),
    ("9223372036854775", 9_223_372_036_854_775_000),
    ("9223372036854775807ms", MAX),
    ("106751991167d", 106_751_991_167 * 86_400_000),
    ("1M", None),
    ("1y", None),
    ("1.5s", None),
    ("1.5", None),
    ("-1", None),
    ("+1", None),
    ("1S", None),
    ("1H", None),
    ("1x", None),
    ("5mss", None),
    ("s", None),
    ("ms", None),
    ("", None),
    ("1h 1h", None),
    ("1s1s", None),
    ("1m1h", None),
    ("500ms 1s", None),
    ("1 1h", None),
    ("30 30 30", None),
    ("1h\t30m", None),
    ("9223372036854776", None),
    ("9223372036854775808ms", None),
    ("106751991168d", None),
    ("2562047788016h", None),
    ("15250284453w", None),
]

# (spelling, seconds or None), read as open_file_cache_valid (ngx_conf_set_sec_slot).
SEC_SPELLINGS: list[tuple[str, int | None]] = [
    ("30", 30),
    ("0s", 0),
    ("1y", 31_536_000),
    ("1M", 2_592_000),
    ("1y 1M 1w 1d 1h 1m 1s", 31_536_000 + 2_592_000 + 604_800 + 86_400 + 3_600 + 60 + 1),
    ("9223372036854775807", MAX),
    ("292471208677y", 292_471_208_677 * 31_536_000),
    ("1ms", None),
    ("1M 1y", None),
    ("9223372036854775808", None),
    ("292471208678y", None),
]

# (spelling, bytes or None), read as proxy_buffer_size (ngx_parse_size).
SIZE_SPELLINGS: list[tuple[str, int | None]] = [
    ("4k", 4096),
    ("4K", 4096),
    ("16k", 16_384),
    ("1m", 1_048_576),
    ("1M", 1_048_576),
    ("4096", 4096),
    ("0", 0),
    ("0k", 0),
    ("01k", 1024),
    ("9223372036854775807", MAX),
    ("9007199254740991k", 9_007_199_254_740_991 * 1024),
    ("8796093022207m", 8_796_093_022_207 * 1_048_576),
    ("1g", None),
    ("1G", None),
    ("16kb", None),
    ("4KB", None),
    ("1.5k", None),
    ("-1", None),
    ("+4k", None),
    ("k", None),
    ("", None),
    ("4 k", None),
    ("1t", None),
    ("9223372036854775808", None),
    ("9007199254740992k", None),
    ("8796093022208m", None),
]

# (spelling, bytes or None), read as client_max_body_size (ngx_parse_offset).
OFFSET_SPELLINGS: list[tuple[str, int | None]] = [
    ("1g", 1_073_741_824),
    ("1G", 1_073_741_824),
    ("1024m", 1_073_741_824),
    ("0", 0),
    ("8589934591g", 8_589_934_591 * 1_073_741_824),
    ("9223372036854775807", MAX),
    ("8589934592g", None),
    ("1t", None),
    ("1.5g", None),
    ("16kb", None),
    ("g", None),
    ("", None),
]

# ("number size", (number, size) or None), read as proxy_buffers.
BUFS_SPELLINGS: list[tuple[str, tuple[int, int] | None]] = [
    ("8 4k", (8, 4096)),
    ("2 1m", (2, 1_048_576)),
    ("1 4k", (1, 4096)),
    ("08 4k", (8, 4096)),
    ("8 4", (8, 4)),
    ("9223372036854775807 1", (MAX, 1)),
    ("0 4k", None),
    ("8 0", None),
    ("8 0k", None),
    ("8 1g", None),
    ("8k 4k", None),
    ("-1 4k", None),
    ("9223372036854775808 1", None),
]


def _outcome(parse: object, text: str) -> int | None:
    try:
        return parse(text)  # type: ignore[operator]
    except InvalidValue:
        return None


def _bufs_outcome(text: str) -> tuple[int, int] | None:
    try:
        return parse_bufs(text.split(" "))
    except InvalidValue:
        return None


@pytest.mark.parametrize(("text", "expected"), MSEC_SPELLINGS)
def test_parse_time_ms_reads_each_spelling_like_nginx_msec_slot(text: str, expected: int | None) -> None:
    assert _outcome(parse_time_ms, text) == expected


@pytest.mark.parametrize(("text", "expected"), SEC_SPELLINGS)
def test_parse_time_s_reads_each_spelling_like_nginx_sec_slot(text: str, expected: int | None) -> None:
    assert _outcome(parse_time_s, text) == expected


@pytest.mark.parametrize(("text", "expected"), SIZE_SPELLINGS)
def test_parse_size_reads_each_spelling_like_ngx_parse_size(text: str, expected: int | None) -> None:
    assert _outcome(parse_size, text) == expected


@pytest.mark.parametrize(("text", "expected"), OFFSET_SPELLINGS)
def test_parse_offset_reads_each_spelling_like_ngx_parse_offset(text: str, expected: int | None) -> None:
    assert _outcome(parse_offset, text) == expected


@pytest.mark.parametrize(("text", "expected"), BUFS_SPELLINGS)
def test_parse_bufs_reads_each_pair_like_ngx_conf_set_bufs_slot(
    text: str, expected: tuple[int, int] | None
) -> None:
    assert _bufs_outcome(text) == expected


def test_bare_number_timeout_means_seconds_not_milliseconds() -> None:
    assert parse_time_ms("60") == parse_time_ms("60s") == 60_000


def test_parse_bufs_rejects_a_wrong_argument_count() -> None:
    with pytest.raises(InvalidValue, match="expected 2 arguments"):
        parse_bufs(["8"])


def test_invalid_value_is_a_value_error_naming_the_text_and_the_reason() -> None:
    with pytest.raises(ValueError) as caught:
        parse_time_ms("1.5s")
    error = caught.value
    assert isinstance(error, InvalidValue)
    assert error.text == "1.5s"
    assert "fractions" in error.reason
    assert str(error).startswith('invalid value "1.5s": ')


def test_size_errors_explain_the_kb_and_g_mistakes() -> None:
    with pytest.raises(InvalidValue, match='not "16kb"'):
        parse_size("16kb")
    with pytest.raises(InvalidValue, match='"g" suffix is not accepted'):
        parse_size("1g")


def test_millisecond_timeouts_explain_why_months_are_refused() -> None:
    with pytest.raises(InvalidValue, match="not accepted in millisecond timeouts"):
        parse_time_ms("1M")
    with pytest.raises(InvalidValue, match="whole seconds"):
        parse_time_s("500ms")


@pytest.mark.parametrize(
    ("ms", "spelling"),
    [
        (0, "0s"),
        (500, "500ms"),
        (1_500, "1500ms"),
        (30_000, "30s"),
        (60_000, "60s"),
        (75_000, "75s"),
        (90_000, "90s"),
        (120_000, "2m"),
        (300_000, "5m"),
        (3_600_000, "1h"),
        (5_400_000, "90m"),
        (86_400_000, "1d"),
        (3_630_000, "3630s"),
    ],
)
def test_format_time_ms_gives_the_natural_nginx_spelling(ms: int, spelling: str) -> None:
    assert format_time_ms(ms) == spelling


@pytest.mark.parametrize(
    ("size", "spelling"),
    [(0, "0"), (1500, "1500"), (4096, "4k"), (16_384, "16k"), (1_048_576, "1m"), (1_572_864, "1536k"), (2**30, "1024m")],
)
def test_format_size_gives_the_natural_nginx_spelling(size: int, spelling: str) -> None:
    assert format_size(size) == spelling


def test_formatters_refuse_negative_numbers() -> None:
    with pytest.raises(ValueError):
        format_time_ms(-1)
    with pytest.raises(ValueError):
        format_size(-1)


@given(st.integers(min_value=0, max_value=10**15))
def test_format_time_ms_output_parses_back_to_the_same_duration(ms: int) -> None:
    assert parse_time_ms(format_time_ms(ms)) == ms


@given(st.integers(min_value=0, max_value=2**50))
def test_format_size_output_is_a_valid_size_and_offset_of_the_same_bytes(size: int) -> None:
    assert parse_size(format_size(size)) == size
    assert parse_offset(format_size(size)) == size


def _nginx_accepts(directive: str, text: str, tmp_path: Path) -> bool:
    # No server{} on purpose: the buffer-size cross checks only run when a server is merged,
    # so this config isolates value parsing.
    accepted, _stderr = nginx_test(f'events {{}}\nhttp {{\n    {directive} "{text}";\n}}\n', tmp_path)
    return accepted


def _nginx_accepts_bufs(text: str, tmp_path: Path) -> bool:
    arguments = " ".join(f'"{part}"' for part in text.split(" "))
    accepted, _stderr = nginx_test(f"events {{}}\nhttp {{\n    proxy_buffers {arguments};\n}}\n", tmp_path)
    return accepted


AGREEMENT_CASES: list[tuple[str, str, object]] = (
    [("proxy_read_timeout", text, parse_time_ms) for text, _ in MSEC_SPELLINGS]
    + [("open_file_cache_valid", text, parse_time_s) for text, _ in SEC_SPELLINGS]
    + [("proxy_buffer_size", text, parse_size) for text, _ in SIZE_SPELLINGS]
    + [("client_max_body_size", text, parse_offset) for text, _ in OFFSET_SPELLINGS]
)


@pytest.mark.parametrize(("directive", "text", "parse"), AGREEMENT_CASES)
def test_real_nginx_accepts_exactly_the_spellings_we_accept(
    directive: str, text: str, parse: object, tmp_path: Path
) -> None:
    require_nginx()
    ours = _outcome(parse, text) is not None
    assert _nginx_accepts(directive, text, tmp_path) == ours


@pytest.mark.parametrize("text", [text for text, _ in BUFS_SPELLINGS])
def test_real_nginx_accepts_exactly_the_buffer_pairs_we_accept(text: str, tmp_path: Path) -> None:
    require_nginx()
    assert _nginx_accepts_bufs(text, tmp_path) == (_bufs_outcome(text) is not None)

"""Read a plain invocation's argv without typer.

Importing typer (and the click and pydantic it pulls in) takes longer than
linting a small config, and pre-commit and CI start the linter on every run.
So `cli.main` first offers argv here: file paths plus the options below, in
the spellings click accepts for them. Anything else — help, another option, a
value click would reject or read differently, `--` — returns None, and typer
handles the invocation as before, errors and all. Both paths end in `cli.run`
with the same LintOptions; tests/test_fast_path.py checks that every option
here has the flags and default the typer command declares.
"""
from __future__ import annotations

import enum
import os
from typing import Any, NamedTuple

from .cli import ColorMode, Format, Level, LintOptions


class PlainOption(NamedTuple):  # a NamedTuple: a fifth of a frozen dataclass's creation time
    field: str  # the LintOptions field (= the typer parameter) it sets
    flags: tuple[str, ...]
    takes_value: bool = True
    repeatable: bool = False
    choices: type[enum.Enum] | None = None  # typer's choice type: exactly one of the members' values


PLAIN_OPTIONS = (
    PlainOption("output_format", ("--format", "-f"), choices=Format),
    PlainOption("output", ("--output", "-o")),
    PlainOption("select", ("--select",), repeatable=True),
    PlainOption("ignore", ("--ignore",), repeatable=True),
    PlainOption("fail_on", ("--fail-on",), choices=Level),
    PlainOption("exit_zero", ("--exit-zero",), takes_value=False),
    PlainOption("statistics", ("--statistics",), takes_value=False),
    PlainOption("nginx_version", ("--nginx-version",)),
    PlainOption("prefix", ("--prefix",)),
    PlainOption("config", ("--config",)),
    PlainOption("isolated", ("--isolated",), takes_value=False),
    PlainOption("baseline", ("--baseline",)),
    PlainOption("stdin_filename", ("--stdin-filename",)),
    PlainOption("color", ("--color",), choices=ColorMode),
)
_BY_FLAG = {flag: option for option in PLAIN_OPTIONS for flag in option.flags}


COMPLETION_ENV = "_NGINX_502LINT_COMPLETE"  # click answers shell completion requests named by it


def parse_plain_invocation(argv: list[str]) -> LintOptions | None:
    """The options of a plain lint of files, or None to leave argv to typer."""
    if os.environ.get(COMPLETION_ENV):
        return None
    options = LintOptions()
    paths: list[str] = []
    remaining = list(argv)
    while remaining:
        arg = remaining.pop(0)
        if arg == "-" or not arg.startswith("-"):
            paths.append(arg)
            continue
        flag, has_inline_value, inline_value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        option = _BY_FLAG.get(flag)
        if option is None:
            return None
        if not option.takes_value:
            if has_inline_value:
                return None
            setattr(options, option.field, True)
            continue
        if has_inline_value:
            value = inline_value
        elif remaining and not remaining[0].startswith("-"):
            value = remaining.pop(0)  # click would take a dash-led word as the value too; typer decides those
        else:
            return None
        converted = _convert(option, value)
        if converted is None:
            return None
        if option.repeatable:
            setattr(options, option.field, [*(getattr(options, option.field) or []), converted])
        else:
            setattr(options, option.field, converted)
    if not paths:
        return None  # typer decides what no input means
    options.paths = paths
    return options


def _convert(option: PlainOption, value: str) -> Any:
    """The value as typer would pass it, or None where click would reject it."""
    if option.choices is None:
        return value
    return next((member for member in option.choices if member.value == value), None)

"""The command line: a thin typer layer over `lint()`.

Exit codes: 0 nothing at or above the failure threshold, 1 findings at or
above it (a syntax error in a linted file is an E001 finding), 2 usage error,
unreadable input path, or invalid linter configuration.
"""
from __future__ import annotations

import enum
import os
import sys
from typing import TYPE_CHECKING, List, Optional

import typer
from typing_extensions import Annotated

from . import __version__

if TYPE_CHECKING:
    from .engine import LintSettings, Registry
    from .findings import LintResult

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


class Format(str, enum.Enum):
    text = "text"
    json = "json"


class Level(str, enum.Enum):
    error = "error"
    warning = "warning"
    info = "info"


class ColorMode(str, enum.Enum):
    auto = "auto"
    always = "always"
    never = "never"


def _split(values: Optional[List[str]]) -> list[str]:
    result: list[str] = []
    for value in values or ():
        result.extend(part.strip() for part in value.split(",") if part.strip())
    return result


def _use_color(mode: ColorMode, stream: object) -> bool:
    if mode is ColorMode.always:
        return True
    if mode is ColorMode.never or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def fail(message: str) -> typer.Exit:
    sys.stderr.write(f"nginx-502lint: error: {message}\n")
    return typer.Exit(EXIT_USAGE)


def parse_version_option(text: str) -> tuple[int, ...]:
    parts = text.strip().split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"--nginx-version {text!r}: expected a version like 1.24.0")
    return tuple(int(p) for p in parts)


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def lint_command(
    paths: Annotated[Optional[List[str]], typer.Argument(help="nginx config files or folders to lint; - reads stdin (a single file or an nginx -T dump).", show_default=False)] = None,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    select: Annotated[Optional[List[str]], typer.Option("--select", help="Only these rules: ids (T102), slugs (timeout-too-short) or families (T). Comma-separated or repeated.")] = None,
    ignore: Annotated[Optional[List[str]], typer.Option("--ignore", help="Skip these rules (ids, slugs or families).")] = None,
    fail_on: Annotated[Level, typer.Option("--fail-on", help="Lowest severity that makes the exit code 1.")] = Level.warning,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when findings are reported.")] = False,
    nginx_version: Annotated[Optional[str], typer.Option("--nginx-version", help="Target nginx version, e.g. 1.24.0 (version-dependent rules state their assumption when unknown).")] = None,
    prefix: Annotated[Optional[str], typer.Option("--prefix", help="nginx's configuration prefix: relative includes resolve against it, and absolute /etc/nginx/... includes map into it. Default: the main file's folder.")] = None,
    host: Annotated[bool, typer.Option("--host", help="This machine is the nginx host: read included files, sockets and php-fpm pools from its filesystem.")] = False,
    php_fpm: Annotated[Optional[List[str]], typer.Option("--php-fpm", help="php-fpm pool file or glob (repeatable), for the FastCGI rules.")] = None,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="Name to report for input read from stdin; its folder is the include root.")] = None,
    rules_dir: Annotated[Optional[List[str]], typer.Option("--rules-dir", help="Also load every rule module (*.py) in this folder (repeatable).")] = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="List every rule with id, slug, severity and summary, then exit.")] = False,
    explain: Annotated[Optional[str], typer.Option("--explain", help="Print a rule's documentation page (id or slug), then exit.", metavar="RULE")] = None,
    color: Annotated[ColorMode, typer.Option("--color", help="Colour the text output (auto: only on a terminal; NO_COLOR turns it off).")] = ColorMode.auto,
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    """Find the nginx settings that turn into 502 Bad Gateway and 504 Gateway Timeout errors."""
    from .engine import InternalRuleError, LintSettings, Registry, RuleError
    from .findings import Severity
    from .parse import InputError

    if version:
        typer.echo(f"nginx-502lint {__version__} ({_crossplane_provider()})")
        raise typer.Exit(EXIT_CLEAN)
    try:
        registry = Registry.default(rules_dir or ())
        if list_rules:
            _print_rules(registry)
            raise typer.Exit(EXIT_CLEAN)
        if explain:
            ids = registry.resolve(explain)
            if len(ids) != 1:
                raise RuleError(f"--explain needs one rule, {explain!r} names {len(ids)}")
            spec = registry.get(ids[0])
            typer.echo(f"{spec.id} {spec.slug} ({spec.severity})\n\n{spec.doc}")
            raise typer.Exit(EXIT_CLEAN)
        rule_ids = registry.select(_split(select), _split(ignore))
        settings = LintSettings(prefix=prefix, host=host, php_fpm=list(php_fpm or ()))
        if nginx_version:
            try:
                settings.nginx_version = parse_version_option(nginx_version)
            except ValueError as error:
                raise fail(str(error))
            settings.version_source = "--nginx-version"
        if not paths:
            raise fail("no input: give nginx config files or folders, or - for stdin (see --help)")
        result = _run(paths, settings, registry, rule_ids, stdin_filename)
    except (RuleError, InputError) as error:
        raise fail(str(error))
    except InternalRuleError as error:
        sys.stderr.write(f"nginx-502lint: internal error: {error}; please report it with the config that triggers it\n")
        raise typer.Exit(EXIT_USAGE)

    from .reporters import Report, render

    report = Report(
        findings=result.findings,
        files=result.files,
        rules={rule_id: registry.get(rule_id) for rule_id in rule_ids},
        color=output_format is Format.text and _use_color(color, sys.stdout),
        tool_version=__version__,
        extras={"sources": result.sources},
    )
    sys.stdout.write(render(output_format.value, report))
    threshold = Severity.parse(fail_on.value)
    failing = any(f.severity >= threshold for f in result.findings)
    raise typer.Exit(EXIT_FINDINGS if failing and not exit_zero else EXIT_CLEAN)


def _run(paths: list[str], settings: LintSettings, registry: Registry, rule_ids: list[str], stdin_filename: str | None) -> LintResult:
    from .lint import STDIN, Input, expand_paths, lint, read_stdin_input

    inputs: list[Input] = []
    for path in expand_paths(paths):
        if path == STDIN:
            inputs.append(read_stdin_input(sys.stdin.buffer.read(), stdin_filename))
        else:
            inputs.append(Input(path))
    return lint(inputs, settings, registry, rule_ids)


def _print_rules(registry: object) -> None:
    for spec in registry.all():  # type: ignore[attr-defined]
        needs = ",".join(spec.needs)
        typer.echo(f"{spec.id}  {spec.slug:<34} {str(spec.severity):<8} [{needs}] {spec.summary}")


def _crossplane_provider() -> str:
    try:
        from importlib.metadata import packages_distributions, version

        providers = packages_distributions().get("crossplane", [])
        described = ", ".join(f"{name} {version(name)}" for name in providers) or "crossplane"
        if len(providers) > 1:
            described += " — several packages claim the crossplane module; results depend on install order"
        return f"parser: {described}"
    except Exception:
        return "parser: crossplane"


def main(argv: list[str] | None = None) -> int:
    try:
        code = app(args=argv, prog_name="nginx-502lint", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_CLEAN
    except typer.Exit as done:
        return done.exit_code
    except SystemExit as done:  # click's own exits
        return int(done.code or 0)
    except KeyboardInterrupt:
        sys.stderr.write("nginx-502lint: interrupted\n")
        return 130
    except Exception as error:
        if type(error).__name__ == "Abort":
            return 130
        if callable(getattr(error, "show", None)) and hasattr(error, "exit_code"):
            # click's usage errors (typer may ship its own copy of click)
            error.show()
            return EXIT_USAGE
        sys.stderr.write(f"nginx-502lint: internal error: {type(error).__name__}: {error}\n")
        return EXIT_USAGE

"""The typer command: every option's flags, help and default, over `cli.run`.

Imported only when the fast path (fastpath.py) leaves an invocation to typer:
--help, the rarer options, and anything click has to judge.
"""
from __future__ import annotations

from typing import List, Optional

import typer
from typing_extensions import Annotated

from .cli import EXIT_CLEAN, ColorMode, Format, Level, LintOptions, run

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def lint_command(
    paths: Annotated[Optional[List[str]], typer.Argument(help="nginx config files or folders to lint; - reads stdin (a single file or an nginx -T dump).", show_default=False)] = None,
    output_format: Annotated[Format, typer.Option("--format", "-f", help="Output format: text, json, sarif (GitHub code scanning), github (Actions annotations + text), gitlab (Code Quality), junit.")] = Format.text,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the report to FILE; the text report still goes to stdout.", metavar="FILE")] = None,
    select: Annotated[Optional[List[str]], typer.Option("--select", help="Only these rules: ids (T102), slugs (timeout-too-short) or families (T). Comma-separated or repeated; replaces the config file's select.")] = None,
    ignore: Annotated[Optional[List[str]], typer.Option("--ignore", help="Skip these rules (ids, slugs or families), on top of the config file's ignore.")] = None,
    fail_on: Annotated[Optional[Level], typer.Option("--fail-on", help="Lowest severity that makes the exit code 1 (default: the config's fail-on, else warning).", show_default=False)] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when findings are reported.")] = False,
    statistics: Annotated[bool, typer.Option("--statistics", help="Also print how many findings each rule produced.")] = False,
    nginx_version: Annotated[Optional[str], typer.Option("--nginx-version", help="Target nginx version, e.g. 1.24.0 (version-dependent rules state their assumption when unknown; with --host, the local nginx -v is asked).")] = None,
    prefix: Annotated[Optional[str], typer.Option("--prefix", help="nginx's configuration prefix: relative includes resolve against it, and absolute /etc/nginx/... includes map into it. Default: the main file's folder.")] = None,
    host: Annotated[bool, typer.Option("--host", help="This machine is the nginx host: read included files, sockets, php-fpm pools and the nginx version from it.")] = False,
    php_fpm: Annotated[Optional[List[str]], typer.Option("--php-fpm", help="php-fpm pool file or glob (repeatable), for the FastCGI rules.")] = None,
    config: Annotated[Optional[str], typer.Option("--config", help="Configuration file to use instead of the pyproject.toml / .nginx-502lint.toml found upward from the linted files.", metavar="PATH")] = None,
    isolated: Annotated[bool, typer.Option("--isolated", help="Ignore configuration files.")] = False,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="Report only findings that this baseline file does not record.", metavar="FILE")] = None,
    write_baseline: Annotated[Optional[str], typer.Option("--write-baseline", help="Record every current finding in FILE, to adopt the linter on an existing tree.", metavar="FILE")] = None,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="Name to report for input read from stdin; its folder is the include root.")] = None,
    rules_dir: Annotated[Optional[List[str]], typer.Option("--rules-dir", help="Also load every rule module (*.py) in this folder (repeatable).")] = None,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="List every rule with id, slug, severity and summary, then exit.")] = False,
    explain: Annotated[Optional[str], typer.Option("--explain", help="Print a rule's documentation page (id or slug), then exit.", metavar="RULE")] = None,
    config_schema: Annotated[bool, typer.Option("--config-schema", help="Print the configuration file's JSON Schema (for editors), then exit.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply safe fixes in place (add --unsafe-fixes for the rest), lint again until nothing changes, then report what remains.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print the fixes as a unified diff instead of writing them; exit 1 when there is any. Wins over --fix.")] = False,
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Let --fix and --diff also apply fixes that change behaviour (timeouts, buffer sizes).")] = False,
    color: Annotated[ColorMode, typer.Option("--color", help="Colour the text output (auto: only on a terminal; NO_COLOR turns it off).")] = ColorMode.auto,
    log: Annotated[Optional[List[str]], typer.Option("--log", help="nginx error.log to diagnose (repeatable; - reads stdin; rotated .gz files work): each upstream failure is grouped by cause and, with config files, linked to the rule and line that explain it.", metavar="FILE")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="With --log: only lines from this moment (2026-11-21 10:00, 2026-11-21T10:00:00+01:00) or this span back from now (30m, 2h, 1d).")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Connect to every upstream address (DNS A/AAAA, TCP, unix sockets, TLS with and without SNI); dead ones are U390 findings. Loopback and private addresses only.")] = False,
    probe_all: Annotated[bool, typer.Option("--probe-all", help="Probe public addresses too (implies --probe).")] = False,
    probe_timeout: Annotated[float, typer.Option("--probe-timeout", help="Seconds per connect or TLS handshake.", metavar="SECONDS")] = 2.0,
    probe_concurrency: Annotated[int, typer.Option("--probe-concurrency", help="Targets probed at once (1-64).")] = 8,
    probe_total_timeout: Annotated[float, typer.Option("--probe-total-timeout", help="Seconds for the whole probe; targets not done by then are listed as not probed.", metavar="SECONDS")] = 20.0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Lint this many files at once in worker processes (0: one per CPU).", min=0)] = 1,
    use_cache: Annotated[bool, typer.Option("--cache", help="Reuse results for unchanged files from an on-disk cache ($XDG_CACHE_HOME/nginx-502lint); not used with --host, --php-fpm or --probe.")] = False,
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Cache folder to use (implies --cache).", metavar="DIR")] = None,
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    """Find the nginx settings that turn into 502 Bad Gateway and 504 Gateway Timeout errors."""
    # the parameters are LintOptions' fields, name for name (tests/test_fast_path.py holds them together)
    raise typer.Exit(run(LintOptions(**locals())))


def invoke(argv: list[str] | None) -> int:
    """Run the typer app; click's own exits become exit codes, its usage errors propagate to cli.main."""
    try:
        code = app(args=argv, prog_name="nginx-502lint", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_CLEAN
    except typer.Exit as done:
        return done.exit_code
    except SystemExit as done:  # click's own exits
        return int(done.code or 0)

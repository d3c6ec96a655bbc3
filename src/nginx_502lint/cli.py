"""The command line: a thin typer layer over `lint()`.

Exit codes: 0 nothing at or above the failure threshold, 1 findings at or
above it (a syntax error in a linted file is an E001 finding), 2 usage error,
unreadable input path, invalid configuration file or baseline. With --log, an
upstream failure in the log that answered clients with 5xx also exits 1.
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
    from .config import Config
    from .diagnose import Diagnosis
    from .engine import LintSettings, Registry
    from .findings import Finding, LintResult
    from .lint import Input
    from .reporters import Report

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)


class Format(str, enum.Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"
    gitlab = "gitlab"
    junit = "junit"


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
    from .config import Config, ConfigError, build_settings
    from .engine import InternalRuleError, Registry, RuleError
    from .findings import Severity
    from .fixes import FixError
    from .parse import InputError

    if version:
        typer.echo(f"nginx-502lint {__version__} ({_crossplane_provider()})")
        raise typer.Exit(EXIT_CLEAN)
    try:
        registry = Registry.default(rules_dir or ())
        if config_schema:
            _print_schema(registry)
            raise typer.Exit(EXIT_CLEAN)
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
        diagnosis: Diagnosis | None = None
        if not paths and not log:
            raise fail("no input: give nginx config files or folders, - for stdin, or --log FILE (see --help)")
        if since and not log:
            raise fail("--since needs --log")
        if "-" in (paths or ()) and "-" in (log or ()):
            raise fail("stdin can carry the config or the log, not both")
        if baseline and write_baseline:
            raise fail("--baseline and --write-baseline exclude each other: write the baseline, then use it")
        try:
            version_wanted = parse_version_option(nginx_version) if nginx_version else None
        except ValueError as error:
            raise fail(str(error))
        file_config = Config() if isolated else _load_config(config, paths or [], stdin_filename, registry)
        rule_ids = registry.select(_split(select) or file_config.select or [], file_config.ignore + _split(ignore))
        settings, notes = build_settings(file_config, registry, prefix=prefix, host=host,
                                         php_fpm=php_fpm, nginx_version=version_wanted)
        for line in notes:
            note(line)
        if log and (fix or diff):
            raise fail("--log diagnoses the config as it is: run it without --fix/--diff")
        settings.extras["jobs"] = jobs
        if use_cache or cache_dir:
            settings.extras["cache_dir"] = cache_dir or ""
        if probe or probe_all:
            _enable_probe(settings, probe_all, probe_timeout, probe_concurrency, probe_total_timeout)
        if diff:
            raise typer.Exit(_show_fixes(paths, settings, registry, rule_ids, stdin_filename, unsafe_fixes, baseline, exit_zero))
        if fix:
            if write_baseline:
                raise fail("--fix and --write-baseline exclude each other: fix first, then write the baseline")
            result = _fix(paths, settings, registry, rule_ids, unsafe_fixes, baseline)
        else:
            inputs = _inputs(paths or [], stdin_filename)
            result = _run(inputs, settings, registry, rule_ids)
            diagnosis = _diagnose(log, since, inputs, result, settings, registry, rule_ids) if log else None
        findings, summary_notes = result.findings, list[str]()
        if write_baseline:
            findings, summary_notes = _write_baseline(write_baseline, result)
        elif baseline:
            findings, summary_notes = _apply_baseline(baseline, result)
    except (RuleError, InputError, ConfigError, FixError) as error:
        raise fail(str(error))
    except InternalRuleError as error:
        sys.stderr.write(f"nginx-502lint: internal error: {error}; please report it with the config that triggers it\n")
        raise typer.Exit(EXIT_USAGE)

    from .probe import report_for
    from .reporters import Report, find_repository_root

    if diagnosis is not None and output_format.value in ("sarif", "github", "gitlab", "junit"):
        from .diagnose import with_log_evidence

        findings = with_log_evidence(findings, diagnosis)
    report = Report(
        findings=findings,
        files=result.files,
        rules={rule_id: registry.get(rule_id) for rule_id in rule_ids},
        tool_version=__version__,
        root=find_repository_root(),
        sources=result.sources,
        notes=summary_notes,
        extras={"diagnosis": diagnosis, "probe": report_for(settings)},
    )
    _emit(report, output_format.value, output, statistics, color)
    threshold = Severity.parse(fail_on.value if fail_on else file_config.fail_on or Level.warning.value)
    failing = any(f.severity >= threshold for f in findings) or bool(diagnosis is not None and diagnosis.client_errors)
    raise typer.Exit(EXIT_FINDINGS if failing and not exit_zero else EXIT_CLEAN)


def note(message: str) -> None:
    sys.stderr.write(f"nginx-502lint: {message}\n")


def _load_config(explicit: str | None, paths: list[str], stdin_filename: str | None, registry: Registry) -> Config:
    from .config import Config, discovery_start, find_config, load_config

    if explicit:
        return load_config(explicit, registry)
    on_disk = [p for p in paths if p != "-"] or ([stdin_filename] if stdin_filename else [])
    found = find_config(discovery_start(on_disk) if on_disk else os.getcwd())
    return load_config(found, registry) if found else Config()


def _inputs(paths: list[str], stdin_filename: str | None) -> list[Input]:
    from .lint import STDIN, Input, expand_paths, read_stdin_input

    inputs: list[Input] = []
    for path in expand_paths(paths):
        if path == STDIN:
            inputs.append(read_stdin_input(sys.stdin.buffer.read(), stdin_filename))
        else:
            inputs.append(Input(path))
    return inputs


def _run(inputs: list[Input], settings: LintSettings, registry: Registry, rule_ids: list[str]) -> LintResult:
    from .findings import LintResult
    from .lint import lint

    if not inputs:
        return LintResult()
    jobs = int(settings.extras.get("jobs", 1))
    cache_dir = settings.extras.get("cache_dir")
    cache = None
    if cache_dir is not None:
        from .cache import ResultCache, cache_applies

        cache = ResultCache(cache_dir or None) if cache_applies(settings) else None
    return lint(inputs, settings, registry, rule_ids, jobs=jobs, cache=cache)


def _enable_probe(settings: LintSettings, probe_all: bool, timeout: float, concurrency: int, total: float) -> None:
    from .probe import ProbeSettings

    settings.extras.update(probe=True, probe_all=probe_all, probe_timeout=timeout,
                           probe_concurrency=concurrency, probe_total_timeout=total)
    try:
        ProbeSettings.from_extras(settings.extras)
    except ValueError as error:
        raise fail(f"--probe: {error}") from None


def _diagnose(
    logs: list[str], since: str | None, inputs: list[Input], result: LintResult,
    settings: LintSettings, registry: Registry, rule_ids: list[str],
) -> Diagnosis:
    from .diagnose import diagnose, load_models
    from .logoptions import parse_since, progress_printer
    from .logs import analyze_logs

    try:
        moment = parse_since(since) if since else None
    except ValueError as error:
        raise fail(str(error)) from None
    progress = progress_printer()
    try:
        log_report = analyze_logs(logs, since=moment, progress=progress)
    except OSError as error:
        raise fail(f"--log {error.filename or ''}: {error.strerror or error}") from None
    finally:
        if progress is not None:
            progress.close()
    models = load_models(inputs, settings) if inputs else []
    return diagnose(log_report, models, result, settings=settings, registry=registry, rule_ids=rule_ids)


def _fix(paths: list[str], settings: LintSettings, registry: Registry, rule_ids: list[str],
         unsafe_fixes: bool, baseline: str | None) -> LintResult:
    """--fix: write the fixes (a baseline's known findings are left alone), then lint what remains."""
    from .fixes import describe_outcome, fix_until_stable

    fixable = (lambda result: _apply_baseline(baseline, result)[0]) if baseline else None
    run = fix_until_stable(paths, settings, registry, rule_ids, unsafe_fixes, fixable=fixable)
    sys.stderr.write(describe_outcome(run.applied, run.skipped, stable=run.stable))
    return run.result


def _show_fixes(paths: list[str], settings: LintSettings, registry: Registry, rule_ids: list[str],
                stdin_filename: str | None, unsafe_fixes: bool, baseline: str | None, exit_zero: bool) -> int:
    """--diff: the fixes one --fix round would write, as a unified diff on stdout; writes nothing."""
    from .fixes import describe_outcome, plan_fixes, render_diff
    from .lint import STDIN

    result = _run(_inputs(paths, stdin_filename), settings, registry, rule_ids)
    findings = _apply_baseline(baseline, result)[0] if baseline else result.findings
    plan = plan_fixes(findings, result.sources, unsafe_fixes, from_disk=STDIN not in paths,
                      nginx_version=settings.nginx_version)
    sys.stdout.write(render_diff(plan))
    sys.stderr.write(describe_outcome(plan.applied, plan.skipped, dry_run=True))
    return EXIT_FINDINGS if plan.changes and not exit_zero else EXIT_CLEAN


def _write_baseline(path: str, result: LintResult) -> tuple[list[Finding], list[str]]:
    from .baseline import NEVER_BASELINED, BaselineError, write_baseline

    try:
        entries = write_baseline(path, result.findings, result.sources)
    except BaselineError as error:
        raise fail(str(error)) from None
    left = [f for f in result.findings if f.rule in NEVER_BASELINED]
    recorded = len(result.findings) - len(left)
    notes = [f"Baseline {path} written: {_plural(recorded, 'finding')} in {_plural(len(entries), 'entry', 'entries')}."]
    if left:
        notes.append(f"{_plural(len(left), 'syntax error')} not baselined: a file that does not parse is not linted at all.")
    return left, notes


def _apply_baseline(path: str, result: LintResult) -> tuple[list[Finding], list[str]]:
    from .baseline import BaselineError, apply_baseline

    try:
        outcome = apply_baseline(path, result.findings, result.sources)
    except BaselineError as error:
        raise fail(str(error)) from None
    notes = [f"Baseline {path}: {_plural(outcome.matched, 'known finding')} not shown."]
    if outcome.stale:
        notes.append(f"{_plural(len(outcome.stale), 'baseline entry', 'baseline entries')} stale (fixed or changed since); "
                     f"drop them with --write-baseline {path}:")
        notes.extend(f"  {e.file}: {e.rule} x{e.count} {e.text}" for e in outcome.stale[:10])
        if len(outcome.stale) > 10:
            notes.append(f"  ... and {len(outcome.stale) - 10} more")
    return outcome.findings, notes


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _emit(report: Report, format_name: str, output: str | None, statistics: bool, color: ColorMode) -> None:
    """The chosen report to stdout or --output, and the text report wherever a person reads it."""
    import dataclasses

    from .reporters import render
    from .reporters.text import statistics as statistics_table
    from .reporters.text import summary_line

    for_humans = dataclasses.replace(report, color=_use_color(color, sys.stdout))
    human = sys.stdout
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(render(format_name, report))
        except OSError as error:
            raise fail(f"--output {output}: {error.strerror or error}")
        if format_name == "text":  # the findings are in the file; the terminal gets the summary
            lines = [summary_line(report.findings, len(report.files), for_humans.color), *report.notes]
            sys.stdout.write("\n".join(lines) + "\n")
        else:
            sys.stdout.write(render("text", for_humans))
        sys.stdout.write(f"{format_name} report written to {output}\n")
    elif format_name == "text":
        sys.stdout.write(render("text", for_humans))
    else:
        sys.stdout.write(render(format_name, report))
        human = sys.stderr  # stdout carries the machine-readable report
        if format_name != "github":  # github's output ends with the text report, notes included
            for line in report.notes:
                note(line)
    if statistics:
        human.write(statistics_table(report.findings))


def _print_schema(registry: Registry) -> None:
    import json

    from .config import build_schema

    sys.stdout.write(json.dumps(build_schema(registry), indent=2, sort_keys=True) + "\n")


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

"""The command line: `main` picks a path, `run` does the work over `lint()`.

A plain invocation (files and a few common options, as pre-commit and CI
give) is parsed by fastpath.py without importing typer, which costs more than
linting a small config; everything else goes through the typer command in
cli_typer.py. Both build the same LintOptions and call `run`.

Exit codes: 0 nothing at or above the failure threshold, 1 findings at or
above it (a syntax error in a linted file is an E001 finding), 2 usage error,
unreadable input path, invalid configuration file or baseline. With --log, an
upstream failure in the log that answered clients with 5xx also exits 1.
"""
from __future__ import annotations

import enum
import gc
import os
import sys
from typing import TYPE_CHECKING, Any, List, Optional

from . import __version__

if TYPE_CHECKING:
    from .config import Config
    from .diagnose import Diagnosis
    from .engine import LintSettings, Registry
    from .findings import Finding, LintResult
    from .lint import Input
    from .reporters import Report

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
FORCE_TYPER_ENV = "NGINX_502LINT_NO_FAST_PATH"
"""Set (to anything but empty) to send every invocation through typer: for tests and for ruling the fast path out."""


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


class CommandExit(Exception):
    """Leave `run` with this exit code (what typer.Exit was, without typer)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def fail(message: str) -> CommandExit:
    sys.stderr.write(f"nginx-502lint: error: {message}\n")
    return CommandExit(EXIT_USAGE)


def parse_version_option(text: str) -> tuple[int, ...]:
    parts = text.strip().split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"--nginx-version {text!r}: expected a version like 1.24.0")
    return tuple(int(p) for p in parts)


class LintOptions:
    """One invocation's options: the typer command's parameters, name for name, with its defaults.

    Not a dataclass: a plain lint does not import dataclasses (see
    findings.py). Each default is an immutable class attribute until an
    option sets its own value.
    """

    paths: Optional[List[str]] = None
    output_format: Format = Format.text
    output: Optional[str] = None
    select: Optional[List[str]] = None
    ignore: Optional[List[str]] = None
    fail_on: Optional[Level] = None
    exit_zero: bool = False
    statistics: bool = False
    nginx_version: Optional[str] = None
    prefix: Optional[str] = None
    host: bool = False
    php_fpm: Optional[List[str]] = None
    config: Optional[str] = None
    isolated: bool = False
    baseline: Optional[str] = None
    write_baseline: Optional[str] = None
    stdin_filename: Optional[str] = None
    rules_dir: Optional[List[str]] = None
    list_rules: bool = False
    explain: Optional[str] = None
    config_schema: bool = False
    fix: bool = False
    diff: bool = False
    unsafe_fixes: bool = False
    color: ColorMode = ColorMode.auto
    log: Optional[List[str]] = None
    since: Optional[str] = None
    probe: bool = False
    probe_all: bool = False
    probe_timeout: float = 2.0
    probe_concurrency: int = 8
    probe_total_timeout: float = 20.0
    jobs: int = 1
    use_cache: bool = False
    cache_dir: Optional[str] = None
    version: bool = False

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in self.__annotations__:
                raise TypeError(f"LintOptions has no option {name!r}")
            setattr(self, name, value)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every option by name, with its default."""
        return {name: getattr(cls, name) for name in cls.__annotations__}


def run(options: LintOptions) -> int:
    """Do what the options ask; returns the exit code."""
    try:
        _command(options)
    except CommandExit as done:
        return done.code
    except KeyboardInterrupt:
        sys.stderr.write("nginx-502lint: interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader left (`| head`): end quietly with 1, as click does, instead of a traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FINDINGS
    return EXIT_CLEAN  # not reached: _command always ends with its exit code


def _command(options: LintOptions) -> None:
    from .config import Config, ConfigError, build_settings
    from .engine import InternalRuleError, Registry, RuleError
    from .findings import Severity
    from .parse import InputError

    if options.version:
        _echo(f"nginx-502lint {__version__} ({_crossplane_provider()})")
        raise CommandExit(EXIT_CLEAN)
    try:
        registry = Registry.default(options.rules_dir or ())
        if options.config_schema:
            _print_schema(registry)
            raise CommandExit(EXIT_CLEAN)
        if options.list_rules:
            _print_rules(registry)
            raise CommandExit(EXIT_CLEAN)
        if options.explain:
            ids = registry.resolve(options.explain)
            if len(ids) != 1:
                raise RuleError(f"--explain needs one rule, {options.explain!r} names {len(ids)}")
            spec = registry.get(ids[0])
            _echo(f"{spec.id} {spec.slug} ({spec.severity})\n\n{spec.doc}")
            raise CommandExit(EXIT_CLEAN)
        diagnosis: Diagnosis | None = None
        if not options.paths and not options.log:
            raise fail("no input: give nginx config files or folders, - for stdin, or --log FILE (see --help)")
        if options.since and not options.log:
            raise fail("--since needs --log")
        if "-" in (options.paths or ()) and "-" in (options.log or ()):
            raise fail("stdin can carry the config or the log, not both")
        if options.baseline and options.write_baseline:
            raise fail("--baseline and --write-baseline exclude each other: write the baseline, then use it")
        try:
            version_wanted = parse_version_option(options.nginx_version) if options.nginx_version else None
        except ValueError as error:
            raise fail(str(error))
        file_config = Config() if options.isolated else _load_config(options.config, options.paths or [], options.stdin_filename, registry)
        rule_ids = registry.select(_split(options.select) or file_config.select or [], file_config.ignore + _split(options.ignore))
        settings, notes = build_settings(file_config, registry, prefix=options.prefix, host=options.host,
                                         php_fpm=options.php_fpm, nginx_version=version_wanted)
        for line in notes:
            note(line)
        if options.log and (options.fix or options.diff):
            raise fail("--log diagnoses the config as it is: run it without --fix/--diff")
        settings.extras["jobs"] = options.jobs
        if options.use_cache or options.cache_dir:
            settings.extras["cache_dir"] = options.cache_dir or ""
        if options.probe or options.probe_all:
            _enable_probe(settings, options.probe_all, options.probe_timeout, options.probe_concurrency, options.probe_total_timeout)
        if options.diff:
            raise CommandExit(_show_fixes(options.paths or [], settings, registry, rule_ids, options.stdin_filename, options.unsafe_fixes, options.baseline, options.exit_zero))
        if options.fix:
            if options.write_baseline:
                raise fail("--fix and --write-baseline exclude each other: fix first, then write the baseline")
            result = _fix(options.paths or [], settings, registry, rule_ids, options.unsafe_fixes, options.baseline)
        else:
            inputs = _inputs(options.paths or [], options.stdin_filename)
            result = _run(inputs, settings, registry, rule_ids)
            diagnosis = _diagnose(options.log, options.since, inputs, result, settings, registry, rule_ids) if options.log else None
        findings, summary_notes = result.findings, list[str]()
        if options.write_baseline:
            findings, summary_notes = _write_baseline(options.write_baseline, result)
        elif options.baseline:
            findings, summary_notes = _apply_baseline(options.baseline, result)
    except (RuleError, InputError, ConfigError) as error:
        raise fail(str(error))
    except InternalRuleError as error:
        sys.stderr.write(f"nginx-502lint: internal error: {error}; please report it with the config that triggers it\n")
        raise CommandExit(EXIT_USAGE)

    from .reporters import Report, find_repository_root

    if diagnosis is not None and options.output_format.value in ("sarif", "github", "gitlab", "junit"):
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
        extras={"diagnosis": diagnosis, "probe": _probe_report(settings)},
    )
    _emit(report, options.output_format.value, options.output, options.statistics, options.color)
    threshold = Severity.parse(options.fail_on.value if options.fail_on else file_config.fail_on or Level.warning.value)
    failing = any(f.severity >= threshold for f in findings) or bool(diagnosis is not None and diagnosis.client_errors)
    raise CommandExit(EXIT_FINDINGS if failing and not options.exit_zero else EXIT_CLEAN)


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
    from .fixes import FixError, describe_outcome, fix_until_stable

    fixable = (lambda result: _apply_baseline(baseline, result)[0]) if baseline else None
    try:
        fixing = fix_until_stable(paths, settings, registry, rule_ids, unsafe_fixes, fixable=fixable)
    except FixError as error:
        raise fail(str(error)) from None
    sys.stderr.write(describe_outcome(fixing.applied, fixing.skipped, stable=fixing.stable))
    return fixing.result


def _show_fixes(paths: list[str], settings: LintSettings, registry: Registry, rule_ids: list[str],
                stdin_filename: str | None, unsafe_fixes: bool, baseline: str | None, exit_zero: bool) -> int:
    """--diff: the fixes one --fix round would write, as a unified diff on stdout; writes nothing."""
    from .fixes import FixError, describe_outcome, plan_fixes, render_diff
    from .lint import STDIN

    result = _run(_inputs(paths, stdin_filename), settings, registry, rule_ids)
    findings = _apply_baseline(baseline, result)[0] if baseline else result.findings
    try:
        plan = plan_fixes(findings, result.sources, unsafe_fixes, from_disk=STDIN not in paths,
                          nginx_version=settings.nginx_version)
    except FixError as error:
        raise fail(str(error)) from None
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
    from .reporters import render
    from .reporters.text import iter_render
    from .reporters.text import statistics as statistics_table
    from .reporters.text import summary_line

    for_humans = report.replace(color=_use_color(color, sys.stdout))
    human = sys.stdout
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                if format_name == "text":
                    handle.writelines(iter_render(report))
                else:
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
        sys.stdout.writelines(iter_render(for_humans))
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
        _echo(f"{spec.id}  {spec.slug:<34} {str(spec.severity):<8} [{needs}] {spec.summary}")


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


def _echo(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _probe_report(settings: LintSettings) -> object:
    """What --probe found, for the reporters; None when it did not run (its module is then not even loaded)."""
    probe = sys.modules.get(f"{__package__}.probe")
    return probe.report_for(settings) if probe is not None else None


def main(argv: list[str] | None = None) -> int:
    """The console script: the fast path for a plain lint, typer for everything else.

    Without `argv` this is the process's own run (the console script, python -m),
    which exits when it returns, and a plain lint runs with the cyclic collector
    off. The imports of a lint create tens of thousands of objects, and a linted
    tree is all parent/child cycles: the collector would rescan them while the
    modules load (a few ms), while the report is rendered (~0.3 s of a 2.5 MB
    lint) and once more at interpreter exit (~20 ms for a small config, ~1 s for
    2.5 MB), only to free memory the exit frees anyway. What is alive at the end
    moves to the permanent generation, which the exit collection skips.
    Everything else (--fix lints several times over) keeps the collector, and
    with `argv` (tests, embedding) main leaves the interpreter as it found it;
    the library's lint() pauses the collector only while it builds and checks a tree.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    process_run, collector_was_on = argv is None, gc.isenabled()
    if process_run:
        gc.disable()
    try:
        options = None
        if not os.environ.get(FORCE_TYPER_ENV):
            from .fastpath import parse_plain_invocation

            options = parse_plain_invocation(args)
        if options is not None:
            return run(options)
        if collector_was_on:
            gc.enable()
        from .cli_typer import invoke

        return invoke(args)
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
    finally:
        if process_run:
            gc.freeze()
            if collector_was_on:
                gc.enable()

"""Lint a batch of inputs: cached results first, then the rest in one process or several.

An input that another input includes is linted only from there (as nginx
reads it); the others are the roots, reported in the order they were given.
With `jobs` > 1, inputs that missed the cache are linted in forked worker
processes, each loading and checking whole inputs (a single tree is never
split, so -j pays off for many files, as pre-commit passes them). Every
worker reaches the same findings as a sequential run; the suite compares them.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, NamedTuple

from .engine import InternalRuleError, LintSettings, Registry, RuleError, run_rules
from .findings import Finding
from .model import Model
from .parse import Loader, ParsedConfig, SourceFile, gc_paused

if TYPE_CHECKING:
    from .cache import ResultCache
    from .lint import Input


class Outcome:
    __slots__ = ("main_file", "files", "sources", "findings")

    def __init__(self, main_file: str, files: list[str], sources: dict[str, SourceFile],
                 findings: list[Finding] | None) -> None:
        self.main_file = main_file
        self.files = files
        self.sources = sources
        self.findings = findings  # None until its rules ran (never, if it is not a root)


def outcome_of(config: ParsedConfig, findings: list[Finding] | None) -> Outcome:
    return Outcome(config.main_file, list(config.files), dict(config.files), findings)


def lint_inputs(
    inputs: list[Input],
    settings: LintSettings,
    registry: Registry,
    rule_ids: list[str],
    load_text: Callable[[Input, LintSettings], ParsedConfig],
    jobs: int = 1,
    cache: ResultCache | None = None,
) -> list[Outcome]:
    """The outcome of every root input, in input order."""
    # multiprocessing and the cache's json/hashlib load only when asked for:
    # a pre-commit run on one small file should not pay for them.
    if cache is not None:
        from .cache import cache_applies

        cache = cache if cache_applies(settings) else None
    if cache is not None:
        cache.prepare(settings, registry, rule_ids)
    loader = Loader(prefix=settings.prefix, host=settings.host, digests=cache is not None)
    outcomes: list[Outcome | None] = [None] * len(inputs)
    configs: dict[int, ParsedConfig] = {}

    def key(index: int) -> str | None:
        item = inputs[index]
        return cache.key(item.path) if cache is not None and item.text is None else None

    for index in range(len(inputs)):
        entry_key = key(index)
        if entry_key is not None:
            hit = cache.get(entry_key, loader, want_findings=False)  # type: ignore[union-attr]
            if hit is not None:
                outcomes[index] = Outcome(hit.main_file, hit.files, hit.sources, hit.findings)
    misses = [i for i, outcome in enumerate(outcomes) if outcome is None]
    on_disk = [i for i in misses if inputs[i].text is None]
    failures: dict[int, Exception] = {}
    if _workers(jobs, len(on_disk)) > 1:
        results = _lint_in_workers([inputs[i].path for i in on_disk], settings, registry, rule_ids, cache, jobs)
        for index, result in zip(on_disk, results):
            if isinstance(result, _Failure):
                if result.main_file is None:
                    raise _reraise(result, registry)  # it could not even be loaded
                failures[index] = _reraise(result, registry)
                result = Outcome(result.main_file, list(result.files), {}, [])
            outcomes[index] = result
    for index in misses:
        if outcomes[index] is None:
            item = inputs[index]
            config = load_text(item, settings) if item.text is not None else loader.load(item.path)
            configs[index] = config
            outcomes[index] = outcome_of(config, None)

    done = [o for o in outcomes if o is not None]
    assert len(done) == len(inputs)
    roots = _roots(done)
    for index in roots:
        if index in failures:
            raise failures[index]  # as a one-process run would; a non-root's failure is never seen
        outcome = done[index]
        if outcome.findings is None:
            config = configs.get(index) or loader.load(inputs[index].path)
            configs[index] = config
            outcome.findings = check_config(config, settings, registry, rule_ids)
    if cache is not None:
        for index, config in configs.items():
            entry_key = key(index)
            if entry_key is not None:
                cache.put(entry_key, config, outcomes[index].findings)  # type: ignore[union-attr]
    return [outcomes[i] for i in roots]  # type: ignore[misc]


def check_config(config: ParsedConfig, settings: LintSettings, registry: Registry, rule_ids: list[str]) -> list[Finding]:
    # The rules leave almost no cyclic garbage, but with a big tree in memory
    # every collection would rescan it (about 15% of a run on a big tree).
    with gc_paused():
        return run_rules(registry, rule_ids, Model(config, settings.nginx_version), settings)


def _roots(outcomes: list[Outcome]) -> list[int]:
    """Indexes of the inputs no other input includes (pre-commit may pass a file and its includer)."""
    included = {path for outcome in outcomes for path in outcome.files if path != outcome.main_file}
    return [index for index, outcome in enumerate(outcomes) if outcome.main_file not in included]


def _workers(jobs: int, tasks: int) -> int:
    if jobs == 1 or tasks < 2:
        return 1
    import multiprocessing

    wanted = jobs if jobs > 0 else (os.cpu_count() or 1)
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # workers inherit the registry and settings by fork; elsewhere run in one process
    return max(1, min(wanted, tasks))


# --- workers ---------------------------------------------------------------------------

class _Failure(NamedTuple):
    rule_error: bool
    rule_id: str | None
    error_type: str
    message: str
    main_file: str | None = None  # known when the input loaded and a rule failed
    files: tuple[str, ...] = ()


_shared: tuple[LintSettings, Registry, list[str], ResultCache | None] | None = None
_worker_loader: Loader | None = None


def _lint_in_workers(paths: list[str], settings: LintSettings, registry: Registry, rule_ids: list[str],
                     cache: ResultCache | None, jobs: int) -> list[Outcome | _Failure]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _shared
    workers = _workers(jobs, len(paths))
    for rule_id in rule_ids:
        registry.get(rule_id)  # import every rule once, before the fork, not once per worker
    _shared = (settings, registry, rule_ids, cache)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_lint_one, paths, chunksize=max(1, len(paths) // (workers * 4))))
    finally:
        _shared = None


def _lint_one(path: str) -> Outcome | _Failure:
    global _worker_loader
    assert _shared is not None
    settings, registry, rule_ids, cache = _shared
    if _worker_loader is None:
        _worker_loader = Loader(prefix=settings.prefix, host=settings.host, digests=cache is not None)
    try:
        config = _worker_loader.load(path)
    except Exception as error:  # reported by the parent exactly as a one-process run would
        return _Failure(False, None, type(error).__name__, str(error))
    known = (config.main_file, tuple(config.files))
    try:
        findings = check_config(config, settings, registry, rule_ids)
    except RuleError as error:
        return _Failure(True, None, type(error).__name__, str(error), *known)
    except InternalRuleError as error:
        return _Failure(False, error.spec.id, type(error.error).__name__, str(error.error), *known)
    except Exception as error:
        return _Failure(False, None, type(error).__name__, str(error), *known)
    if cache is not None:
        cache.put(cache.key(path), config, findings)
    return outcome_of(config, findings)


def _reraise(failure: _Failure, registry: Registry) -> Exception:
    if failure.rule_error:
        return RuleError(failure.message)
    original = type(failure.error_type, (Exception,), {})(failure.message)
    if failure.rule_id is not None:
        return InternalRuleError(registry.get(failure.rule_id), original)
    return original

"""The library API: lint files (or stdin, or an nginx -T dump) and return findings."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

from .dump import looks_like_dump, split_dump
from .engine import LintSettings, Registry
from .findings import LintResult
from .parse import EncodingProblem, FileSystem, InputError, Loader, ParsedConfig, decode_config_bytes, display_path
from .suppress import apply_suppressions

if TYPE_CHECKING:
    from .cache import ResultCache

STDIN = "-"


class Input:
    """One thing to lint: a path on disk, or text that came from stdin.

    A plain class, not a dataclass: see findings.py.
    """

    __slots__ = ("path", "text")

    def __init__(self, path: str, text: str | None = None) -> None:
        self.path = path
        self.text = text

    def __repr__(self) -> str:
        return f"Input(path={self.path!r}, text={self.text!r})"

    def __eq__(self, other: Any) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.path, self.text) == (other.path, other.text)

    __hash__ = None  # type: ignore[assignment]  # mutable, as it was as a dataclass


def read_stdin_input(data: bytes, stdin_filename: str | None) -> Input:
    name = stdin_filename or "<stdin>"
    try:
        text = decode_config_bytes(data)
    except EncodingProblem as problem:
        if problem.text is None:
            raise InputError(f"{name}: {problem}") from None
        text = "\ufeff" + problem.text  # keep the BOM so the parser reports it
    return Input(name, text)


def expand_paths(paths: Iterable[str]) -> list[str]:
    """Files to lint; a folder means its nginx.conf, or else every *.conf in it."""
    result: list[str] = []
    for path in paths:
        if path == STDIN:
            result.append(path)
        elif os.path.isdir(path):
            main = os.path.join(path, "nginx.conf")
            if os.path.isfile(main):
                result.append(main)
            else:
                for folder, dirs, files in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                    result.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".conf"))
        elif os.path.lexists(path):
            result.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return result


def load_inputs(inputs: list[Input], settings: LintSettings) -> list[ParsedConfig]:
    """Parse every input; a file that another input includes is linted only from there."""
    disk_loader = Loader(prefix=settings.prefix, host=settings.host)
    loaded: list[tuple[str, ParsedConfig]] = []
    for item in inputs:
        if item.text is not None:
            loaded.append((item.path, _load_text(item, settings)))
        else:
            loaded.append((os.path.abspath(item.path), disk_loader.load(item.path)))
    roots: list[ParsedConfig] = []
    for index, (path, config) in enumerate(loaded):
        shown = config.main_file
        included_elsewhere = any(
            other_index != index and shown in other.files and shown != other.main_file
            for other_index, (_, other) in enumerate(loaded)
        )
        if not included_elsewhere:
            roots.append(config)
    return roots


def _load_text(item: Input, settings: LintSettings) -> ParsedConfig:
    assert item.text is not None
    if looks_like_dump(item.text):
        files = split_dump(item.text)
        if not files:
            raise InputError(f"{item.path}: looks like an nginx -T dump but holds no file")
        main = next(iter(files))
        loader = Loader(prefix=settings.prefix or os.path.dirname(main), host=settings.host,
                        fs=FileSystem(files, allow_disk=settings.host), display=lambda p: p)
        return loader.load(main)
    name = item.path
    real = os.path.abspath(name) if name != "<stdin>" else os.path.join(os.getcwd(), "<stdin>")
    loader = Loader(prefix=settings.prefix or os.path.dirname(real), host=settings.host,
                    fs=FileSystem({real: item.text}), display=lambda p: name if p == real else display_path(p))
    return loader.load(real)


def lint(
    inputs: list[Input],
    settings: LintSettings | None = None,
    registry: Registry | None = None,
    rule_ids: Iterable[str] | None = None,
    *,
    jobs: int = 1,
    cache: ResultCache | None = None,
) -> LintResult:
    """Lint the inputs. `jobs` > 1 lints that many inputs at once in worker processes
    (0: one per CPU); `cache` reuses the stored result of every input whose files,
    includes, settings and rules are unchanged (see cache.py)."""
    from .batch import lint_inputs

    settings = settings or LintSettings()
    registry = registry or Registry.default()
    selected = list(rule_ids) if rule_ids is not None else registry.ids()
    result = LintResult()
    seen: set[tuple[str, str, int, int, str]] = set()
    for outcome in lint_inputs(inputs, settings, registry, selected, _load_text, jobs=jobs, cache=cache):
        for finding in outcome.findings or ():
            key = (finding.rule, finding.file, finding.line, finding.column, finding.message)
            if key not in seen:
                seen.add(key)
                result.findings.append(finding)
        for path, source in outcome.sources.items():
            if path not in result.sources:
                result.files.append(path)
                result.sources[path] = source
    apply_suppressions(result, registry, selected, settings)
    result.findings.sort(key=lambda f: f.sort_key)
    return result


def lint_paths(paths: list[str], settings: LintSettings | None = None, **kwargs: object) -> LintResult:
    """Convenience for library users and tests: lint files on disk."""
    return lint([Input(p) for p in expand_paths(paths)], settings, **kwargs)  # type: ignore[arg-type]

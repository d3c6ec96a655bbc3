"""The configuration file: discovery, one JSON Schema for every key, loading.

`[tool.nginx-502lint]` in pyproject.toml, or the top-level keys of
.nginx-502lint.toml, found by walking up from the linted files (the nearest
wins; a pyproject.toml without the table is passed over) or named with
--config. The schema is composed from the core keys and every rule's OPTIONS,
so editors, `--config-schema` and validation all see the same contract.
"""
from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any, Iterable

from .findings import Severity

if TYPE_CHECKING:
    from .engine import LintSettings, Registry

DEDICATED_FILE = ".nginx-502lint.toml"
PYPROJECT = "pyproject.toml"
TABLE = "nginx-502lint"
SCHEMA_ID = "https://github.com/nginx-502lint/nginx-502lint/blob/main/docs/configuration.md"
LEVELS = ("error", "warning", "info")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
PAGE_SIZES = {"4k": 4096, "8k": 8192, "16k": 16384, "64k": 65536}


class ConfigError(Exception):
    """The configuration file is unreadable or invalid (exit 2)."""


class Config:
    """A configuration file's settings. A plain class, not a dataclass: see findings.py."""

    __slots__ = ("path", "select", "ignore", "rule_options", "severity", "per_file_ignores", "nginx_version",
                 "php_fpm", "known_directives", "prefix", "fail_on", "page_size")

    def __init__(
        self,
        path: str | None = None,
        select: list[str] | None = None,
        ignore: list[str] | None = None,
        rule_options: dict[str, dict[str, Any]] | None = None,
        severity: dict[str, Severity] | None = None,
        per_file_ignores: dict[str, list[str]] | None = None,
        nginx_version: str | None = None,
        php_fpm: list[str] | None = None,
        known_directives: list[str] | None = None,
        prefix: str | None = None,
        fail_on: str | None = None,
        page_size: int | None = None,
    ) -> None:
        self.path = path
        self.select = select
        self.ignore: list[str] = [] if ignore is None else ignore
        self.rule_options: dict[str, dict[str, Any]] = {} if rule_options is None else rule_options  # by rule id
        self.severity: dict[str, Severity] = {} if severity is None else severity  # by rule id
        self.per_file_ignores: dict[str, list[str]] = {} if per_file_ignores is None else per_file_ignores  # glob -> ids
        self.nginx_version = nginx_version
        self.php_fpm: list[str] = [] if php_fpm is None else php_fpm
        self.known_directives: list[str] = [] if known_directives is None else known_directives
        self.prefix = prefix
        self.fail_on = fail_on
        self.page_size = page_size


# --- discovery -------------------------------------------------------------------

def discovery_start(paths: Iterable[str]) -> str:
    """The folder to search upward from: the deepest folder holding every linted path."""
    folders = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".") for p in paths]
    if not folders:
        return os.getcwd()
    try:
        return os.path.commonpath(folders)
    except ValueError:  # different drives
        return folders[0]


def find_config(start: str) -> str | None:
    directory = os.path.abspath(start)
    while True:
        dedicated = os.path.join(directory, DEDICATED_FILE)
        if os.path.isfile(dedicated):
            return dedicated
        pyproject = os.path.join(directory, PYPROJECT)
        if os.path.isfile(pyproject) and _has_table(pyproject):
            return pyproject
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _has_table(pyproject: str) -> bool:
    try:
        with open(pyproject, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    if TABLE not in text:  # most pyproject.toml files: no TOML parse needed
        return False
    try:
        data = _parse_toml(text, pyproject)
    except ConfigError:
        return True  # ours, and broken: loading it reports the error
    return isinstance(data.get("tool"), dict) and TABLE in data["tool"]


def _parse_toml(text: str, path: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


# --- schema ----------------------------------------------------------------------

def build_schema(registry: Registry) -> dict[str, Any]:
    specs = registry.all()
    names = sorted({s.id for s in specs} | {s.slug for s in specs} | {s.family for s in specs} | {"ALL"})
    selector = {
        "type": "string",
        "enum": names,
        "description": "a rule id (T102), slug (timeout-too-short), family letter (T) or ALL",
    }
    selectors = {"type": "array", "items": selector}
    rule_tables: dict[str, Any] = {}
    for spec in specs:
        options = {"additionalProperties": False, **spec.options_schema}
        options.setdefault("description", f"options of {spec.id} {spec.slug}")
        rule_tables[spec.id] = rule_tables[spec.slug] = options
    properties: dict[str, Any] = {
        "select": {**selectors, "description": "rules to run (default: all)"},
        "ignore": {**selectors, "description": "rules to skip"},
        "rules": {
            "type": "object",
            "description": "per-rule options, keyed by rule id or slug",
            "properties": rule_tables,
            "additionalProperties": False,
        },
        "severity": {
            "type": "object",
            "description": "severity overrides: rule id, slug or family -> error | warning | info",
            "propertyNames": selector,
            "additionalProperties": {"enum": list(LEVELS), "description": "error, warning or info"},
        },
        "per-file-ignores": {
            "type": "object",
            "description": "glob -> rules to skip in matching files; globs with a / are relative to the config file's folder, others match file names",
            "additionalProperties": selectors,
        },
        "nginx-version": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+)?$", "description": "the target nginx version, like 1.24.0"},
        "php-fpm": {"type": "array", "items": {"type": "string"}, "description": "php-fpm pool files or globs, relative to the config file's folder"},
        "known-directives": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "description": "directive names of third-party modules to accept",
        },
        "prefix": {"type": "string", "description": "nginx's prefix folder, relative to the config file's folder"},
        "fail-on": {"enum": list(LEVELS), "description": "error, warning or info: the lowest severity that fails the run"},
        "page-size": {
            "enum": [*PAGE_SIZES.values(), *PAGE_SIZES],
            "description": "the memory page size of the nginx host: 4k, 8k, 16k or 64k",
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "nginx-502lint configuration",
        "description": f"[tool.{TABLE}] in pyproject.toml, or the top level of {DEDICATED_FILE}",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def validate(data: dict[str, Any], schema: dict[str, Any], file: str, table: str = "") -> None:
    """Raise ConfigError naming the file, the key path and what was expected, on one line."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        keys = [table] if table else []
        keys += [_key(p) for p in error.absolute_path]
        where = ".".join(keys).replace(".[", "[") or "(top level)"
        raise ConfigError(f"{file}: {where}: {_expected(error, list(error.absolute_path))}")


def _key(part: Any) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return part if _BARE_KEY.match(part) else json.dumps(part)


def _expected(error: Any, path: list[Any]) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = schema.get("properties", {})
        extra = next(key for key in error.instance if key not in known)
        what = {0: "key", 1: "rule" if path == ["rules"] else "key", 2: "option"}.get(len(path), "key")
        hint = f" (expected one of: {', '.join(sorted(known))})" if 0 < len(known) <= 12 else ""
        return f"unknown {what} {extra!r}{hint}"
    expected = schema.get("description") if error.validator in ("enum", "pattern") else None
    if expected:
        return f"{error.instance!r} is invalid: expected {expected}"
    return str(error.message)


# --- loading ---------------------------------------------------------------------

def load_config(path: str, registry: Registry, schema: dict[str, Any] | None = None) -> Config:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {getattr(error, 'strerror', None) or error}") from None
    data: Any = _parse_toml(text, path)
    table = ""
    if os.path.basename(path) == PYPROJECT:
        table = f"tool.{TABLE}"
        tool = data.get("tool")
        data = tool.get(TABLE) if isinstance(tool, dict) else None
        if data is None:
            raise ConfigError(f"{path}: has no [{table}] table")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {table}: expected a table")
    validate(data, schema or build_schema(registry), path, table)
    return _to_config(data, path, registry)


def _to_config(data: dict[str, Any], path: str, registry: Registry) -> Config:
    folder = os.path.dirname(os.path.abspath(path))
    config = Config(path=path)
    if "select" in data:
        config.select = list(data["select"])
    config.ignore = list(data.get("ignore", ()))
    for name, options in data.get("rules", {}).items():
        rule_id = registry.resolve(name)[0]
        config.rule_options.setdefault(rule_id, {}).update(options)
    for name, level in data.get("severity", {}).items():
        for rule_id in registry.resolve(name):
            config.severity[rule_id] = Severity.parse(level)
    for pattern, names in data.get("per-file-ignores", {}).items():
        anchored = os.path.normpath(os.path.join(folder, pattern)) if "/" in pattern else pattern
        config.per_file_ignores[anchored] = sorted({i for name in names for i in registry.resolve(name)})
    config.nginx_version = data.get("nginx-version")
    config.php_fpm = [os.path.join(folder, p) for p in data.get("php-fpm", ())]
    config.known_directives = list(data.get("known-directives", ()))
    if "prefix" in data:
        config.prefix = os.path.normpath(os.path.join(folder, data["prefix"]))
    config.fail_on = data.get("fail-on")
    if "page-size" in data:
        size = data["page-size"]
        config.page_size = PAGE_SIZES[size] if isinstance(size, str) else int(size)
    return config


# --- settings for a run ----------------------------------------------------------

def build_settings(
    config: Config,
    registry: Registry,
    *,
    prefix: str | None = None,
    host: bool = False,
    php_fpm: list[str] | None = None,
    nginx_version: tuple[int, ...] | None = None,
) -> tuple[LintSettings, list[str]]:
    """The run's settings, command-line values over the file's; plus notes for the user."""
    from .engine import LintSettings

    settings = LintSettings(
        prefix=prefix or config.prefix,
        host=host,
        php_fpm=list(php_fpm or config.php_fpm),
        known_directives=list(config.known_directives),
        rule_options={rule_id: dict(options) for rule_id, options in config.rule_options.items()},
        severity_overrides=dict(config.severity),
        per_file_ignores=dict(config.per_file_ignores),
    )
    if config.page_size:
        settings.page_size = config.page_size
        for spec in registry.all():  # the buffer rules take the page size as an option
            if "page_size" in spec.options_schema.get("properties", {}):
                settings.rule_options.setdefault(spec.id, {}).setdefault("page_size", config.page_size)
    notes: list[str] = []
    if nginx_version:
        settings.nginx_version, settings.version_source = nginx_version, "--nginx-version"
    elif config.nginx_version:
        settings.nginx_version = tuple(int(part) for part in config.nginx_version.split("."))
        settings.version_source = f"nginx-version in {config.path}"
    elif host:
        from .hostversion import VersionNotDetected, detect_nginx_version

        try:
            settings.nginx_version, binary = detect_nginx_version()
            settings.version_source = f"{binary} -v"
        except VersionNotDetected as error:
            notes.append(f"--host: cannot detect the nginx version ({error}); version-dependent rules "
                         "state their assumption (set it with --nginx-version)")
    return settings, notes

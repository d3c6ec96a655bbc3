"""The pluggable rule engine: finding rule modules, checking their options, running them.

A rule is a module (yamllint-style) with:

    \"\"\"Title line.  The docstring is the rule's documentation page.\"\"\"
    ID = "T102"
    SLUG = "timeout-too-short"
    SEVERITY = "warning"               # error | warning | info
    SUMMARY = "one line for --list-rules and SARIF"
    NEEDS = ("conf",)                  # conf, ver, pool, host, net
    OPTIONS = {"type": "object", "properties": {...}}   # JSON Schema, defaults inside
    def check(ctx: RuleContext) -> Iterable[None]: ...  # calls ctx.report(...)

Built-in rules live in the package `nginx_502lint.rules` (the repo's rules/),
third-party packs register modules or packages under the entry point group
`nginx_502lint.rules`, and `--rules-dir` loads every `*.py` of a folder.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from types import ModuleType
from typing import Any, Callable, Iterable, NamedTuple

from .findings import Edit, Finding, Fix, Severity
from .parse import Node

ENTRY_POINT_GROUP = "nginx_502lint.rules"
_ID = re.compile(r"^[A-Z]\d{3}$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MODULE_NAME = re.compile(r"^([a-z]\d{3})_([a-z0-9_]+)$")
_NEEDS = frozenset({"conf", "ver", "pool", "host", "net"})


class RuleError(Exception):
    """A rule pack or rule option is invalid: a configuration error (exit 2)."""


class LintSettings:
    """Everything a run is told, beyond the files themselves.

    A plain class, not a dataclass: see findings.py. Weakly referenceable, as
    pools.py keys a run's pools by it.
    """

    __slots__ = ("nginx_version", "version_source", "host", "prefix", "php_fpm", "known_directives", "page_size",
                 "rule_options", "severity_overrides", "per_file_ignores", "extras", "__weakref__")

    def __init__(
        self,
        nginx_version: tuple[int, ...] | None = None,
        version_source: str = "",
        host: bool = False,
        prefix: str | None = None,
        php_fpm: list[str] | None = None,
        known_directives: list[str] | None = None,
        page_size: int = 4096,
        rule_options: dict[str, dict[str, Any]] | None = None,
        severity_overrides: dict[str, Severity] | None = None,
        per_file_ignores: dict[str, list[str]] | None = None,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.nginx_version = nginx_version
        self.version_source = version_source
        self.host = host
        self.prefix = prefix
        self.php_fpm: list[str] = [] if php_fpm is None else php_fpm
        self.known_directives: list[str] = [] if known_directives is None else known_directives
        self.page_size = page_size
        self.rule_options: dict[str, dict[str, Any]] = {} if rule_options is None else rule_options
        self.severity_overrides: dict[str, Severity] = {} if severity_overrides is None else severity_overrides
        # glob (absolute or a bare file name) -> rule ids
        self.per_file_ignores: dict[str, list[str]] = {} if per_file_ignores is None else per_file_ignores
        self.extras: dict[str, Any] = {} if extras is None else extras

    def values(self) -> dict[str, Any]:
        """Every setting by name (what dataclasses.asdict gave, without the deep copy)."""
        return {name: getattr(self, name) for name in self.__slots__ if name != "__weakref__"}

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.nginx_version)) if self.nginx_version else ""


class RuleSpec(NamedTuple):
    id: str
    slug: str
    severity: Severity
    summary: str
    needs: tuple[str, ...]
    options_schema: dict[str, Any]
    doc: str
    check: Callable[[RuleContext], Iterable[Any]]
    origin: str

    @property
    def family(self) -> str:
        return self.id[0]

    @property
    def title(self) -> str:
        return self.doc.strip().splitlines()[0].strip() if self.doc.strip() else self.summary

    def defaults(self) -> dict[str, Any]:
        props = self.options_schema.get("properties", {})
        return {key: value["default"] for key, value in props.items() if isinstance(value, dict) and "default" in value}

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        options = self.defaults()
        if given:
            check_schema(self)
            validate_options(self, given)
            options.update(given)
        return options


def validate_options(spec: RuleSpec, given: dict[str, Any]) -> None:
    import jsonschema

    schema = {"type": "object", "additionalProperties": False, **spec.options_schema}
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(given), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(options)"
        raise RuleError(f"invalid option for {spec.id} ({spec.slug}) at {where}: {first.message}")


def spec_from_module(module: ModuleType, origin: str) -> RuleSpec:
    name = getattr(module, "__name__", origin)
    missing = [attr for attr in ("ID", "SLUG", "SEVERITY", "check") if not hasattr(module, attr)]
    if missing:
        raise RuleError(f"rule module {name} ({origin}) lacks {', '.join(missing)}")
    rule_id, slug = str(module.ID), str(module.SLUG)
    if not _ID.match(rule_id):
        raise RuleError(f"rule module {name}: ID {rule_id!r} must look like T102 (a capital letter and three digits)")
    if not _SLUG.match(slug):
        raise RuleError(f"rule module {name}: SLUG {slug!r} must be lowercase words joined by '-'")
    try:
        severity = Severity.parse(str(module.SEVERITY))
    except ValueError as error:
        raise RuleError(f"rule module {name}: {error}") from None
    needs = tuple(getattr(module, "NEEDS", ("conf",)))
    unknown = set(needs) - _NEEDS
    if unknown:
        raise RuleError(f"rule module {name}: unknown NEEDS {sorted(unknown)} (known: {sorted(_NEEDS)})")
    schema = getattr(module, "OPTIONS", {"type": "object", "properties": {}})
    if not isinstance(schema, dict):
        raise RuleError(f"rule module {name}: OPTIONS must be a JSON Schema object")
    doc = (module.__doc__ or "").strip()
    summary = str(getattr(module, "SUMMARY", doc.splitlines()[0] if doc else slug))
    return RuleSpec(rule_id, slug, severity, summary, needs, schema, doc, module.check, origin)


def check_schema(spec: RuleSpec) -> None:
    """Validate a rule's OPTIONS against the JSON Schema meta-schema.

    Done when options are given and in the test suite, not on every run:
    importing jsonschema costs more than linting a small config.
    """
    import jsonschema

    name, schema = spec.id, spec.options_schema
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        raise RuleError(f"rule module {name}: OPTIONS is not a valid JSON Schema: {error.message}") from None


# --- discovery -------------------------------------------------------------------

class _Lazy(NamedTuple):  # a NamedTuple takes a fifth of the time a dataclass takes to define, on every start
    id: str
    slug: str
    load: Callable[[], RuleSpec]


def may_declare_entry_points(group: str, path: Iterable[object] | None = None) -> bool:
    """False only when no distribution importlib.metadata can see declares `group`.

    importlib.metadata (and the email package it loads) takes longer to import
    than linting a small config, and almost no environment has a rule pack.
    importlib.metadata finds distributions through every sys.meta_path finder
    that has find_distributions; the standard PathFinder looks for
    *.dist-info / *.egg-info folders (EGG-INFO inside an *.egg) in each
    sys.path entry, folder or zip. This looks in the same folders for an
    entry_points.txt naming the group, and says True (ask importlib.metadata)
    for anything it does not check itself: other finders, zips, odd entries.
    Editable installs are covered: their dist-info sits in site-packages, and
    a legacy .egg-link's egg-info sits in a folder its .pth put on sys.path.
    """
    from importlib.machinery import PathFinder

    if any(getattr(finder, "find_distributions", None) is not None and finder is not PathFinder
           for finder in sys.meta_path):
        return True
    needle = group.encode()
    for entry in sys.path if path is None else path:
        if not isinstance(entry, str):
            return True
        folder = entry or "."
        try:
            children = os.listdir(folder)
        except NotADirectoryError:
            return True  # a zip (or an .egg file) on sys.path
        except OSError:
            continue  # missing or unreadable: importlib.metadata sees nothing there either
        metadata = [child for child in children if child.lower().endswith((".dist-info", ".egg-info"))]
        if folder.lower().endswith(".egg"):
            metadata += [child for child in children if child.lower() == "egg-info"]
        for child in metadata:
            try:
                with open(os.path.join(folder, child, "entry_points.txt"), "rb") as handle:
                    if needle in handle.read():
                        return True
            except NotADirectoryError:
                continue  # a PKG-INFO-style *.egg-info file declares no entry points
            except FileNotFoundError:
                continue
            except OSError:
                return True
    return False


def module_names(path: Iterable[str]) -> list[str]:
    """The modules and packages in a package's folders, as pkgutil.iter_modules names them.

    pkgutil imports inspect (with ast, dis and tokenize) for this, which costs
    a plain lint of a small config ~20 ms. Folders are listed here the way
    pkgutil lists them; anything else on the path (a zip) goes to pkgutil.
    """
    from importlib.machinery import all_suffixes

    folders = list(path)
    if not all(isinstance(folder, str) and os.path.isdir(folder) for folder in folders):
        import pkgutil

        return [info.name for info in pkgutil.iter_modules(folders)]
    suffixes = sorted(all_suffixes(), key=len, reverse=True)  # the longest first, as inspect.getmodulename
    names: dict[str, None] = {}
    for folder in folders:
        for file_name in sorted(os.listdir(folder)):  # packages before same-named modules, as pkgutil
            name = next((file_name[:-len(suffix)] for suffix in suffixes if file_name.endswith(suffix)), None)
            if name is None and "." not in file_name and _is_package(os.path.join(folder, file_name), suffixes):
                name = file_name
            if name and name != "__init__" and "." not in name:
                names.setdefault(name)
    return list(names)


def _is_package(folder: str, suffixes: list[str]) -> bool:
    try:
        return any(entry in {f"__init__{suffix}" for suffix in suffixes} for entry in os.listdir(folder))
    except OSError:
        return False


class Registry:
    """All rules known to this run. Built-in rules are imported only when used."""

    def __init__(self) -> None:
        self._lazy: dict[str, _Lazy] = {}
        self._loaded: dict[str, RuleSpec] = {}

    # loading ------------------------------------------------------------------
    @classmethod
    def default(cls, rules_dirs: Iterable[str] = (), entry_points: bool = True) -> Registry:
        registry = cls()
        registry.add_builtin()
        if entry_points:
            registry.add_entry_points()
        for folder in rules_dirs:
            registry.add_directory(folder)
        return registry

    def add_builtin(self) -> None:
        package = importlib.import_module("nginx_502lint.rules")
        for name in module_names(package.__path__):
            match = _MODULE_NAME.match(name)
            if not match:
                continue
            rule_id, slug = match.group(1).upper(), match.group(2).replace("_", "-")
            module_name = f"nginx_502lint.rules.{name}"
            self._add_lazy(rule_id, slug, self._importer(module_name, "built-in"))

    def add_entry_points(self) -> None:
        if not may_declare_entry_points(ENTRY_POINT_GROUP):
            return
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = point.load()
            except Exception as error:
                raise RuleError(f"rule pack {point.name!r} ({point.value}) failed to load: {error}") from None
            self._add_module_or_package(loaded, f"entry point {point.name}")

    def add_directory(self, folder: str) -> None:
        from pathlib import Path

        path = Path(folder)
        if not path.is_dir():
            raise RuleError(f"--rules-dir {folder}: not a directory")
        for file in sorted(path.glob("*.py")):
            if file.name.startswith("_"):
                continue
            module_name = f"nginx_502lint_local_rules.{file.stem}"
            import importlib.util

            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise RuleError(f"cannot load rule file {file}")
            module = importlib.util.module_from_spec(spec)
            try:
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except Exception as error:
                raise RuleError(f"rule file {file} failed to import: {type(error).__name__}: {error}") from None
            self._add_spec(spec_from_module(module, str(file)))

    def _add_module_or_package(self, loaded: Any, origin: str) -> None:
        if isinstance(loaded, ModuleType) and hasattr(loaded, "ID"):
            self._add_spec(spec_from_module(loaded, origin))
        elif isinstance(loaded, ModuleType) and hasattr(loaded, "__path__"):
            for name in module_names(loaded.__path__):
                module = importlib.import_module(f"{loaded.__name__}.{name}")
                if hasattr(module, "ID"):
                    self._add_spec(spec_from_module(module, origin))
        elif callable(loaded):
            for module in loaded():
                self._add_spec(spec_from_module(module, origin))
        else:
            raise RuleError(f"{origin}: expected a rule module, a package of rule modules, or a function returning modules")

    def _importer(self, module_name: str, origin: str) -> Callable[[], RuleSpec]:
        def load() -> RuleSpec:
            return spec_from_module(importlib.import_module(module_name), origin)

        return load

    def _add_lazy(self, rule_id: str, slug: str, load: Callable[[], RuleSpec]) -> None:
        if rule_id in self._lazy:
            raise RuleError(f"two rules claim the id {rule_id}")
        self._lazy[rule_id] = _Lazy(rule_id, slug, load)

    def _add_spec(self, spec: RuleSpec) -> None:
        existing = self._lazy.get(spec.id)
        if existing is not None:
            raise RuleError(f"rule {spec.id} from {spec.origin} clashes with an existing rule of that id ({existing.slug})")
        self._lazy[spec.id] = _Lazy(spec.id, spec.slug, lambda: spec)
        self._loaded[spec.id] = spec

    # queries ------------------------------------------------------------------
    def ids(self) -> list[str]:
        return sorted(self._lazy)

    def rule_source_files(self, rule_ids: Iterable[str]) -> list[str]:
        """Source files of the given rules that do not ship with the linter (rules dirs, entry points)."""
        files: list[str] = []
        for rule_id in rule_ids:
            spec = self._loaded.get(rule_id)
            if spec is None or spec.origin == "built-in":
                continue
            module = sys.modules.get(getattr(spec.check, "__module__", "") or "")
            files.append(str(getattr(module, "__file__", None) or spec.origin))
        return files

    def get(self, rule_id: str) -> RuleSpec:
        if rule_id not in self._loaded:
            spec = self._lazy[rule_id].load()
            if spec.id != rule_id or spec.slug != self._lazy[rule_id].slug:
                raise RuleError(
                    f"rule module for {rule_id} declares {spec.id} {spec.slug}; "
                    "the module name must be <id>_<slug>.py"
                )
            self._loaded[rule_id] = spec
        return self._loaded[rule_id]

    def all(self) -> list[RuleSpec]:
        return [self.get(rule_id) for rule_id in self.ids()]

    def resolve(self, selector: str) -> list[str]:
        """Ids matching an id (T102), a slug (timeout-too-short), a family (T) or prefix (T1)."""
        text = selector.strip()
        if not text:
            return []
        upper = text.upper()
        if upper == "ALL":
            return self.ids()
        if upper in self._lazy:
            return [upper]
        by_slug = [i for i, lazy in self._lazy.items() if lazy.slug == text.lower()]
        if by_slug:
            return by_slug
        if re.fullmatch(r"[A-Z]\d{0,2}", upper):
            return sorted(i for i in self._lazy if i.startswith(upper))
        raise RuleError(f"unknown rule {selector!r} (use an id like T102, a slug like timeout-too-short, or a family letter like T)")

    def select(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[str]:
        chosen: set[str] = set()
        select = list(select)
        for selector in select or ["ALL"]:
            chosen.update(self.resolve(selector))
        for selector in ignore:
            chosen.difference_update(self.resolve(selector))
        return sorted(chosen)


# --- running ---------------------------------------------------------------------

class RuleContext:
    """What a rule's `check` receives: the model, its options and a way to report."""

    def __init__(self, spec: RuleSpec, model: Any, options: dict[str, Any], settings: LintSettings) -> None:
        self.spec = spec
        self.model = model
        self.options = options
        self.settings = settings
        self.findings: list[Finding] = []

    @property
    def version(self) -> tuple[int, ...] | None:
        return self.settings.nginx_version

    def version_at_least(self, *wanted: int) -> bool | None:
        """True/False against the target nginx version; None when it is unknown."""
        if self.settings.nginx_version is None:
            return None
        return self.settings.nginx_version >= wanted

    def report(
        self,
        node: Node | None,
        message: str,
        *,
        mechanism: str = "",
        fix: Fix | None = None,
        severity: Severity | str | None = None,
        file: str | None = None,
        line: int | None = None,
        column_word: str | None = None,
        context: str | None = None,
    ) -> Finding:
        if isinstance(severity, str):
            severity = Severity.parse(severity)
        if fix is not None and not fix.edits and fix.applicability != "display_only":
            # applicability describes machine edits; advice alone is display-only
            fix = Fix(fix.description, (), "display_only")
        level = self.settings.severity_overrides.get(self.spec.id) or severity or self.spec.severity
        where_file = file if file is not None else (node.file if node is not None else "")
        where_line = line if line is not None else (node.line if node is not None else 1)
        column = 1
        source = self.model.source(where_file) if self.model is not None else None
        if source is not None:
            column = source.column_of(where_line, column_word or (node.name if node is not None else ""))
        if context is None and node is not None and self.model is not None and node.parent is not None:
            context = self.model.describe(node.parent)
        finding = Finding(
            rule=self.spec.id,
            slug=self.spec.slug,
            severity=level,
            file=where_file,
            line=where_line,
            column=column,
            message=message,
            mechanism=mechanism,
            fix=fix,
            context=context or "",
        )
        self.findings.append(finding)
        return finding

    # fix helpers ------------------------------------------------------------------
    @staticmethod
    def replace(node: Node, text: str) -> Edit:
        return Edit("replace", node.file, node.line, text=text, directive=node.name)

    @staticmethod
    def delete(node: Node) -> Edit:
        return Edit("delete", node.file, node.line, directive=node.name)

    @staticmethod
    def insert_into(block: Node, text: str) -> Edit | None:
        """Add directives at the top of `block` (None when the block is synthetic)."""
        if block.synthetic or block.parent is None:
            return None
        return Edit("insert", block.file, block.line, text=text, directive=block.name)

    @staticmethod
    def insert_after(node: Node, text: str) -> Edit:
        return Edit("insert", node.file, node.line, text=text, directive=node.name, after=True)


def run_rules(registry: Registry, rule_ids: Iterable[str], model: Any, settings: LintSettings) -> list[Finding]:
    findings: list[Finding] = []
    for rule_id in rule_ids:
        spec = registry.get(rule_id)
        if not _inputs_available(spec, settings):
            continue
        options = spec.resolve_options(settings.rule_options.get(spec.id) or settings.rule_options.get(spec.slug))
        ctx = RuleContext(spec, model, options, settings)
        try:
            for _ in spec.check(ctx) or ():
                pass
        except RuleError:
            raise
        except Exception as error:  # one broken rule must not hide the others' findings
            raise InternalRuleError(spec, error) from error
        findings.extend(ctx.findings)
    return findings


def _inputs_available(spec: RuleSpec, settings: LintSettings) -> bool:
    """Rules that can work from the config alone always run; the others need their input."""
    if "conf" in spec.needs:
        return True
    if "pool" in spec.needs and (settings.php_fpm or settings.host):
        return True
    if "host" in spec.needs and settings.host:
        return True
    if "net" in spec.needs and settings.extras.get("probe"):
        return True
    return False


class InternalRuleError(Exception):
    def __init__(self, spec: RuleSpec, error: BaseException) -> None:
        super().__init__(f"rule {spec.id} ({spec.slug}) crashed: {type(error).__name__}: {error}")
        self.spec = spec
        self.error = error

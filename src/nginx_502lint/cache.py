"""The result cache: an unchanged config re-lints from disk in a fraction of a cold run.

One entry per linted input and run setup. The entry's name (its key) hashes
everything the findings depend on besides the config files: the input's
path and the working directory (they shape reported paths), the settings
(target nginx version, options, severity overrides, ...), the selected rules,
and the linter itself (its version and the size and mtime of every file of
the package, its rule packs and the installed crossplane). The entry then
lists every file the run read with the digest of what the linter saw in it,
and every include pattern with the files it matched; it is used only if all
of them are still the same, so an edit, a new file in conf.d/ or a deleted
include all make it a miss.

Entries live in the user's cache folder ($XDG_CACHE_HOME/nginx-502lint or
~/.cache/nginx-502lint) unless a folder is given, never in the linted tree.
They are JSON (never pickle: a cache folder must not be a way to run code),
written atomically; an entry that cannot be read, decoded or checked is a
miss, never an error. Runs that read more than the config (`host`,
`php_fpm`, probes) are not cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from . import __version__
from .findings import Edit, Finding, Fix, Severity
from .parse import SourceFile

if TYPE_CHECKING:
    from .engine import LintSettings, Registry
    from .parse import Loader, ParsedConfig

FORMAT = 1
_PACKAGES = ("nginx_502lint", "nginx_502lint.rules", "crossplane")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/nginx-502lint, or ~/.cache/nginx-502lint."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "nginx-502lint"


def cache_applies(settings: LintSettings) -> bool:
    """Only runs whose findings depend on the config files alone can be cached."""
    return not (settings.host or settings.php_fpm or settings.extras.get("probe"))


@dataclass
class CachedResult:
    """One input's outcome: what it read and, if its rules ran, what they found."""

    main_file: str
    files: list[str]
    sources: dict[str, SourceFile]
    findings: list[Finding] | None  # None: parsed only (it was included by another input)


class ResultCache:
    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._run_key: str | None = None

    # keys -------------------------------------------------------------------------
    def prepare(self, settings: LintSettings, registry: Registry, rule_ids: Iterable[str]) -> None:
        """Fix the part of every key that this run shares."""
        selected = sorted(rule_ids)
        setup = {
            "format": FORMAT,
            "linter": linter_fingerprint(registry.rule_source_files(selected)),
            "cwd": os.getcwd(),
            "settings": _settings_for_key(settings),
            "rules": selected,
        }
        self._run_key = _hash(json.dumps(setup, sort_keys=True, default=repr))

    def key(self, path: str) -> str:
        if self._run_key is None:
            raise RuntimeError("ResultCache.prepare() must be called before key()")
        return _hash(f"{self._run_key}\0{os.path.abspath(path)}")

    # reading ----------------------------------------------------------------------
    def get(self, key: str, loader: Loader, want_findings: bool = True) -> CachedResult | None:
        """The stored result if every file and include it depends on is unchanged; else None."""
        entry = self._read_entry(key)
        if entry is None:
            return None
        try:
            return _result_if_current(entry, loader, want_findings)
        except (KeyError, TypeError, ValueError, AttributeError):
            self._discard(key)
            return None

    def _read_entry(self, key: str) -> dict[str, Any] | None:
        try:
            with open(self._path(key), encoding="utf-8") as handle:
                entry = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
            self._discard(key)
            return None
        return entry

    # writing ----------------------------------------------------------------------
    def put(self, key: str, config: ParsedConfig, findings: list[Finding] | None) -> None:
        """Store an input's outcome; a config that could not be fully read is not stored."""
        if not config.complete or not all(digest for _, digest in config.digests.values()):
            return
        entry = {
            "format": FORMAT,
            "key": key,
            "main_file": config.main_file,
            "files": list(config.files),
            "digests": {shown: list(pair) for shown, pair in config.digests.items()},
            "resolutions": [[pattern, prefix, None if found is None else list(found)]
                            for pattern, prefix, found in config.resolutions],
            "sources": {
                shown: {"comments": source.comments, "analysed": source.analysed}
                for shown, source in config.files.items()
            },
            "findings": None if findings is None else [_encode_finding(f) for f in findings],
        }
        self._write(key, entry)

    def _write(self, key: str, entry: dict[str, Any]) -> None:
        import tempfile  # only writers need it; a warm run that hits every entry never writes

        path = self._path(key)
        try:
            text = json.dumps(entry, separators=(",", ":"))
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=".tmp-", delete=False)
            with handle:
                handle.write(text)
            os.replace(handle.name, path)
        except (OSError, TypeError, ValueError):
            # A full disk or read-only cache folder only costs the next run its speed.
            try:
                os.unlink(handle.name)  # type: ignore[possibly-undefined]
            except (OSError, NameError, UnboundLocalError):
                pass

    def _discard(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except OSError:
            pass

    def _path(self, key: str) -> Path:
        return self.directory / f"v{FORMAT}" / key[:2] / f"{key}.json"

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.directory / f"v{FORMAT}", ignore_errors=True)


# --- helpers -------------------------------------------------------------------------

def linter_fingerprint(extra_files: Iterable[str] = ()) -> str:
    """Changes whenever the linter's code or data, its rules or its crossplane change."""
    parts = [__version__, sys.version]
    for package in _PACKAGES:
        spec = find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            parts.extend(_stat_tree(folder))
    parts.extend(_stat_file(path) for path in sorted(set(extra_files)))
    return _hash("\n".join(parts))


def _stat_tree(folder: str) -> list[str]:
    found: list[str] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found.extend(_stat_file(os.path.join(current, name)) for name in sorted(files) if not name.endswith(".pyc"))
    return found


def _stat_file(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path} missing"
    return f"{path} {st.st_size} {st.st_mtime_ns}"


# How a run is carried out, not what it finds: a -j 2 run may reuse a -j 1 result.
_RUN_MECHANICS = frozenset({"jobs", "cache_dir"})


def _settings_for_key(settings: LintSettings) -> dict[str, Any]:
    values = settings.values()
    # Suppressions and per-file ignores are applied after the cache, on every run.
    values.pop("per_file_ignores", None)
    values["extras"] = {key: value for key, value in values.get("extras", {}).items() if key not in _RUN_MECHANICS}
    return values


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


def _result_if_current(entry: dict[str, Any], loader: Loader, want_findings: bool) -> CachedResult | None:
    findings = entry["findings"]
    if want_findings and findings is None:
        return None
    texts: dict[str, str] = {}
    for shown, (real, digest) in entry["digests"].items():
        current = loader.reread(real)
        if current is None or current[1] != digest:
            return None
        texts[shown] = current[0]
    for pattern, prefix, found in entry["resolutions"]:
        expected = None if found is None else tuple(found)
        if loader.resolve_include(pattern, prefix) != expected:
            return None
    sources: dict[str, SourceFile] = {}
    for shown in entry["files"]:
        meta = entry["sources"][shown]
        comments = [(int(line), str(text)) for line, text in meta["comments"]]
        sources[shown] = SourceFile(shown, texts[shown], comments, bool(meta["analysed"]))
    decoded = None if findings is None else [_decode_finding(f) for f in findings]
    return CachedResult(str(entry["main_file"]), list(entry["files"]), sources, decoded)


def _encode_finding(finding: Finding) -> dict[str, Any]:
    data = finding._asdict()  # shallow: the fix and its edits are NamedTuples too
    data["severity"] = int(finding.severity)
    if finding.fix is not None:
        data["fix"] = {**finding.fix._asdict(), "edits": [edit._asdict() for edit in finding.fix.edits]}
    return data


def _decode_finding(data: dict[str, Any]) -> Finding:
    fix = data.get("fix")
    if fix is not None:
        fix = Fix(**{**fix, "edits": tuple(Edit(**edit) for edit in fix["edits"])})
    return Finding(**{**data, "severity": Severity(data["severity"]), "fix": fix})

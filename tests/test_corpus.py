"""Real configs from well-kept projects: no error-severity finding, and no crash.

The corpus lives in the steering repository's shared/ folder beside this
checkout (../shared/corpus/clean); NGINX_502LINT_CORPUS points elsewhere.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from nginx_502lint.engine import Registry
from nginx_502lint.findings import Severity
from nginx_502lint.lint import lint_paths

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NGINX_502LINT_CORPUS", REPO.parent / "shared" / "corpus" / "clean"))


def _entries() -> list[tuple[str, Path]]:
    if not CORPUS.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        match = re.search(r"^entry:\s*(\S+)", (folder / "SOURCE.md").read_text(), re.M)
        entries.append((folder.name, folder / (match.group(1) if match else "nginx.conf")))
    return entries


ENTRIES = _entries()


def test_the_corpus_is_present() -> None:
    assert ENTRIES, f"clean corpus not found at {CORPUS} (set NGINX_502LINT_CORPUS)"


@pytest.mark.parametrize("name, entry", ENTRIES, ids=[name for name, _ in ENTRIES])
def test_clean_config_has_no_error_finding(name: str, entry: Path) -> None:
    result = lint_paths([str(entry)], registry=Registry.default(entry_points=False))
    errors = [f for f in result.findings if f.severity == Severity.ERROR]
    assert not errors, "\n".join(f"{f.file}:{f.line} {f.rule} {f.message}" for f in errors)
    includes = re.findall(r"^\s*include\s", entry.read_text(), re.M)
    assert not includes or len(result.files) > 1, f"{name}: includes were not followed ({result.files})"

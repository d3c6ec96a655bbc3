"""Start-up: third-party rule packs are still found when importlib.metadata is skipped.

`may_declare_entry_points` lets the registry skip importlib.metadata when no
distribution on sys.path declares the rule group; it must never say no where
importlib.metadata would find a pack.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nginx_502lint.engine import ENTRY_POINT_GROUP, Registry, may_declare_entry_points

RULE = '''"""Fake rule from an installed pack."""
ID = "Z991"
SLUG = "fake-pack-rule"
SEVERITY = "info"


def check(ctx):
    return ()
'''
ENTRY_POINTS = f"[console_scripts]\nfake = fake:main\n\n[{ENTRY_POINT_GROUP}]\nfake = z991_fake_pack_rule\n"


def _install_fake_pack(site: Path, metadata_folder: str = "fake_pack-1.0.dist-info") -> None:
    site.mkdir(parents=True, exist_ok=True)
    (site / "z991_fake_pack_rule.py").write_text(RULE)
    meta = site / metadata_folder
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-pack\nVersion: 1.0\n")
    (meta / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: fake-pack\nVersion: 1.0\n")
    (meta / "entry_points.txt").write_text(ENTRY_POINTS)


def test_a_rule_pack_on_sys_path_is_found_and_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_pack(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert may_declare_entry_points(ENTRY_POINT_GROUP)
    registry = Registry.default()
    assert "Z991" in registry.ids()
    assert registry.get("Z991").slug == "fake-pack-rule"


@pytest.mark.parametrize("folder", ["fake_pack-1.0.dist-info", "fake_pack.egg-info", "Fake_Pack-1.0.DIST-INFO"])
def test_metadata_folders_that_declare_the_group_are_seen(tmp_path: Path, folder: str) -> None:
    _install_fake_pack(tmp_path, folder)
    assert may_declare_entry_points(ENTRY_POINT_GROUP, [str(tmp_path)])


def test_an_egg_on_sys_path_is_seen(tmp_path: Path) -> None:
    egg = tmp_path / "fake_pack-1.0-py3.11.egg"
    _install_fake_pack(egg, "EGG-INFO")
    assert may_declare_entry_points(ENTRY_POINT_GROUP, [str(egg)])


def test_environments_without_the_group_skip_importlib_metadata(tmp_path: Path) -> None:
    other = tmp_path / "other-2.0.dist-info"
    other.mkdir()
    (other / "entry_points.txt").write_text("[console_scripts]\nother = other:main\n")
    (tmp_path / "legacy.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")  # a PKG-INFO-style file
    (tmp_path / "nothing.dist-info").mkdir()
    assert not may_declare_entry_points(ENTRY_POINT_GROUP, [str(tmp_path), str(tmp_path / "missing"), ""])


def test_what_it_cannot_read_goes_to_importlib_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "packs.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("fake_pack-1.0.dist-info/entry_points.txt", ENTRY_POINTS)
    assert may_declare_entry_points(ENTRY_POINT_GROUP, [str(archive)])
    assert may_declare_entry_points(ENTRY_POINT_GROUP, [Path(tmp_path)])  # type: ignore[list-item]

    class DistributionFinder:
        @staticmethod
        def find_spec(*args: object) -> None:
            return None

        @staticmethod
        def find_distributions(*args: object) -> list[object]:
            return []

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, DistributionFinder])
    assert may_declare_entry_points(ENTRY_POINT_GROUP, [])


def test_the_pre_scan_agrees_with_importlib_metadata_here() -> None:
    from importlib.metadata import entry_points

    if list(entry_points(group=ENTRY_POINT_GROUP)):
        assert may_declare_entry_points(ENTRY_POINT_GROUP)
    assert may_declare_entry_points("console_scripts") == bool(list(entry_points(group="console_scripts")))


def test_the_default_registry_does_not_import_importlib_metadata_or_jsonschema(tmp_path: Path) -> None:
    code = ("import sys\nbefore = set(sys.modules)\nfrom nginx_502lint.engine import Registry\n"
            "registry = Registry.default()\nregistry.all()\n"
            "print(sorted(m for m in ('importlib.metadata', 'jsonschema', 'email') if m in sys.modules and m not in before))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=dict(os.environ), check=False)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr

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

from nginx_502lint.engine import ENTRY_POINT_GROUP, Registry, may_declare_entry_points, module_names

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


# --- what a plain lint imports, and how it leaves the collector -----------------------

SMALL_CONF = """events {}
http {
    upstream app { server 127.0.0.1:8080; keepalive 8; }
    server {
        listen 80;
        location / { proxy_pass http://app; }
        location ~ \\.php$ { fastcgi_pass unix:/run/php/php-fpm.sock; include fastcgi_params; }
    }
}
"""
# dataclasses (with the inspect, ast, dis and tokenize it imports),
# importlib.resources (with pathlib, tempfile and zipfile) and the modules of
# rules that need php-fpm pools or --host cost more together than linting a
# small config; jsonschema, importlib.metadata and email even more.
NOT_ON_A_PLAIN_LINT = (
    "dataclasses", "inspect", "ast", "importlib.resources", "pathlib", "tempfile", "zipfile", "difflib",
    "jsonschema", "importlib.metadata", "email", "pkgutil", "threading",
    "nginx_502lint.pools", "nginx_502lint.phpfpm", "nginx_502lint.socket_access", "nginx_502lint.hostcheck",
)


def _run_in_a_fresh_interpreter(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
                            env=dict(os.environ), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "github"])
def test_a_plain_lint_does_not_import_dataclasses_inspect_or_the_pool_and_host_helpers(
        tmp_path: Path, output_format: str) -> None:
    (tmp_path / "nginx.conf").write_text(SMALL_CONF)
    # as the console script runs it: main() reads sys.argv (against what the interpreter loaded before)
    code = ("import sys\nbefore = set(sys.modules)\n"
            f"sys.argv = ['nginx-502lint', 'nginx.conf', '--format', {output_format!r}, '--exit-zero']\n"
            "from nginx_502lint.cli import main\ncode = main()\nassert code == 0, code\n"
            f"print(sorted(m for m in {NOT_ON_A_PLAIN_LINT!r} if m in sys.modules and m not in before))\n")
    assert _run_in_a_fresh_interpreter(code, tmp_path) == "[]"


def test_the_rules_that_cannot_run_still_load_their_helpers_when_they_run(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(SMALL_CONF)
    (tmp_path / "www.conf").write_text("[www]\nlisten = /run/php/php8.2-fpm.sock\n")
    code = ("import sys\nfrom nginx_502lint.cli import main\n"
            "code = main(['nginx.conf', '--php-fpm', 'www.conf', '--select', 'F401,F402,T105', '--format', 'json'])\n"
            "print(code, sorted(m for m in ('nginx_502lint.pools', 'nginx_502lint.phpfpm', 'nginx_502lint.socket_access')"
            " if m in sys.modules))\n")
    assert _run_in_a_fresh_interpreter(code, tmp_path) == (
        "1 ['nginx_502lint.phpfpm', 'nginx_502lint.pools', 'nginx_502lint.socket_access']")


def test_main_with_argv_and_lint_leave_the_collector_as_they_found_it(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(SMALL_CONF)
    code = ("import gc\nfrom nginx_502lint.cli import main\nfrom nginx_502lint.lint import lint_paths\n"
            "main(['nginx.conf', '--exit-zero'])\nafter_main = (gc.isenabled(), gc.get_freeze_count())\n"
            "lint_paths(['nginx.conf'])\nprint(after_main, (gc.isenabled(), gc.get_freeze_count()))\n")
    assert _run_in_a_fresh_interpreter(code, tmp_path) == "(True, 0) (True, 0)"


def test_the_console_run_keeps_the_collector_off_its_tree_and_restores_it(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(SMALL_CONF)
    code = ("import gc, sys\nsys.argv = ['nginx-502lint', 'nginx.conf', '--exit-zero']\n"
            "from nginx_502lint.cli import main\nmain()\nprint(gc.isenabled(), gc.get_freeze_count() > 0)\n")
    assert _run_in_a_fresh_interpreter(code, tmp_path) == "True True"


@pytest.mark.parametrize("package", ["nginx_502lint.rules", "nginx_502lint", "nginx_502lint.reporters", "email", "encodings"])
def test_module_names_lists_what_pkgutil_lists(package: str) -> None:
    import importlib
    import pkgutil

    path = importlib.import_module(package).__path__
    assert module_names(path) == [info.name for info in pkgutil.iter_modules(path)]


def test_module_names_of_folders_with_packages_and_odd_files(tmp_path: Path) -> None:
    import pkgutil

    for name in ("a001_rule.py", "b.pyc", "c.txt", "__init__.py", "d.e.py", "same.py"):
        (tmp_path / name).write_text("")
    for folder, init in (("pkg", True), ("same", True), ("plain", False), ("dotted.pkg", True)):
        (tmp_path / folder).mkdir()
        if init:
            (tmp_path / folder / "__init__.py").write_text("")
    missing = tmp_path / "missing"
    assert module_names([str(tmp_path), str(missing)]) == [info.name for info in pkgutil.iter_modules([str(tmp_path), str(missing)])]
    assert module_names([str(tmp_path)]) == [info.name for info in pkgutil.iter_modules([str(tmp_path)])]


def test_the_directive_table_loads_from_package_resources_when_no_file_sits_next_to_the_module(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from nginx_502lint import directives

    from_file = directives.Directives.load()
    monkeypatch.setattr(directives, "__file__", "/nonexistent/nginx_502lint/directives.py")
    from_resources = directives.Directives.load()
    assert from_resources.versions() == from_file.versions()
    assert from_resources.names() == from_file.names()

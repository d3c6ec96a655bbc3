"""Hostile inputs, through the real command line: each has one expected exit code and message.

docs/robustness.md lists the same table. Loader-level versions of some cases
live in test_parse_traps.py; here every case runs as a whole process with a
time limit, so a hang fails the test instead of stalling the suite.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from nginx_502lint.engine import Registry
from nginx_502lint.lint import lint_paths

SITE = "server {\n  listen 80;\n  location / {\n    proxy_pass http://127.0.0.1:8080;\n    proxy_read_timeout 1s;\n  }\n}\n"
CLEAN = "events {}\nhttp {\n  server {\n    listen 80;\n    return 200;\n  }\n}\n"
SECRET = "root:$6$hostile-test-secret$:19000:0:99999:7:::\n"
MB = 1_000_000


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


def main_including(tree: Path, *patterns: str, body: str = "") -> None:
    includes = "".join(f'  include "{p}";\n' for p in patterns)
    write(tree / "nginx.conf", f"events {{}}\nhttp {{\n{includes}{body}}}\n")


def without_dac_override() -> list[str] | None:
    """A prefix that runs a command as root minus the right to ignore file modes, or None."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        return []  # an ordinary user cannot read a mode-000 file anyway
    if setpriv is None:
        return None
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if probe.returncode == 0 else None


@dataclass
class Case:
    name: str
    build: Callable[[Path], list[str]]  # writes the tree, returns the CLI arguments
    code: int
    expect: tuple[str, ...]
    absent: tuple[str, ...] = ()
    stdin: bytes = b""
    unprivileged: bool = False
    timeout: float = 120
    marks: list[object] = field(default_factory=list)


def _binary(tree: Path) -> list[str]:
    write(tree / "nginx.conf", bytes(range(256)) * 64)
    return ["nginx.conf"]


def _nul_in_include(tree: Path) -> list[str]:
    main_including(tree, "bad.conf")
    write(tree / "bad.conf", b"server {\n listen 80;\x00\n}\n")
    return ["nginx.conf"]


def _utf16(tree: Path) -> list[str]:
    write(tree / "nginx.conf", CLEAN.encode("utf-16"))
    return ["nginx.conf"]


def _bom(tree: Path) -> list[str]:
    write(tree / "nginx.conf", b"\xef\xbb\xbf" + f"events {{}}\nhttp {{\n{SITE}}}\n".encode())
    return ["nginx.conf"]


def _crlf(tree: Path) -> list[str]:
    write(tree / "nginx.conf", CLEAN.replace("\n", "\r\n").encode())
    return ["nginx.conf"]


def _lone_cr(tree: Path) -> list[str]:
    write(tree / "nginx.conf", CLEAN.replace("\n", "\r").encode())
    return ["nginx.conf"]


def _big_whitespace(tree: Path) -> list[str]:
    padding = (" " * 99 + "\n") * (50 * MB // 100)
    write(tree / "nginx.conf", "events {}\nhttp {\n" + padding + "  server {\n    listen 80;\n    return 200;\n  }\n}\n")
    return ["nginx.conf"]


def _big_argument(tree: Path) -> list[str]:
    write(tree / "nginx.conf", 'events {}\nhttp {\n  server {\n    listen 80;\n    return 200 "' + "x" * (50 * MB) + '";\n  }\n}\n')
    return ["nginx.conf"]


def _over_the_cap(tree: Path) -> list[str]:
    with open(write(tree / "nginx.conf", CLEAN), "r+b") as handle:
        handle.truncate(129 * 1024 * 1024)  # sparse: no disk, no memory, still too big to read
    return ["nginx.conf"]


def _deep(tree: Path) -> list[str]:
    write(tree / "nginx.conf", "http {\n" + "location / {\n" * 5000 + "}\n" * 5000 + "}\n")
    return ["nginx.conf"]


def _many_includes(count: int) -> Callable[[Path], list[str]]:
    def build(tree: Path) -> list[str]:
        write(tree / "empty.conf", "# deliberately empty\n")
        write(tree / "nginx.conf", "events {}\nhttp {\n" + "include empty.conf;\n" * count + "}\n")
        return ["nginx.conf"]

    return build


def _loop_direct(tree: Path) -> list[str]:
    write(tree / "nginx.conf", "events {}\nhttp { include nginx.conf; }\n")
    return ["nginx.conf"]


def _loop_two_files(tree: Path) -> list[str]:
    main_including(tree, "a.conf")
    write(tree / "a.conf", "include b.conf;\n")
    write(tree / "b.conf", "include a.conf;\n")
    return ["nginx.conf"]


def _loop_glob(tree: Path) -> list[str]:
    main_including(tree, "conf.d/*.conf")
    write(tree / "conf.d" / "a.conf", "include conf.d/*.conf;\n")
    return ["nginx.conf"]


def _fifo(tree: Path) -> list[str]:
    main_including(tree, "pipe.conf")
    os.mkfifo(tree / "pipe.conf")
    return ["nginx.conf"]


def _fifo_argument(tree: Path) -> list[str]:
    os.mkfifo(tree / "pipe.conf")
    return ["pipe.conf"]


def _dev_zero(host: bool) -> Callable[[Path], list[str]]:
    def build(tree: Path) -> list[str]:
        main_including(tree, "/dev/zero")
        return ["--host", "nginx.conf"] if host else ["nginx.conf"]

    return build


def _directory(tree: Path) -> list[str]:
    main_including(tree, "conf.d")
    (tree / "conf.d").mkdir()
    return ["nginx.conf"]


def _dangling_symlink(tree: Path) -> list[str]:
    main_including(tree, "gone.conf")
    os.symlink(tree / "nowhere.conf", tree / "gone.conf")
    return ["nginx.conf"]


def _symlink_loop(tree: Path) -> list[str]:
    main_including(tree, "a.conf")
    os.symlink(tree / "b.conf", tree / "a.conf")
    os.symlink(tree / "a.conf", tree / "b.conf")
    return ["nginx.conf"]


def _unreadable_include(tree: Path) -> list[str]:
    main_including(tree, "secret.conf")
    write(tree / "secret.conf", SECRET).chmod(0)
    return ["nginx.conf"]


def _unreadable_main(tree: Path) -> list[str]:
    write(tree / "nginx.conf", CLEAN).chmod(0)
    return ["nginx.conf"]


def _shadow_like(host: bool) -> Callable[[Path], list[str]]:
    def build(tree: Path) -> list[str]:
        shadow = write(tree.parent / "etc-shadow", SECRET)
        shadow.chmod(0)
        main_including(tree / "nginx", str(shadow))
        return ["--host", "nginx/nginx.conf"] if host else ["nginx/nginx.conf"]

    return build


def _odd_paths(tree: Path) -> list[str]:
    folder = tree / "my confs"
    folder.mkdir()
    (folder / "caf\udce9 site.conf").write_text(SITE)  # the file name is the bytes b"caf\xe9 site.conf"
    main_including(tree, "my confs/*.conf")
    return ["nginx.conf"]


def _non_utf8_include_pattern(tree: Path) -> list[str]:
    write(tree / "caf\udce9.conf", SITE)
    write(tree / "nginx.conf", b'events {}\nhttp {\n  include "caf\xe9.conf";\n}\n')
    return ["nginx.conf"]


def _empty(tree: Path) -> list[str]:
    write(tree / "nginx.conf", "")
    return ["nginx.conf"]


def _stdin(tree: Path) -> list[str]:
    return ["-"]


CASES = [
    Case("binary file", _binary, 1, ("E001", "NUL byte")),
    Case("NUL byte in an included file", _nul_in_include, 1, ("bad.conf:2", "E001", "NUL byte")),
    Case("UTF-16 file", _utf16, 1, ("E001", "UTF-16")),
    Case("UTF-16 on stdin", _stdin, 2, ("nginx-502lint: error", "UTF-16"), stdin=CLEAN.encode("utf-16")),
    Case("UTF-8 BOM", _bom, 1, ("E001", "byte order mark", "T102")),
    Case("CRLF line ends", _crlf, 0, ("No problems",)),
    Case("CR-only line ends", _lone_cr, 0, ("No problems",)),
    Case("50 MB file (whitespace)", _big_whitespace, 0, ("No problems",)),
    Case("50 MB file (one argument)", _big_argument, 0, ("No problems",)),
    Case("129 MB file (over the cap)", _over_the_cap, 1, ("E001", "larger than 128 MiB")),
    Case("5,000 nested blocks", _deep, 1, ("E001", "nested deeper than 200 levels")),
    Case("100,000 includes", _many_includes(100_000), 0, ("No problems",)),
    Case("include loop (a file includes itself)", _loop_direct, 1, ("E001", "include loop: nginx.conf -> nginx.conf")),
    Case("include loop (two files)", _loop_two_files, 1, ("E001", "include loop: a.conf -> b.conf -> a.conf")),
    Case("include loop (through a glob)", _loop_glob, 1, ("E001", "include loop: conf.d/a.conf -> conf.d/a.conf")),
    Case("include of a FIFO", _fifo, 1, ("E001", "not a regular file")),
    Case("a FIFO given as the input", _fifo_argument, 1, ("E001", "cannot read file", "not a regular file")),
    Case("include /dev/zero (--host)", _dev_zero(host=True), 1, ("E001", "not a regular file")),
    Case("include /dev/zero (tree only)", _dev_zero(host=False), 0, ("E006", "not found in the linted tree")),
    Case("include of a directory", _directory, 1, ("E001", "Is a directory")),
    Case("include of a dangling symlink", _dangling_symlink, 1, ("E001", "No such file or directory")),
    Case("include of a symlink loop", _symlink_loop, 1, ("E001", "Too many levels of symbolic links")),
    Case("unreadable include", _unreadable_include, 1, ("E001", "Permission denied"), absent=("hostile-test-secret",),
         unprivileged=True),
    Case("unreadable input file", _unreadable_main, 1, ("E001", "cannot read file: Permission denied"), unprivileged=True),
    Case("include of a shadow-like file (tree only)", _shadow_like(host=False), 0, ("E006", "not found in the linted tree"),
         absent=("hostile-test-secret",)),
    Case("include of a shadow-like file (--host)", _shadow_like(host=True), 1, ("E001", "Permission denied"),
         absent=("hostile-test-secret",), unprivileged=True),
    Case("paths with spaces and non-UTF-8 bytes", _odd_paths, 1, ("my confs/caf\ufffd site.conf:5", "T102")),
    Case("include pattern with non-UTF-8 bytes", _non_utf8_include_pattern, 0, ("E006", "matches no file")),
    Case("empty file", _empty, 0, ("No problems",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    args = case.build(tree)
    prefix: list[str] = []
    if case.unprivileged:
        found = without_dac_override()
        if found is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        prefix = found
        for folder in (tmp_path, tree, *tree.rglob("*")):
            if folder.is_dir():
                folder.chmod(0o755)
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run([*prefix, sys.executable, "-m", "nginx_502lint", *args], cwd=tree, input=case.stdin,
                            capture_output=True, timeout=case.timeout, env=env)
    output = (result.stdout + result.stderr).decode("utf-8", errors="replace")
    assert result.returncode == case.code, output[-2000:]
    assert "Traceback" not in output
    for words in case.expect:
        assert words in output, output[-2000:]
    for words in case.absent:
        assert words not in output


def test_a_file_rewritten_while_it_is_linted_never_breaks_the_run(tmp_path: Path) -> None:
    registry = Registry.default(entry_points=False)
    conf = tmp_path / "nginx.conf"
    versions = [f"events {{}}\nhttp {{\n{SITE}}}\n".encode(), f"events {{}}\nhttp {{\n{SITE.replace('1s', '2s')}}}\n".encode()]

    def rules_found() -> tuple[str, ...]:
        return tuple(sorted({f.rule for f in lint_paths([str(conf)], registry=registry).findings}))

    settled = set()
    for version in versions:
        conf.write_bytes(version)
        settled.add(rules_found())
    stop = threading.Event()

    def rewrite() -> None:
        index = 0
        while not stop.is_set():
            with open(conf, "r+b") as handle:  # truncate, then write: a reader can see any prefix
                handle.truncate(0)
                handle.write(versions[index % 2])
            index += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        seen = {rules_found() for _ in range(30)}
    finally:
        stop.set()
        writer.join()
    # a whole version, or a prefix of one: empty, or cut short (a syntax error)
    assert seen <= settled | {(), ("E001",)}


def test_a_file_that_grows_after_its_size_was_checked_is_still_read_within_the_cap(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nginx_502lint.parse as parse

    conf = write(tmp_path / "nginx.conf", CLEAN + "#" * 5000 + "\n")
    real_stat = os.stat

    class SeenBeforeItGrew:
        def __init__(self, path: str) -> None:
            self.st_mode = real_stat(path).st_mode
            self.st_size = 10

    monkeypatch.setattr(parse.os, "stat", lambda path, *args, **kwargs: SeenBeforeItGrew(path))
    problems = [p.message for p in parse.Loader(max_file_size=1024).load(str(conf)).problems]
    assert problems == ["cannot read file: file is larger than 1,024 bytes; not read"]


def test_includes_beyond_the_cap_end_with_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nginx_502lint.parse as parse

    monkeypatch.setattr(parse, "MAX_INCLUDE_EXPANSIONS", 1000)  # the real cap, 200,000, behaves alike but slowly
    _many_includes(1001)(tmp_path)
    problems = [(p.rule, p.line, p.message) for p in parse.Loader().load(str(tmp_path / "nginx.conf")).problems]
    assert problems == [("E001", 1003, "more than 1000 includes; the rest were not read")]

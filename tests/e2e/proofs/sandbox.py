"""Run nginx in its own mount namespace, so a proof can change what nginx sees of the host.

Some failures depend on host files the suite may not touch: `/etc/hosts` (which
addresses `localhost` or a backend name resolve to), the system CA bundle, a
systemd-style private `/var/tmp`. `MountNamespace` writes a small launcher that
`unshare --mount`s, bind-mounts the replacement files over the real paths and
execs nginx: only that nginx (and its `nginx -t`) sees them. Mounts made in a
private namespace never reach the host, so parallel runs and the rest of the
machine keep the real files. Needs root (CAP_SYS_ADMIN).
"""
from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..harness import is_root, make_private_dir, running_in_ci

if TYPE_CHECKING:
    from typing_extensions import Self

ROOT_NEEDED = "nginx runs in a private mount namespace (unshare --mount)"


def require_root(why: str) -> None:
    """Skip locally without root; in CI a proof that cannot run must fail, never skip."""
    if is_root():
        return
    if running_in_ci():
        pytest.fail(f"needs root: {why}; CI must run the suite as root")
    pytest.skip(f"needs root: {why}")


def require_mount_namespace() -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare not found: install it with apt-get install util-linux")
    require_root(ROOT_NEEDED)


def hosts_text(entries: Mapping[str, Sequence[str]]) -> str:
    """An /etc/hosts body: one line per address, in the order given (getaddrinfo keeps it)."""
    lines = []
    for name, addresses in entries.items():
        lines += [f"{address} {name}" for address in addresses]
    return "\n".join(lines) + "\n"


@dataclass
class MountNamespace:
    """What nginx sees instead of the host's files.

    `hosts`: name -> addresses, written as nginx's /etc/hosts (nothing else resolves
    from it). `private_dirs`: paths that get an empty tmpfs (systemd PrivateTmp).
    `files`: path -> host file bind-mounted there; `dirs`: path -> host dir
    bind-mounted there. Each such path must already exist or lie inside one of
    `private_dirs` (it is then created in that tmpfs, never on the host).
    """

    hosts: Mapping[str, Sequence[str]] | None = None
    files: Mapping[str, Path] = field(default_factory=dict)
    private_dirs: Sequence[str] = ()
    dirs: Mapping[str, Path] = field(default_factory=dict)
    directory: Path = field(init=False)

    def __post_init__(self) -> None:
        # mkdir or touch outside a private tmpfs would create them on the real host.
        for target in self.dirs:
            if not self._inside_private(target) and not Path(target).is_dir():
                raise ValueError(f"{target} must exist or lie inside one of the private dirs {list(self.private_dirs)}")
        for target in self.files:
            if not self._inside_private(target) and not Path(target).is_file():
                raise ValueError(f"{target} must exist or lie inside one of the private dirs {list(self.private_dirs)}")
        self.directory = make_private_dir("nginx-502lint-ns-")
        self._files = dict(self.files)
        if self.hosts is not None:
            self.hosts_path.write_text(hosts_text(self.hosts))
            self._files["/etc/hosts"] = self.hosts_path

    def _inside_private(self, target: str) -> bool:
        return any(Path(target).is_relative_to(private) for private in self.private_dirs)

    @property
    def hosts_path(self) -> Path:
        return self.directory / "hosts"

    def set_hosts(self, entries: Mapping[str, Sequence[str]]) -> None:
        """Change nginx's /etc/hosts in place (same inode, so the bind mount shows it)."""
        with open(self.hosts_path, "r+") as handle:
            handle.truncate(0)
            handle.write(hosts_text(entries))

    def launcher(self) -> list[str]:
        script = self.directory / "enter.sh"
        steps = ["set -e"]
        steps += [f"mount -t tmpfs -o mode=1777 nginx-502lint-private {shlex.quote(d)}" for d in self.private_dirs]
        for target, source in self.dirs.items():
            steps += [f"mkdir -p {shlex.quote(target)}", f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}"]
        for target, source in self._files.items():
            if self._inside_private(target):
                steps.append(f"touch {shlex.quote(target)}")  # a bind mount needs a file to cover
            steps.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        steps.append('exec "$@"')
        script.write_text("\n".join(steps) + "\n")
        # unshare execs sh, sh execs nginx: the harness's process is nginx's master itself.
        return ["unshare", "--mount", "--propagation", "private", "sh", str(script)]

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cleanup()

"""A private network namespace: nginx, a backend and the client, all on its own loopback.

Local port exhaustion (`connect() ... (99: Cannot assign requested address)`)
needs the ephemeral port range to run out. The range is a per-namespace setting,
so a fresh namespace can shrink it to a few ports without touching the host:
a handful of requests then stand in for tens of thousands. nginx enters it
with `nsenter --net` (`.launcher()`); Python code enters it per thread with
setns(2) (`.run(fn)`), so sockets a backend or client creates there live there.
Needs root.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_Result = TypeVar("_Result")


class NetworkNamespace:
    """`local_ports` (first, last) becomes the namespace's net.ipv4.ip_local_port_range.

    `tcp_tw_reuse` is 0, as for a backend on another host: Linux's default (2)
    lets loopback connections reuse TIME_WAIT ports, which no remote backend gets.
    """

    def __init__(self, local_ports: tuple[int, int], *, lifetime_s: float = 120.0) -> None:
        self.local_ports = local_ports
        self.lifetime_s = lifetime_s
        self._holder: subprocess.Popen[bytes] | None = None

    @property
    def path(self) -> Path:
        assert self._holder is not None, "not started"
        return Path(f"/proc/{self._holder.pid}/ns/net")

    def start(self) -> NetworkNamespace:
        # A process that only holds the namespace open; it ends by itself after lifetime_s.
        self._holder = subprocess.Popen(["unshare", "--net", "sleep", str(self.lifetime_s)], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{self._holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline or self._holder.poll() is not None:
                raise RuntimeError("unshare --net did not create a network namespace")
            time.sleep(0.01)
        self.run(self._configure)
        return self

    def _configure(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            request = struct.pack("16sH14s", b"lo", 0, b"")
            flags = struct.unpack("16sH", fcntl.ioctl(control, _SIOCGIFFLAGS, request)[:18])[1]
            fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))
        first, last = self.local_ports
        Path("/proc/sys/net/ipv4/ip_local_port_range").write_text(f"{first} {last}\n")
        Path("/proc/sys/net/ipv4/tcp_tw_reuse").write_text("0\n")

    def run(self, function: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        """Call `function` in a thread that has entered the namespace; return its result or raise its error."""
        outcome: dict[str, Any] = {}

        def enter_and_call() -> None:
            descriptor = os.open(self.path, os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(descriptor, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET) failed")
            except OSError as error:
                outcome["error"] = error
                return
            finally:
                os.close(descriptor)
            try:
                outcome["result"] = function(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 -- re-raised in the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=enter_and_call, daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def launcher(self) -> list[str]:
        return ["nsenter", f"--net={self.path}"]

    def stop(self) -> None:
        if self._holder is not None and self._holder.poll() is None:
            self._holder.kill()
            self._holder.wait(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

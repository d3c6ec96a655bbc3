"""Loopback addresses and ports for proofs that need a conventional port or a restarting app."""
from __future__ import annotations

import contextlib
import errno
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any

from ..backends import LoopbackServer, PlainHTTPBackend
from ..harness import NginxInstance, Response, free_loopback_port


def random_loopback_host() -> str:
    """Some 127.x.y.z address: all of 127/8 is loopback, so a conventional port (8080) is likely free there."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def on_random_loopback_address(make: Callable[[str], LoopbackServer], running: Callable[[Any], Any]) -> Any:
    """Start `make(host)` (a backend on a fixed port such as 8080 or 8443) on a free 127.x.y.z."""
    for _attempt in range(20):
        try:
            return running(make(random_loopback_host()))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no free loopback address for the conventional port")


def port_free_on_both_loopbacks() -> int:
    """A port free on 127.0.0.1 and on ::1, so an app on 127.0.0.1 has nothing answering for it on ::1."""
    for _attempt in range(20):
        port = free_loopback_port()
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(("::1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


@contextlib.contextmanager
def port_refusing(port: int) -> Iterator[None]:
    """127.0.0.1:port bound but not listening: connections are refused and no one else takes the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        yield


def app_restart(nginx: NginxInstance, port: int) -> tuple[Response, Response]:
    """The app on 127.0.0.1:port is down for one request, then back: (response while down, once back)."""
    with port_refusing(port):
        while_down = nginx.request("/", timeout=5)
    with PlainHTTPBackend(port=port):
        once_back = nginx.request("/", timeout=5)
    return while_down, once_back

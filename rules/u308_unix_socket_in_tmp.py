"""A backend unix socket lives under /tmp or /var/tmp, which systemd's PrivateTmp hides.

## What it does
Reports a unix socket under `/tmp` or `/var/tmp` in a pass target
(`proxy_pass http://unix:/tmp/app.sock;`, `fastcgi_pass unix:/tmp/php.sock;`,
a `set` value used by a variable target) or an upstream `server` (http and
stream).

## Why it causes 502/504
Services started by systemd with `PrivateTmp=true` (the nginx unit of
RHEL/Fedora/CentOS packages, many app units) get their own empty `/tmp` and
`/var/tmp`. The socket the backend created in its `/tmp` is invisible to
nginx: `[crit] connect() to unix:/tmp/app.sock failed (2: No such file or
directory) while connecting to upstream` → 502, while `ls /tmp` in a shell
shows the socket. tmp cleaners (`systemd-tmpfiles`, tmpreaper) may also delete
old sockets.

## Example
```nginx
upstream app_server {
    server unix:/tmp/gunicorn.sock fail_timeout=0;
}
```

## Use instead
```nginx
upstream app_server {
    server unix:/run/gunicorn/gunicorn.sock fail_timeout=0;
}
```
and have the backend create it there, e.g. a systemd unit with
`RuntimeDirectory=gunicorn` and `gunicorn --bind unix:/run/gunicorn/gunicorn.sock`.

## When to ignore
When neither nginx nor the backend runs with a private `/tmp` (check
`systemctl show -p PrivateTmp nginx <backend>`), or both share one namespace
(the same container).
"""
from __future__ import annotations

import posixpath
import re
from typing import Iterator

from nginx_502lint.addresses import destinations, normalized_socket_path
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.parse import format_directive

ID = "U308"
SLUG = "unix-socket-in-tmp"
SEVERITY = "warning"
SUMMARY = "Unix socket under /tmp or /var/tmp: systemd PrivateTmp hides it from nginx."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_PRIVATE_DIRS = ("/tmp/", "/var/tmp/")


def check(ctx: RuleContext) -> Iterator[None]:
    for dest in destinations(ctx.model):
        if dest.unix_path is None:
            continue
        path = normalized_socket_path(dest.unix_path)
        if not path.startswith(_PRIVATE_DIRS):
            continue
        new_path = _run_path(path)
        node = dest.edit_node
        old_arg = dest.edit_text
        new_arg = old_arg.replace(dest.unix_path, new_path, 1)
        args = [node.args[0], new_arg] if node.name == "set" else [new_arg, *node.args[1:]]
        new_text = format_directive(node.name, args)
        app = posixpath.basename(posixpath.dirname(new_path))
        ctx.report(
            dest.node,
            f"socket {path} in {dest.describe()} is under {'/tmp' if path.startswith('/tmp/') else '/var/tmp'}: "
            "a systemd service with PrivateTmp=true (RHEL/Fedora's nginx unit, many app units) sees its own empty /tmp "
            "and not this socket",
            mechanism=(f"nginx logs [crit] connect() to unix:{path} failed (2: No such file or directory) while connecting "
                       "to upstream and answers 502, although the socket exists in the backend's /tmp."),
            fix=Fix(f"Move the socket to /run: change {node.where} to `{new_text}` and make the backend create it there "
                    f"(systemd `RuntimeDirectory={app}`, {_backend_setting(path, new_path)}).",
                    (ctx.replace(node, new_text),), "unsafe"),
            column_word=dest.unix_path if node is dest.node else None,
            context=dest.context(ctx.model),
        )
    yield from ()


def _backend_setting(path: str, new_path: str) -> str:
    """Where the usual backends take the socket path, picked from the socket's name."""
    name = path.lower()
    if "php" in name or "fpm" in name:
        return f"php-fpm pool `listen = {new_path}`"
    if "uwsgi" in name:
        return f"uwsgi `socket = {new_path}`"
    if "gunicorn" in name:
        return f"`gunicorn --bind unix:{new_path}`"
    if "puma" in name or "unicorn" in name or "thin" in name:
        return f"the app server's bind setting, e.g. puma `bind 'unix://{new_path}'`"
    return f"the backend's listen/bind setting: `unix:{new_path}`"


def _run_path(path: str) -> str:
    """/tmp/gunicorn.sock -> /run/gunicorn/gunicorn.sock; /tmp/app/x.sock -> /run/app/x.sock."""
    inside = path.split("/", 2)[2] if path.startswith("/tmp/") else path.split("/", 3)[3]
    if "/" in inside:
        return "/run/" + inside
    stem = re.sub(r"\.(sock|socket)$", "", inside) or "app"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem)
    return f"/run/{stem}/{inside}"

r"""A backend unix socket is missing on this host, is not a socket, or nginx's workers cannot reach it.

## What it does
Runs only on the nginx host (`--host`). For every unix socket a pass target
or upstream `server` names (http and stream; literal or a `set` value), it
checks on this machine that

* the path and every directory above it exist, and the path is a socket;
* nginx's worker user can reach it: search (`x`) permission on every
  directory of the path (through symlinks) and write (`w`) permission on the
  socket, computed from owners and modes for the worker's uid, group and
  supplementary groups, not with the linter's own rights.

The worker user is the main-context `user` directive (its group defaults to
the user's name), or nginx's built-in `nobody` when there is none (Debian and
RHEL packages set `user www-data;` / `user nginx;` in the config). The option
`worker_user` (`"www-data"` or `"www-data www-data"`) says it for a site file
linted on its own. When that account does not exist on this host, the rule
says so and checks only existence and type. Files with POSIX ACLs get no
permission verdict.

## Why it causes 502/504
nginx connects to the socket per request and answers 502 when it cannot:
`[crit] connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or
directory) while connecting to upstream` (missing: backend stopped, or a
version-bumped name), `(13: Permission denied)` (a directory without `x` or a
socket without `w` for the worker), `(111: Connection refused)` (a file that
is not a listening socket).

## Example
```nginx
location ~ \.php$ {
    fastcgi_pass unix:/run/php/php8.2-fpm.sock;   # PHP is now 8.3
}
```

## Use instead
```nginx
location ~ \.php$ {
    fastcgi_pass unix:/run/php/php8.3-fpm.sock;
}
```

## When to ignore
When the backend is down on purpose while you lint, or creates the socket on
demand (socket activation creates it before nginx needs it, so it should
exist). Under `/tmp`, nginx with systemd `PrivateTmp=true` sees another `/tmp`
than the linter (see U308).

## Options
`worker_user`: the account nginx's workers run as, `"user"` or
`"user group"`, when the linted files have no `user` directive.
"""
from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Iterator

from nginx_502lint.addresses import Destination, destinations, is_fragment, normalized_socket_path
from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Edit, Fix
from nginx_502lint.parse import Node, format_directive

if TYPE_CHECKING:
    from nginx_502lint.hostcheck import SocketProblem, WorkerIdentity

ID = "U310"
SLUG = "unix-socket-missing"
SEVERITY = "error"
SUMMARY = "Unix socket path that does not exist, is not a socket, or that the nginx worker user cannot reach."
NEEDS = ("host",)
OPTIONS = {
    "type": "object",
    "properties": {
        "worker_user": {"type": "string", "pattern": r"^(\S+( \S+)?)?$", "default": ""},
    },
}


def check(ctx: RuleContext) -> Iterator[None]:
    if not ctx.settings.host:
        return
    # Imported here: without --host this rule never runs, and every lint imports it.
    from nginx_502lint.hostcheck import check_socket

    sockets = [d for d in destinations(ctx.model) if d.unix_path is not None]
    if not sockets:
        return
    identity, who = _identity(ctx, sockets)
    for dest in sockets:
        assert dest.unix_path is not None
        problem = check_socket(dest.unix_path, identity)
        if problem is not None:
            _report(ctx, dest, problem, identity, who)
    yield from ()


def _identity(ctx: RuleContext, sockets: list[Destination]) -> tuple[WorkerIdentity | None, str]:
    """The worker account and how we know it; reports an account missing on this host."""
    from nginx_502lint.hostcheck import UnknownAccount, default_worker_account, worker_identity

    option = ctx.options.get("worker_user", "").split()
    user_nodes = [n for n in ctx.model.nodes("user") if ctx.model.context_of(n) == "main" and n.args]
    node: Node | None = None
    if option:
        user, group, who = option[0], option[1] if len(option) > 1 else None, f"worker user {' '.join(option)} (option worker_user)"
    elif user_nodes:
        node = user_nodes[0]
        user, group = node.args[0], node.args[1] if len(node.args) > 1 else None
        who = f"worker user {' '.join(node.args)} ({node.where})"
    elif is_fragment(ctx.model):
        return None, "unknown worker user (a file linted on its own: set the option worker_user)"
    else:
        user, group = default_worker_account()
        who = f"worker user {user}:{group} (nginx's default: no `user` directive)"
    try:
        return worker_identity(user, group), who
    except UnknownAccount as error:
        anchor = node or sockets[0].node
        ctx.report(
            anchor,
            f"{error}: the permissions of {len(sockets)} unix socket(s) were not checked",
            mechanism="a root nginx master refuses to start when its worker account is missing.",
            fix=Fix("Create the account or name an existing one in the main context, e.g. `user www-data;`.",
                    applicability="display_only"),
            severity="warning",
            column_word="user" if node is not None else None,
        )
        return None, who


def _report(ctx: RuleContext, dest: Destination, problem: SocketProblem, identity: WorkerIdentity | None, who: str) -> None:
    assert dest.unix_path is not None
    path = normalized_socket_path(dest.unix_path)
    subject = f"unix socket {path} in {dest.describe()}"
    tmp_note = " (nginx with systemd PrivateTmp sees another /tmp than this check)" if path.startswith(("/tmp/", "/var/tmp/")) else ""
    fix: Fix
    if problem.kind in ("missing", "missing-dir", "not-dir"):
        if problem.kind == "missing":
            message = f"{subject} does not exist on this host{tmp_note}"
        elif problem.kind == "missing-dir":
            message = f"{subject} does not exist on this host: directory {problem.path} is missing{tmp_note}"
        else:
            message = f"{subject} cannot exist: {problem.path} is {problem.detail}, not a directory"
        mechanism = f"[crit] connect() to unix:{path} failed (2: No such file or directory) while connecting to upstream → 502."
        fix = _fix_missing(ctx, dest, path, problem)
    elif problem.kind == "not-socket":
        message = f"{subject} is {problem.detail}, not a socket"
        mechanism = f"connect() to unix:{path} failed (111: Connection refused) while connecting to upstream → 502."
        fix = Fix(f"Point {dest.edit_node.where} at the socket the backend creates (`ss -xlp` lists listening unix sockets), "
                  "or remove the stale file and restart the backend.", applicability="display_only")
    else:
        assert identity is not None
        if problem.kind == "no-search":
            message = f"{subject}: {who} cannot enter directory {problem.path} ({problem.detail})"
            how = (f"`chmod o+x {problem.path}` (or `chmod 755`), or add {identity.user} to the directory's group if "
                   "the group has x")
        else:
            message = f"{subject}: {who} cannot write to the socket ({problem.detail})"
            how = (f"let the backend create it for {identity.user}: php-fpm `listen.owner = {identity.user}`, "
                   f"`listen.group = {identity.group}`, `listen.mode = 0660`; gunicorn/uwsgi `--chmod-socket`/`--umask`; "
                   f"or add {identity.user} to the socket's group (`usermod -aG <group> {identity.user}`) when it has w")
        mechanism = f"[crit] connect() to unix:{path} failed (13: Permission denied) while connecting to upstream → 502."
        fix = Fix(f"Give the worker access, never with 0777: {how}.", applicability="display_only")
    ctx.report(dest.node, message, mechanism=mechanism, fix=fix,
               column_word=dest.unix_path if dest.edit_node is dest.node else None, context=dest.context(ctx.model))


def _fix_missing(ctx: RuleContext, dest: Destination, path: str, problem: SocketProblem) -> Fix:
    where = dest.edit_node.where
    if problem.kind == "not-dir":
        return Fix(f"The path is wrong: point {where} at the socket the backend really creates "
                   "(`ss -xlp` lists listening unix sockets).", applicability="display_only")
    if problem.kind == "missing-dir":
        return Fix(f"Start the backend that creates {path} (its runtime directory {problem.path} is missing too; systemd "
                   f"`RuntimeDirectory=` creates it), or point {where} at the socket it really creates "
                   "(`ss -xlp` lists listening unix sockets).", applicability="display_only")
    import difflib

    from nginx_502lint.hostcheck import sockets_near

    near = sockets_near(path)
    guess = difflib.get_close_matches(path, near, n=1, cutoff=0.6)
    if guess:
        node = dest.edit_node
        old = dest.edit_text
        new_arg = old.replace(dest.unix_path or path, guess[0], 1)
        args = [node.args[0], new_arg] if node.name == "set" else [new_arg, *node.args[1:]]
        text = format_directive(node.name, args)
        edits: tuple[Edit, ...] = (ctx.replace(node, text),) if new_arg != old else ()
        return Fix(f"{guess[0]} exists next to it: change {node.where} to `{text}` if that is the backend's socket.",
                   edits, "unsafe")
    folder = posixpath.dirname(path)
    return Fix(f"Start the backend that creates {path}, or point {where} at the socket it really creates "
               f"(`ss -xlp` lists listening unix sockets; check its config, e.g. php-fpm `listen =`); "
               f"there is no other socket in {folder}.", applicability="display_only")

"""nginx's worker user may not connect to the php-fpm socket it passes to.

## What it does
For every php-fpm pool that a `fastcgi_pass` reaches over a unix socket, works
out who owns the socket and with which mode, the way php-fpm creates it:

* `listen.owner` / `listen.group` (the group defaults to the owner's primary
  group; with neither, the socket belongs to the user that starts php-fpm,
  root under systemd and Docker) and `listen.mode` (default `0660`);
* with `listen.acl_users` / `listen.acl_groups`, php-fpm ignores owner and
  group (it logs `ACL set, listen.owner = '…' is ignored`), keeps the mode, and
  gives each listed user and group read/write through a POSIX ACL;

then checks that nginx's worker can write to it. The worker runs as the
main-context `user` (default `nobody`; Debian's packaged `nginx.conf` says
`www-data`, RHEL and nginx.org packages `nginx`) with the group named there,
or the group of the same name, plus the user's supplementary groups.

Supplementary groups are only known with `--host` (read from this machine's
group database). Without it the rule reasons from names and says what it
assumed ("nginx is not a member of group www-data"); a config fragment without
a main context is checked against the usual worker users www-data, nginx and
nobody, and reported as a warning only when none of them could connect.

It also reports ACL entries with blanks around them (`listen.acl_users =
apache, nginx`): php-fpm does not trim them, cannot find user ` nginx` and
refuses to start (`php-fpm -t` does not notice).

## Why it causes 502/504
nginx answers **502**: `[crit] connect() to unix:/run/php/php8.2-fpm.sock
failed (13: Permission denied) while connecting to upstream`. The common
causes are a pool without `listen.owner` (socket `root:root 0660`, since PHP
5.5.12 / bug #67060), `listen.mode = 0600`, or a Debian pool (`www-data`)
behind an nginx.org package running as `nginx`. A php-fpm that refuses to start
leaves no socket: `(2: No such file or directory)`.

## Example
```nginx
user nginx;
# pool: listen.owner = www-data, listen.group = www-data (mode 0660)
location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }
```

## Use instead
In the pool file, give the socket to nginx's user (or add that user to the
socket's group: `usermod -aG www-data nginx`):
```ini
listen.owner = nginx
listen.group = nginx
listen.mode = 0660
```
Never `0666`/`0777`: every local user could then run PHP as the pool user.

## When to ignore
When nginx's master does not run as root (then `user` is ignored and workers
run as the master's user), or php-fpm is started by another user than root.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix

if TYPE_CHECKING:
    from nginx_502lint.pass_addresses import BackendAddress
    from nginx_502lint.phpfpm import Pool
    from nginx_502lint.socket_access import SocketPermissions, Worker

ID = "F402"
SLUG = "fastcgi-socket-permission"
SEVERITY = "error"
SUMMARY = "php-fpm pool listen.owner/group/mode or listen.acl_* that do not let nginx's worker user connect: 502 (13: Permission denied)."
NEEDS = ("pool",)
OPTIONS = {"type": "object", "properties": {}}

_KEYS = ("listen", "listen.owner", "listen.group", "listen.mode", "listen.acl_users", "listen.acl_groups")


def check(ctx: RuleContext) -> Iterator[None]:
    # Imported here: without php-fpm pools this rule never runs, and every lint imports it.
    from nginx_502lint import pools as pool_input
    from nginx_502lint.pass_addresses import pools_at, site_addresses
    from nginx_502lint.socket_access import nginx_workers

    pools = pool_input.listening_pools(ctx.settings)
    if not pools:
        return
    workers, known = nginx_workers(ctx.model, ctx.settings.host)
    checked: set[int] = set()
    for site in ctx.model.pass_sites:
        if site.module != "fastcgi":
            continue
        for address in site_addresses(ctx.model, site) or ():
            if address.kind != "unix":
                continue
            for pool in pools_at(pools, address, ctx.settings.host):
                if id(pool) in checked:
                    continue
                checked.add(id(pool))
                _check_pool(ctx, pool, address, site.describe(), workers, known)
    yield from ()


def _check_pool(ctx: RuleContext, pool: Pool, address: BackendAddress, used_by: str,
                workers: list[Worker], known: bool) -> None:
    from nginx_502lint import pools as pool_input
    from nginx_502lint.pass_addresses import spelled
    from nginx_502lint.socket_access import can_connect, socket_permissions, untrimmed_acl_entries

    where = {key: pool_input.where(pool, key) for key in _KEYS}
    untrimmed = untrimmed_acl_entries(pool)
    if untrimmed:
        key, entry = untrimmed[0]
        cleaned = ",".join(e.strip() for e in (pool.listen_acl_users if key == "listen.acl_users" else pool.listen_acl_groups))
        ctx.report(
            address.node,
            f"php-fpm pool [{pool.name}] behind {spelled(address)} ({used_by}): {key} at {where[key]} has the entry "
            f"{entry!r} with blanks, which php-fpm does not trim, so it refuses to start",
            mechanism=(f"php-fpm exits with 'cannot get uid for user {entry!r}' (or gid for a group), the socket is never "
                       f"created and nginx answers 502: 'connect() to {address.text} failed (2: No such file or directory)'."),
            fix=Fix(f"In {where[key]} write `{key} = {cleaned}` (no blanks around the names)", (), "display_only"),
        )
        return
    socket = socket_permissions(pool, ctx.settings.host, where)
    if socket is None:
        return
    verdicts = [(worker, can_connect(worker, socket)) for worker in workers]
    if any(verdict.allowed for _, verdict in verdicts):
        return
    worker, verdict = verdicts[0]
    who = (f"nginx's workers run as {worker.user}:{worker.group} ({worker.source}) and may not connect" if known else
           f"this fragment does not show nginx's `user`; none of the usual worker users ({', '.join(w.user for w, _ in verdicts)}) may connect")
    assumptions = [*socket.assumptions, *verdict.assumptions] if known else list(socket.assumptions)
    assumed = f" (assuming {'; '.join(assumptions)})" if assumptions else ""
    ctx.report(
        address.node,
        f"php-fpm pool [{pool.name}] behind {spelled(address)} ({used_by}): {socket.describe()}; "
        f"{who}{': ' + verdict.reason if known else ''}{assumed}",
        mechanism=f"nginx answers 502: '[crit] connect() to {address.text} failed (13: Permission denied) while connecting to upstream'.",
        fix=_fix(pool, socket, worker, where, known),
        severity=None if known else "warning",
    )


def _fix(pool: Pool, socket: SocketPermissions, worker: Worker, where: dict[str, str], known: bool) -> Fix:
    user = worker.user if known else "www-data"
    group = worker.group if known else "www-data"
    caveat = "" if known else " (use the user of nginx's `user` directive; www-data is Debian's)"
    if socket.uses_acl:
        users = [*socket.acl_users, user] if user not in socket.acl_users else list(socket.acl_users)
        anchor = where["listen.acl_users"] if pool.listen_acl_users else where["listen.acl_groups"]
        return Fix(f"In pool [{pool.name}] at {anchor} set `listen.acl_users = {','.join(users)}`{caveat}",
                   (), "display_only")
    anchor = where["listen.owner"] if pool.listen_owner else where["listen"]
    return Fix(
        f"In pool [{pool.name}] ({anchor}) set `listen.owner = {user}`, `listen.group = {group}`, "
        f"`listen.mode = 0660`{caveat}, then restart php-fpm",
        (), "display_only",
    )


"""nginx's `fastcgi_read_timeout` does not fit the php-fpm pool's own time limits.

## What it does
For every `fastcgi_pass` that reaches a php-fpm pool (see F401 for how the
address is followed), compares nginx's effective `fastcgi_read_timeout` there
(60s when not set) with the pool's limits:

* `request_terminate_timeout` (php-fpm kills the worker: a **hard** limit;
  0 or unset = off);
* `max_execution_time` from `php_admin_value`/`php_value` in the pool (PHP
  stops the script with a fatal error and still answers; on Linux it counts CPU
  time, so a script waiting on a database can run longer). Unset in the pool
  means php.ini decides, which the rule cannot see.

It reports:

1. nginx waits as long as or longer than the hard kill → **502**;
2. nginx gives up before PHP's own `max_execution_time` → **504**;
3. nginx gives up long before the hard kill (by more than `max_gap`, default
   30s) → **504** while PHP keeps working.

The target, from the cause catalogue (C06, C07): nginx's read timeout at least
PHP's `max_execution_time`, and the hard kill slightly **above** nginx's read
timeout (`margin`, default 5s), so a runaway request ends with nginx's clear
504 instead of a reset connection.

## Why it causes 502/504
* php-fpm kills the worker first: nginx logs `recv() failed (104: Connection
  reset by peer) while reading response header from upstream` (or `upstream
  prematurely closed connection`) and answers **502**; php-fpm logs
  `execution timed out (… sec), terminating`.
* nginx's timer fires first: `upstream timed out (110: Connection timed out)
  while reading response header from upstream`, **504**, although PHP would
  have answered; the worker stays busy until the script ends.

## Example
```nginx
location ~ \\.php$ {
    fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    fastcgi_read_timeout 300s;      # pool: request_terminate_timeout = 30s
}
```

## Use instead
```ini
; pool: the hard kill just above nginx's read timeout
request_terminate_timeout = 305s
```

## When to ignore
Long-polling endpoints where the backend deliberately holds requests open, or
pools whose `max_execution_time` is raised per script with `set_time_limit()`.

## Options
`margin` (default `5s`): how far above nginx's read timeout the hard kill
should be. `max_gap` (default `30s`): a hard kill further than this above
nginx's read timeout is reported as a 504 risk.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix
from nginx_502lint.model import PassSite
from nginx_502lint.parse import Node, display_path, format_directive
from nginx_502lint.ruletools import applies_to, set_directives
from nginx_502lint.values import InvalidValue, format_time_ms, parse_time_ms

if TYPE_CHECKING:
    from nginx_502lint.phpfpm import Pool

ID = "T105"
SLUG = "timeout-vs-backend"
SEVERITY = "warning"
SUMMARY = "fastcgi_read_timeout vs the php-fpm pool's request_terminate_timeout / max_execution_time: 504 when nginx gives up first, 502 when php-fpm kills first."
NEEDS = ("pool",)
_TIME = {"type": "string", "pattern": r"^\d+(ms|s|m|h)?$"}
OPTIONS = {
    "type": "object",
    "properties": {
        "margin": {**_TIME, "default": "5s"},
        "max_gap": {**_TIME, "default": "30s"},
    },
}


class _Group:
    """Pass sites that share one read-timeout directive (or one implicit default) and one pool."""

    __slots__ = ("anchor", "setting", "pool", "sites")

    def __init__(self, anchor: Node, setting: Node | None, pool: Pool, sites: list[PassSite]) -> None:
        self.anchor = anchor
        self.setting = setting
        self.pool = pool
        self.sites = sites


def check(ctx: RuleContext) -> Iterator[None]:
    # Imported here: without php-fpm pools this rule never runs, and every lint imports it.
    from nginx_502lint import pools as pool_input

    pools = pool_input.listening_pools(ctx.settings)
    if not pools:
        return
    margin_s = max(1, parse_time_ms(ctx.options["margin"]) // 1000)
    max_gap_s = parse_time_ms(ctx.options["max_gap"]) // 1000
    for group in _groups(ctx, pools):
        nginx_s = _read_timeout_s(group)
        if nginx_s is None:
            continue
        _compare(ctx, group, nginx_s, margin_s, max_gap_s)
    yield from ()


def _groups(ctx: RuleContext, pools: list[Pool]) -> list[_Group]:
    from nginx_502lint.pass_addresses import pools_at, site_addresses

    groups: dict[tuple[int, int], _Group] = {}
    for site in ctx.model.pass_sites:
        if site.module != "fastcgi":
            continue
        setting = site.setting("read_timeout").node
        anchor = setting or site.node
        reached = {id(p): p for a in site_addresses(ctx.model, site) or () for p in pools_at(pools, a, ctx.settings.host)}
        for pool in reached.values():
            group = groups.setdefault((id(anchor), id(pool)), _Group(anchor, setting, pool, []))
            group.sites.append(site)
    return list(groups.values())


def _read_timeout_s(group: _Group) -> float | None:
    text = group.setting.args[0] if group.setting is not None and group.setting.args else "60s"
    try:
        return parse_time_ms(text) / 1000
    except InvalidValue:
        return None  # T106 reports it


def _compare(ctx: RuleContext, group: _Group, nginx_s: float, margin_s: int, max_gap_s: int) -> None:
    from nginx_502lint import pools as pool_input

    pool = group.pool
    kill = pool.request_terminate_timeout_s or 0
    cpu_limit = pool.max_execution_time_s or 0
    nginx_text = _nginx_text(group, nginx_s)
    users = applies_to(ctx.model, group.sites)
    if kill > 0 and nginx_s >= kill:
        new_kill = int(nginx_s) + margin_s
        where = pool_input.where(pool, "request_terminate_timeout")
        ctx.report(
            group.anchor,
            f"{nginx_text} for {users} is not below pool [{pool.name}]'s request_terminate_timeout = {kill}s ({where}): "
            f"php-fpm kills a request still running after {kill}s, before nginx stops waiting",
            mechanism=("php-fpm terminates the worker ('execution timed out … terminating'); nginx logs 'recv() failed "
                       "(104: Connection reset by peer) while reading response header from upstream' and answers 502."),
            fix=Fix(f"In pool [{pool.name}] ({where}) set `request_terminate_timeout = {new_kill}s`, just above nginx's "
                    f"{format_time_ms(int(nginx_s * 1000))}, so nginx ends runaway requests with a clear 504 "
                    f"(or lower nginx's fastcgi_read_timeout below {kill}s)", (), "display_only"),
        )
        return
    ceiling = kill - margin_s if kill > 0 else None
    if 0 < cpu_limit and nginx_s < cpu_limit and (kill == 0 or cpu_limit < kill):
        wanted = cpu_limit if ceiling is None else min(cpu_limit, ceiling)
        where = _php_value_where(pool)
        _report_504(ctx, group, nginx_s, users, wanted,
                    f"pool [{pool.name}]'s max_execution_time = {cpu_limit}s ({where}) lets PHP run longer")
        return
    if kill > 0 and kill - nginx_s > max_gap_s:
        where = pool_input.where(pool, "request_terminate_timeout")
        wanted = max(kill - margin_s, cpu_limit if 0 < cpu_limit < kill else 0)
        _report_504(ctx, group, nginx_s, users, wanted,
                    f"pool [{pool.name}] lets a request run until request_terminate_timeout = {kill}s ({where})")


def _report_504(ctx: RuleContext, group: _Group, nginx_s: float, users: str, wanted_s: float, backend: str) -> None:
    if wanted_s <= nginx_s:
        return  # already within the margin the hard kill needs above nginx
    nginx_text = _nginx_text(group, nginx_s)
    new_value = format_time_ms(int(wanted_s) * 1000)
    level = group.setting.parent if group.setting is not None else group.sites[0].block
    if level is None:
        return
    if level.name == "if":
        level = group.sites[0].location or level
    changes = [("fastcgi_read_timeout", [new_value])]
    ctx.report(
        group.anchor,
        f"{nginx_text} for {users} is shorter than the backend's limit: {backend}",
        mechanism=("nginx gives up first: 'upstream timed out (110: Connection timed out) while reading response header "
                   "from upstream', 504, while the PHP worker keeps running."),
        fix=Fix(f"In {ctx.model.describe(level)} set `{format_directive('fastcgi_read_timeout', [new_value])}` "
                f"(keep php-fpm's request_terminate_timeout slightly above it)",
                set_directives(ctx.model, level, changes), "unsafe"),
    )


def _nginx_text(group: _Group, nginx_s: float) -> str:
    if group.setting is not None:
        return f"{group.setting.text()[:-1]} at {group.setting.where}"
    return f"fastcgi_read_timeout {format_time_ms(int(nginx_s * 1000))} (nginx's default, not set)"


def _php_value_where(pool: Pool) -> str:
    from nginx_502lint import pools as pool_input

    for key in ("php_admin_value[max_execution_time]", "php_value[max_execution_time]"):
        file, line = pool_input.setting_line(pool, key, first=True)
        if line != pool.line:
            return f"{display_path(file)}:{line}"
    return f"{display_path(pool.file)}:{pool.line}"

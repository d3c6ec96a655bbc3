"""`fastcgi_pass` points at an address no php-fpm pool listens on.

## What it does
Reads the php-fpm pools (`--php-fpm FILE_OR_GLOB`, or the distribution's usual
places with `--host`) and follows every `fastcgi_pass` that is meant for PHP to
the address(es) it really uses: the literal `unix:`/TCP address, each server of
the `upstream` it names, or the values of a simple `set $var …;` it passes to.
An address that no pool listens on is reported, with the pool the author most
likely meant (same kind, most similar path or port) and every pool there is.

A `fastcgi_pass` counts as PHP when its address or upstream name says `php` or
`fpm`, uses port 9000, or its location mentions `.php` (`location ~ \\.php$`,
`index index.php`, `fastcgi_index index.php`, a `fastcgi*` include). Other
FastCGI servers (fcgiwrap, …) are left alone.

## Why it causes 502/504
nginx cannot connect and answers **502** for every PHP request:
`connect() to unix:/run/php/php8.2-fpm.sock failed (2: No such file or
directory) while connecting to upstream` for a socket path, `connect() failed
(111: Connection refused)` for a TCP port. The classic case is a PHP upgrade:
the pool now listens on `/run/php/php8.3-fpm.sock` while nginx keeps the old
versioned path. A pool bound to `127.0.0.1` cannot be reached through another
host's name (`fastcgi_pass php:9000;` from another container).

## Example
```nginx
location ~ \\.php$ {
    include snippets/fastcgi-php.conf;
    fastcgi_pass unix:/run/php/php8.2-fpm.sock;   # pool: listen = /run/php/php8.3-fpm.sock
}
```

## Use instead
```nginx
location ~ \\.php$ {
    include snippets/fastcgi-php.conf;
    fastcgi_pass unix:/run/php/php8.3-fpm.sock;
}
```
or name the socket once: `upstream php { server unix:/run/php/php8.3-fpm.sock; }`
and `fastcgi_pass php;`.

## When to ignore
When the pool files given are not the ones deployed with this nginx (lint the
matching set), or the address is served by another FastCGI server that merely
looks like PHP. A pool `listen` that uses `${VAR}` is taken to match anything.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix

if TYPE_CHECKING:
    from nginx_502lint.pass_addresses import BackendAddress
    from nginx_502lint.phpfpm import Pool

ID = "F401"
SLUG = "fastcgi-socket-mismatch"
SEVERITY = "error"
SUMMARY = "fastcgi_pass address that no php-fpm pool listens on (versioned socket path, TCP vs unix): 502 on every PHP request."
NEEDS = ("pool",)
OPTIONS = {"type": "object", "properties": {}}


def check(ctx: RuleContext) -> Iterator[None]:
    # Imported here: without php-fpm pools this rule never runs, and every lint imports it.
    from nginx_502lint import pools as pool_input
    from nginx_502lint.pass_addresses import looks_like_php, pools_at, site_addresses

    pools = pool_input.listening_pools(ctx.settings)
    if not pools:
        return
    reported: set[int] = set()
    for site in ctx.model.pass_sites:
        if site.module != "fastcgi":
            continue
        addresses = site_addresses(ctx.model, site)
        if not addresses or not looks_like_php(ctx.model, site, addresses):
            continue
        for address in addresses:
            if id(address.node) in reported or pools_at(pools, address, ctx.settings.host):
                continue
            reported.add(id(address.node))
            _report(ctx, site.describe(), address, pools)
    yield from ()


def _report(ctx: RuleContext, where_used: str, address: BackendAddress, pools: list[Pool]) -> None:
    from nginx_502lint import pools as pool_input
    from nginx_502lint.pass_addresses import closest_pool, pool_address_for, replacement, spelled

    meant = closest_pool(pools, address)
    assert meant.listen is not None
    listening = "; ".join(f"[{p.name}] listen = {p.listen.raw} ({pool_input.where(p, 'listen')})"
                          for p in pools if p.listen is not None)
    message = (f"{spelled(address)} at {address.node.where} for {where_used}: no php-fpm pool listens on "
               f"{address.text}; {_pools_phrase(pools)}: {listening}")
    same_port_loopback = (
        address.names_other_host and meant.listen.kind == "tcp" and meant.listen.port == address.port
    )
    if same_port_loopback:
        mechanism = (f"pool [{meant.name}] accepts connections only on {meant.listen.raw}, so nginx's "
                     f"connection to {address.text} is refused: 502 with 'connect() failed (111: Connection refused) "
                     "while connecting to upstream'.")
        fix = Fix(
            f"In {pool_input.where(meant, 'listen')} (pool [{meant.name}]) set `listen = {meant.listen.port}` so "
            f"php-fpm listens on every interface (and allow nginx's address in listen.allowed_clients if that is set); "
            f"or, if nginx runs on the same host, use `fastcgi_pass 127.0.0.1:{meant.listen.port};`",
            (), "display_only",
        )
        ctx.report(address.node, message, mechanism=mechanism, fix=fix)
        return
    new_address = pool_address_for(meant, address)
    new_text = replacement(address, new_address)
    if address.kind == "unix":
        mechanism = (f"nginx answers 502 for every request here: 'connect() to {address.text} failed "
                     "(2: No such file or directory) while connecting to upstream'.")
    else:
        mechanism = ("nginx answers 502 for every request here: 'connect() failed (111: Connection refused) "
                     "while connecting to upstream'.")
    other = len(pools) > 1 or meant.listen.kind != address.kind
    fix = Fix(
        f"At {address.node.where} change it to `{new_text}` (pool [{meant.name}] listens there, "
        f"{pool_input.where(meant, 'listen')})",
        (ctx.replace(address.node, new_text),),
        "unsafe" if other else "safe",
    )
    ctx.report(address.node, message, mechanism=mechanism, fix=fix)


def _pools_phrase(pools: list[Pool]) -> str:
    return "the only pool is" if len(pools) == 1 else f"the {len(pools)} pools are"

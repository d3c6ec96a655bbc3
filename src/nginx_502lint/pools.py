"""The php-fpm pools a run can see: read once per run, located to file:line for messages.

Pools come from `--php-fpm` (files or globs), or, with `--host` and no `--php-fpm`,
from the distributions' usual places (`phpfpm.default_pool_locations()`). Rules that
need pools declare NEEDS ("pool",); the engine skips them when neither input exists.
A pool file php-fpm would refuse ends the run (exit 2) with its file:line.
"""
from __future__ import annotations

import glob
import weakref
from dataclasses import dataclass

from .engine import LintSettings, RuleError
from .parse import display_path
from .phpfpm import Pool, PoolConfigError, default_pool_locations, load_pools


@dataclass
class _Loaded:
    settings: weakref.ReferenceType[LintSettings]
    sources: tuple[str, ...]
    pools: list[Pool]


_LOADED: dict[int, _Loaded] = {}


def pool_sources(settings: LintSettings) -> tuple[str, ...]:
    """What to read: the --php-fpm entries, else (host only) the existing default files."""
    if settings.php_fpm:
        return tuple(settings.php_fpm)
    if not settings.host:
        return ()
    # A fixed default such as /etc/php-fpm.conf is absent on most hosts; only existing files count.
    return tuple(path for location in default_pool_locations() for path in sorted(glob.glob(location)))


def pools_for(settings: LintSettings) -> list[Pool]:
    """Every pool of this run, read on first use and shared by every rule of the run."""
    sources = pool_sources(settings)
    cached = _LOADED.get(id(settings))
    if cached is not None and cached.settings() is settings and cached.sources == sources:
        return cached.pools
    try:
        pools = load_pools(list(sources)) if sources else []
    except PoolConfigError as error:
        raise RuleError(f"php-fpm pool {error}") from None
    for key in [key for key, loaded in _LOADED.items() if loaded.settings() is None]:
        del _LOADED[key]  # runs that are over
    _LOADED[id(settings)] = _Loaded(weakref.ref(settings), sources, pools)
    return pools


def listening_pools(settings: LintSettings) -> list[Pool]:
    return [pool for pool in pools_for(settings) if pool.listen is not None]


def setting_line(pool: Pool, key: str, first: bool = False) -> tuple[str, int]:
    """file:line of the `key = …` that counts in the pool's own section, else of the section header.

    A later scalar setting replaces an earlier one; for php_value[…] entries the first wins
    (see phpfpm._first_value), hence `first`.
    """
    try:
        with open(pool.file, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().split("\n")
    except OSError:
        return pool.file, pool.line
    found = pool.line
    for number in range(pool.line + 1, len(lines) + 1):
        stripped = lines[number - 1].strip()
        if stripped.startswith("["):
            break
        name, equals, _ = stripped.partition("=")
        if equals and name.strip().lower() == key:
            found = number
            if first:
                break
    return pool.file, found


def where(pool: Pool, key: str) -> str:
    file, line = setting_line(pool, key)
    return f"{display_path(file)}:{line}"


def label(pool: Pool) -> str:
    """`[www] (www.conf:1)`: the pool and where its section starts."""
    return f"[{pool.name}] ({display_path(pool.file)}:{pool.line})"

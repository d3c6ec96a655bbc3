"""Read php-fpm pool configuration the way php-fpm (PHP 7/8, fpm_conf.c) reads it.

php-fpm hands every line on its own to PHP's ini scanner, so the dialect is PHP ini:
`key = value`, `[section]`, `;` comments, "double" quotes (escapes \\" \\\\ \\$, `${VAR}`
expanded from the environment at start-up) and 'single' quotes (raw), `yes/on/true` read as
"1" and `no/off/false/none/null` as "". `#` starts no comment since PHP 7.0: php-fpm refuses
such a line, and so do we. Option names are case-insensitive; a later value replaces an
earlier one; `$pool` becomes the pool name; a section name seen again reopens that pool;
the current section carries on into and out of included files.

Choices where we cannot do what php-fpm does:
* a relative `include` resolves against the including file's directory, or against `prefix`
  when given (php-fpm uses its -p prefix or its build prefix, /usr on Debian);
* `${VAR}` is left as written and reported in Pool.env_refs (php-fpm expands it from the
  environment of its own start-up, which we cannot see);
* PHP constants and bitwise expressions in values (`E_ALL & ~E_NOTICE`) stay as text;
* an `include` that matches nothing but directories is an error here: php-fpm silently
  skips directories, so such an include loads nothing (`pool.d` instead of `pool.d/*.conf`).
"""
from __future__ import annotations

import glob
import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Literal

ListenKind = Literal["unix", "tcp"]

DEFAULT_LISTEN_MODE = 0o660
# php-fpm opens at most 5 files in one include chain ("failed to include more than 5 files recursively").
MAX_INCLUDE_DEPTH = 4

_TRUE_WORDS = frozenset({"true", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "no", "off", "none", "null"})
_ARRAY_SETTINGS = frozenset({"env", "php_value", "php_admin_value", "php_flag", "php_admin_flag", "access.suppress_path"})
_TIME_SETTINGS = frozenset({"request_terminate_timeout", "request_slowlog_timeout", "pm.process_idle_timeout"})
_INTEGER_SETTINGS = frozenset(
    {
        "pm.max_children", "pm.start_servers", "pm.min_spare_servers", "pm.max_spare_servers",
        "pm.max_requests", "pm.max_spawn_rate", "listen.backlog", "rlimit_files",
        "request_slowlog_trace_depth", "process.priority",
    }
)
_PROCESS_MANAGERS = frozenset({"static", "dynamic", "ondemand"})
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_GLOB_MAGIC = re.compile(r"[*?[]")


class PoolConfigError(Exception):
    """Input php-fpm itself would refuse (or that we cannot read), located as file:line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[type[PoolConfigError], tuple[str, int, str]]:
        return (type(self), (self.file, self.line, self.message))


@dataclass(frozen=True)
class ListenAddress:
    """A pool's `listen`, classified as php-fpm does (fpm_sockets_domain_from_address).

    tcp: `host` is None for a bare port, which php-fpm binds on "::" (IPv6 and mapped IPv4)
    and, failing that, 0.0.0.0; brackets around IPv6 hosts are removed. unix: `path` as
    written (php-fpm puts its prefix in front of a relative one).
    """

    kind: ListenKind
    raw: str
    path: str | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, raw: str) -> ListenAddress:
        if ":" in raw:
            host, _, port_text = raw.rpartition(":")
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            return cls(kind="tcp", raw=raw, host=host, port=_c_atoi(port_text))
        if raw.isascii() and raw.isdigit():
            return cls(kind="tcp", raw=raw, port=_c_atoi(raw))
        return cls(kind="unix", raw=raw, path=raw)

    @property
    def has_env_reference(self) -> bool:
        return _ENV_REFERENCE.search(self.raw) is not None

    @property
    def all_interfaces(self) -> bool:
        return self.kind == "tcp" and (self.host is None or self.host in ("0.0.0.0", "::"))

    def matches_nginx_target(
        self, kind: str, host: str | None = None, port: int | None = None, path: str | None = None
    ) -> bool:
        """Could an nginx `fastcgi_pass` to this target reach this listener?

        kind is "unix" (path, with or without "unix:") or "tcp" (host, port; "[::1]" or "::1").
        Where the answer depends on name resolution (localhost may be ::1, a hostname may be
        this host) this says True and leaves the doubt to other rules; it says False only
        when the two cannot meet: other kind, other port, other path, an address the pool
        does not bind (a loopback-only pool seen from another address, an IPv4-only pool
        seen from an IPv6 literal).
        """
        if self.has_env_reference:
            return True
        if kind != self.kind:
            return False
        if kind == "unix":
            return path is not None and self.path is not None and _same_socket_path(path, self.path)
        if port is not None and self.port is not None and port != self.port:
            return False
        if host is None:
            return True
        return _host_reaches_bind(_normalise_host(host), self.host)


def _same_socket_path(nginx_path: str, pool_path: str) -> bool:
    nginx_path = nginx_path[len("unix:"):] if nginx_path.startswith("unix:") else nginx_path
    return os.path.normpath(nginx_path) == os.path.normpath(pool_path)


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


_LOCALHOST_SPELLINGS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_reaches_bind(target: str, bind_host: str | None) -> bool:
    bind = _normalise_host(bind_host) if bind_host is not None else "::"
    if bind == "::":
        # A bare port or "[::]": Linux binds "::" dual-stack by default (net.ipv6.bindv6only=0).
        return True
    target_ip, bind_ip = _ip(target), _ip(bind)
    if bind == "0.0.0.0":
        return not (isinstance(target_ip, ipaddress.IPv6Address) and target_ip.ipv4_mapped is None)
    if target == bind or (target_ip is not None and target_ip == bind_ip):
        return True
    if "localhost" in (target, bind):
        return {target, bind} <= _LOCALHOST_SPELLINGS
    if target_ip is not None and bind_ip is not None:
        return False
    if bind_ip is not None and bind_ip.is_loopback:
        # A loopback-only pool cannot be reached through another host's name (the Docker trap).
        return False
    return True


@dataclass
class Pool:
    """One php-fpm pool, with the settings nginx-side rules need already interpreted.

    listen_mode: octal `listen.mode` read like strtoul(…, 8), 0o660 when unset.
    listen_owner/listen_group: None when unset (the socket then belongs to the user running
    the php-fpm master, usually root). acl_* and allowed_clients: split on "," exactly as
    php-fpm splits them, spaces included (php-fpm does not trim " nginx" either).
    request_terminate_timeout_s: None when unset; 0 means off, php-fpm's default.
    max_execution_time_s: from php_admin_value, else php_value, else None (php.ini decides;
    on Linux PHP measures it in CPU time, not wall-clock time).
    settings: every scalar option, lower-cased name -> final value; env_refs: option -> the
    ${VAR} names it uses, which php-fpm would take from its environment.
    """

    name: str
    file: str
    line: int
    root_file: str
    listen: ListenAddress | None = None
    listen_owner: str | None = None
    listen_group: str | None = None
    listen_mode: int = DEFAULT_LISTEN_MODE
    listen_acl_users: list[str] = field(default_factory=list)
    listen_acl_groups: list[str] = field(default_factory=list)
    allowed_clients: list[str] = field(default_factory=list)
    user: str | None = None
    group: str | None = None
    pm: str | None = None
    max_children: int | None = None
    request_terminate_timeout_s: int | None = None
    max_execution_time_s: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    php_values: dict[str, str] = field(default_factory=dict)
    php_admin_values: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    env_refs: dict[str, list[str]] = field(default_factory=dict)


def default_pool_locations() -> list[str]:
    """Where distributions keep php-fpm configuration, main files first (they include the pools)."""
    return [
        "/etc/php/*/fpm/php-fpm.conf",
        "/etc/php/*/fpm/pool.d/*.conf",
        "/etc/php-fpm.conf",
        "/etc/php-fpm.d/*.conf",
        "/etc/php*/php-fpm.conf",
        "/etc/php*/php-fpm.d/*.conf",
        "/usr/local/etc/php-fpm.conf",
        "/usr/local/etc/php-fpm.d/*.conf",
    ]


def load_pools(paths_or_globs: list[str], *, prefix: str | None = None) -> list[Pool]:
    """Every pool in these files (globs allowed), following their includes.

    Each top-level file is one php-fpm instance: sections of the same name merge within it,
    never across instances (PHP 8.1 and 8.2 may both have a [www]). A top-level file that
    another one includes (pool.d/www.conf next to php-fpm.conf) is read only as part of it.
    """
    instances: list[_InstanceReader] = []
    for entry in paths_or_globs:
        for path in _top_level_files(entry):
            if any(os.path.realpath(path) in instance.files_read for instance in instances):
                continue
            reader = _InstanceReader(root_file=path, prefix=prefix)
            reader.read_file(path, stack=[], include_site=None)
            instances.append(reader)
    pools: list[Pool] = []
    for instance in instances:
        root = os.path.realpath(instance.root_file)
        if any(root in other.files_read for other in instances if other is not instance):
            continue
        pools.extend(instance.finish())
    return pools


def _top_level_files(entry: str) -> list[str]:
    if not _GLOB_MAGIC.search(entry):
        if os.path.isdir(entry):
            raise PoolConfigError(entry, 0, "is a directory; name the files, e.g. " + os.path.join(entry, "*.conf"))
        return [entry]
    return [match for match in sorted(glob.glob(entry)) if not os.path.isdir(match)]


@dataclass
class _PoolDraft:
    pool: Pool
    php_values: list[tuple[str, str]] = field(default_factory=list)
    php_admin_values: list[tuple[str, str]] = field(default_factory=list)


class _InstanceReader:
    """The state php-fpm keeps while reading one main config and its includes."""

    def __init__(self, root_file: str, prefix: str | None) -> None:
        self.root_file = root_file
        self.prefix = prefix
        self.files_read: set[str] = set()
        self.drafts: dict[str, _PoolDraft] = {}
        self.current: _PoolDraft | None = None

    def read_file(self, path: str, stack: list[str], include_site: tuple[str, int] | None) -> None:
        real = os.path.realpath(path)
        where_file, where_line = include_site or (path, 0)
        if real in stack:
            chain = " -> ".join([*stack, real])
            raise PoolConfigError(where_file, where_line, f"include loop: {chain}")
        if len(stack) > MAX_INCLUDE_DEPTH:
            raise PoolConfigError(where_file, where_line, "php-fpm includes at most 5 files recursively")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                text = handle.read()
        except IsADirectoryError:
            raise PoolConfigError(where_file, where_line, f"{path} is a directory, not a config file") from None
        except OSError as error:
            raise PoolConfigError(where_file, where_line, f"cannot read {path}: {error.strerror}") from None
        self.files_read.add(real)
        for number, line in enumerate(text.split("\n"), start=1):
            self._read_line(path, number, line.rstrip("\r"), [*stack, real])

    def finish(self) -> list[Pool]:
        return [_finish_pool(draft) for draft in self.drafts.values()]

    def _read_line(self, path: str, number: int, line: str, stack: list[str]) -> None:
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            return
        if stripped.startswith("#"):
            raise PoolConfigError(path, number, "'#' comments are refused by php-fpm since PHP 7.0; use ';'")
        if stripped.startswith("["):
            self._open_section(path, number, stripped)
            return
        key, value, env_names = _split_setting(path, number, stripped)
        if key == "include":
            self._include(path, number, value, stack)
            return
        if self.current is None:
            self._read_global_setting(path, number, key, value)
            return
        value = value.replace("$pool", self.current.pool.name)
        self._read_pool_setting(path, number, key, value, env_names)

    def _open_section(self, path: str, number: int, stripped: str) -> None:
        closing = stripped.find("]")
        if closing < 0:
            raise PoolConfigError(path, number, f"unterminated section header {stripped!r}")
        name = stripped[1:closing]
        rest = stripped[closing + 1:].strip()
        if rest and not rest.startswith(";"):
            raise PoolConfigError(path, number, f"unexpected text after section header: {rest!r}")
        if ";" in name:
            raise PoolConfigError(path, number, f"invalid section name {name!r}")
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1]
        if name.lower() == "global":
            self.current = None
            return
        # php-fpm matches pool names case-insensitively and reopens an existing pool.
        existing = self.drafts.get(name.lower())
        if existing is None:
            existing = _PoolDraft(Pool(name=name, file=path, line=number, root_file=self.root_file))
            self.drafts[name.lower()] = existing
        self.current = existing

    def _read_global_setting(self, path: str, number: int, key: str, value: str) -> None:
        if "[" in key:
            raise PoolConfigError(path, number, f"{key}: arrays are not allowed in the [global] section")
        if "$pool" in value:
            raise PoolConfigError(path, number, f"{key}: '$pool' cannot be used outside a pool section")

    def _read_pool_setting(self, path: str, number: int, key: str, value: str, env_names: list[str]) -> None:
        assert self.current is not None
        pool = self.current.pool
        if "[" in key:
            self._read_array_setting(path, number, key, value)
            return
        name = key.lower()
        if env_names:
            # php-fpm checks the value after expanding ${VAR}, which we cannot do.
            pool.env_refs[name] = env_names
        else:
            _check_setting_syntax(path, number, name, value)
            pool.env_refs.pop(name, None)
        pool.settings[name] = value

    def _read_array_setting(self, path: str, number: int, key: str, value: str) -> None:
        assert self.current is not None
        opening = key.index("[")
        if not key.endswith("]"):
            raise PoolConfigError(path, number, f"unterminated '[' in {key!r}")
        array = key[:opening].strip()
        # php-fpm drops leading blanks of the key but keeps trailing ones: "[ x ]" is "x ".
        subkey = key[opening + 1:-1].lstrip(" \t")
        if not subkey and array != "access.suppress_path":
            raise PoolConfigError(path, number, f"{array}[] needs a key, e.g. {array}[max_execution_time]")
        if array in ("php_flag", "php_admin_flag"):
            if value not in ("1", ""):
                raise PoolConfigError(path, number, f"{key}: invalid boolean value {value!r}")
            value = "1" if value == "1" else "0"
        if array in ("php_value", "php_flag"):
            self.current.php_values.append((subkey, value))
        elif array in ("php_admin_value", "php_admin_flag"):
            self.current.php_admin_values.append((subkey, value))
        elif array == "env":
            if not value:
                raise PoolConfigError(path, number, f"{key}: empty value")
            self.current.pool.env[subkey] = value
        elif array not in _ARRAY_SETTINGS:
            raise PoolConfigError(path, number, f"unknown array setting {array!r} (names are case-sensitive)")

    def _include(self, path: str, number: int, pattern: str, stack: list[str]) -> None:
        if not os.path.isabs(pattern):
            base = self.prefix if self.prefix is not None else os.path.dirname(os.path.abspath(path))
            pattern = os.path.normpath(os.path.join(base, pattern))
        matches = sorted(glob.glob(pattern))
        if not matches:
            _check_glob_base_exists(path, number, pattern)
            return
        files = [match for match in matches if not os.path.isdir(match)]
        if not files:
            raise PoolConfigError(
                path, number,
                f"include {pattern!r} matches only directories, which php-fpm skips: nothing is loaded"
                f" (did you mean {os.path.join(matches[0], '*.conf')}?)",
            )
        for included in files:
            self.read_file(included, stack=stack, include_site=(path, number))


def _check_glob_base_exists(path: str, number: int, pattern: str) -> None:
    """php-fpm globs with GLOB_ERR: a wildcard under a missing directory stops it."""
    magic = _GLOB_MAGIC.search(pattern)
    if magic is None:
        return
    base = os.path.dirname(pattern[: magic.start()]) or "/"
    if not os.path.isdir(base):
        raise PoolConfigError(path, number, f"include {pattern!r}: directory {base} does not exist")


def _split_setting(path: str, number: int, stripped: str) -> tuple[str, str, list[str]]:
    equals = stripped.find("=")
    comment = stripped.find(";")
    if equals < 0 or 0 <= comment < equals:
        raise PoolConfigError(path, number, f"expected 'name = value', got {stripped!r}")
    key = stripped[:equals].strip()
    if not key:
        raise PoolConfigError(path, number, "missing setting name before '='")
    value, env_names = _parse_value(path, number, stripped[equals + 1:])
    return key, value, env_names


def _parse_value(path: str, number: int, raw: str) -> tuple[str, list[str]]:
    """One ini value: quoted and bare runs glued together, bare runs trimmed, comment cut off."""
    parts: list[str] = []
    env_names: list[str] = []
    bare_runs = 0
    quoted_runs = 0
    position = 0
    bare_start = 0

    def close_bare_run(end: int) -> None:
        nonlocal bare_runs
        run = raw[bare_start:end].strip(" \t")
        if run:
            parts.append(run)
            env_names.extend(_ENV_REFERENCE.findall(run))
            bare_runs += 1

    while position < len(raw):
        char = raw[position]
        if char == ";":
            break
        if char == "=":
            raise PoolConfigError(path, number, "'=' inside a value must be quoted")
        if char in "\"'":
            close_bare_run(position)
            end = _closing_quote(raw, position)
            if end < 0:
                raise PoolConfigError(path, number, f"unterminated {char}quoted{char} value")
            inner = raw[position + 1:end]
            if char == '"':
                env_names.extend(_ENV_REFERENCE.findall(inner))
                inner = _unescape_double_quoted(inner)
            parts.append(inner)
            quoted_runs += 1
            position = end + 1
            bare_start = position
            continue
        position += 1
    close_bare_run(position)

    value = "".join(parts)
    if bare_runs == 1 and quoted_runs == 0:
        word = value.lower()
        if word in _TRUE_WORDS:
            return "1", env_names
        if word in _FALSE_WORDS:
            return "", env_names
    return value, env_names


def _closing_quote(raw: str, opening: int) -> int:
    quote = raw[opening]
    position = opening + 1
    while position < len(raw):
        if quote == '"' and raw[position] == "\\":
            position += 2
            continue
        if raw[position] == quote:
            return position
        position += 1
    return -1


def _unescape_double_quoted(text: str) -> str:
    # PHP's ini scanner (normal mode) unescapes only \" \\ and \$; other backslashes stay.
    return re.sub(r'\\(["\\$])', r"\1", text)


def _check_setting_syntax(path: str, number: int, name: str, value: str) -> None:
    """The parse-time checks php-fpm makes for the options we interpret."""
    if name in _TIME_SETTINGS:
        _fpm_time_seconds(path, number, name, value)
    elif name in _INTEGER_SETTINGS and not re.fullmatch(r"-?[0-9]*", value):
        raise PoolConfigError(path, number, f"{name}: {value!r} is not a valid number")
    elif name == "pm" and value.lower() not in _PROCESS_MANAGERS:
        raise PoolConfigError(path, number, f"pm: {value!r} is not static, dynamic or ondemand")


def _fpm_time_seconds(path: str, number: int, name: str, value: str) -> int:
    """fpm_conf_set_time(): one suffix s, m, h or d (none = seconds), the number read by atoi()."""
    if not value:
        raise PoolConfigError(path, number, f"{name}: empty time value")
    scales = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    suffix = value[-1]
    if suffix in scales:
        return _wrap_int32(scales[suffix] * _c_atoi(value[:-1]))
    if "0" <= suffix <= "9":
        return _c_atoi(value)
    raise PoolConfigError(path, number, f"{name}: unknown suffix {suffix!r} in {value!r} (use s, m, h or d)")


def _c_strtol(text: str) -> int:
    """glibc strtol(text, NULL, 10) on a 64-bit long: leading blanks, a sign, digits, clamped."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)", text)
    assert match is not None
    digits = match.group(2)
    if not digits:
        return 0
    number = int(digits) * (-1 if match.group(1) == "-" else 1)
    return max(-(2**63), min(2**63 - 1, number))


def _c_atoi(text: str) -> int:
    """glibc atoi(): strtol() truncated to a 32-bit int, so "1.5m" reads as 1 and huge values wrap."""
    return _wrap_int32(_c_strtol(text))


def _wrap_int32(number: int) -> int:
    number &= 0xFFFFFFFF
    return number - 2**32 if number >= 2**31 else number


def _c_strtoul_octal(text: str) -> int:
    match = re.match(r"[ \t\n\v\f\r]*\+?([0-7]*)", text)
    assert match is not None
    return int(match.group(1), 8) if match.group(1) else 0


def _split_list(value: str | None) -> list[str]:
    return value.split(",") if value else []


def _first_value(entries: list[tuple[str, str]], key: str) -> str | None:
    # php-fpm prepends each entry to a list and applies the list in order, so for a key
    # given twice the first definition is applied last and wins.
    for entry_key, value in entries:
        if entry_key == key:
            return value
    return None


def _finish_pool(draft: _PoolDraft) -> Pool:
    pool = draft.pool
    settings = pool.settings
    # Numbers that depend on ${VAR} are unknown here, not zero.
    known = {name: value for name, value in settings.items() if name not in pool.env_refs}
    listen = settings.get("listen")
    pool.listen = ListenAddress.parse(listen) if listen else None
    pool.listen_owner = settings.get("listen.owner") or None
    pool.listen_group = settings.get("listen.group") or None
    mode = known.get("listen.mode")
    pool.listen_mode = _c_strtoul_octal(mode) if mode else DEFAULT_LISTEN_MODE
    pool.listen_acl_users = _split_list(settings.get("listen.acl_users"))
    pool.listen_acl_groups = _split_list(settings.get("listen.acl_groups"))
    pool.allowed_clients = _split_list(settings.get("listen.allowed_clients"))
    pool.user = settings.get("user") or None
    pool.group = settings.get("group") or None
    pm = settings.get("pm")
    pool.pm = pm.lower() if pm else None
    children = known.get("pm.max_children")
    pool.max_children = _c_atoi(children) if children is not None else None
    terminate = known.get("request_terminate_timeout")
    if terminate is not None:
        pool.request_terminate_timeout_s = _fpm_time_seconds(pool.file, pool.line, "request_terminate_timeout", terminate)
    pool.php_values = _effective_values(draft.php_values)
    pool.php_admin_values = _effective_values(draft.php_admin_values)
    max_execution_time = _first_value(draft.php_admin_values, "max_execution_time")
    if max_execution_time is None:
        max_execution_time = _first_value(draft.php_values, "max_execution_time")
    if max_execution_time is not None:
        pool.max_execution_time_s = _c_strtol(max_execution_time)
    return pool


def _effective_values(entries: list[tuple[str, str]]) -> dict[str, str]:
    effective: dict[str, str] = {}
    for key, value in entries:
        effective.setdefault(key, value)
    return effective

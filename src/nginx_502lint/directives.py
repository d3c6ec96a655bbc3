"""What nginx itself knows about each directive: contexts, argument counts, versions.

The table is generated from the nginx source (`scripts/gen_directives.py`) and covers
every open-source release from 1.0.0 to `latest_version()`. It is read once, on first
use, and answers the questions nginx asks when it loads a config: is the name known,
is it allowed in this block, does it take this many arguments, is it a block.

`version` arguments accept "1.25.1", a version tuple, or None. None means "some
release": a name is known if any 1.x release has it, and a definition is judged by
its newest state (what the directive looked like in the last release that had it).
Versions between or after releases work too (1.32.0 is judged as 1.31.4 would be).

Context names are those of CONTEXTS (`server_if` / `location_if` are `if` blocks,
stream and mail blocks have their own names). A definition listing `any` (`include`)
fits every context, and asking about context "any" matches any definition.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, NamedTuple

Version = tuple[int, ...]
VersionLike = str | Version | None

CONTEXTS: tuple[str, ...] = (
    "main",
    "events",
    "http",
    "server",
    "location",
    "upstream",
    "server_if",
    "location_if",
    "limit_except",
    "stream",
    "stream_server",
    "stream_upstream",
    "mail",
    "mail_server",
)
ANY_CONTEXT = "any"

_DATA_FILE = "directives.json"
_LAZY_SECTIONS = ("directives", "doc_only", "removed_before_1x")
_DOC_BASE = "https://nginx.org/en/docs/"
_DOC_INDEX = _DOC_BASE + "dirindex.html"
_FLAG_VALUES = frozenset({"on", "off"})

# allow and deny append to one list (ngx_http_access_module's conf->rules), so either
# one at a level drops both kinds of inherited rules.
_SHARED_ARRAYS: Mapping[str, frozenset[str]] = {
    "allow": frozenset({"allow", "deny"}),
    "deny": frozenset({"allow", "deny"}),
}

_SUGGEST_CUTOFF = 0.8
_SUGGEST_FLOOR = 0.6  # below this even a family bonus cannot reach the cutoff
_SAME_FAMILY_BONUS = 0.08  # proxy_read_timout: proxy_* before fastcgi_*
_SAME_MEMBER_BONUS = 0.1  # fastcgii_read_timeout: same member, misspelt family


def parse_version(text: str) -> Version:
    """"1.25.1" -> (1, 25, 1); a missing patch level counts as 0 ("1.25" -> (1, 25, 0))."""
    cleaned = text.strip().removeprefix("nginx/")
    try:
        parts = tuple(int(part) for part in cleaned.split("."))
    except ValueError:
        raise ValueError(f"not an nginx version: {text!r} (expected e.g. 1.25.1)") from None
    if not 1 <= len(parts) <= 3 or any(part < 0 for part in parts):
        raise ValueError(f"not an nginx version: {text!r} (expected e.g. 1.25.1)")
    return parts + (0,) * (3 - len(parts))


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _as_version(version: VersionLike) -> Version | None:
    if version is None or isinstance(version, tuple):
        return version
    return parse_version(version)


# NamedTuple rather than dataclass: a dataclass costs milliseconds to create at import,
# and the linter's start-up budget is small.
class ArgRule(NamedTuple):
    """nginx's argument-count rule for one definition (the directive name not counted)."""

    min: int
    max: int | None  # None: no upper limit
    flag: bool = False  # NGX_CONF_FLAG: exactly one argument
    any: bool = False  # NGX_CONF_ANY: no check at all
    counts: tuple[int, ...] = ()  # non-contiguous counts (TAKE13)

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> ArgRule:
        return cls(
            min=raw.get("min", 0),
            max=raw.get("max"),
            flag=bool(raw.get("flag")),
            any=bool(raw.get("any")),
            counts=tuple(raw.get("counts", ())),
        )

    def accepts(self, n_args: int) -> bool:
        # Same order as ngx_conf_handler(): ANY, FLAG, then the TAKE/MORE bits.
        if self.any:
            return True
        if self.flag:
            return n_args == 1
        if self.counts:
            return n_args in self.counts
        return n_args >= self.min and (self.max is None or n_args <= self.max)

    def describe(self) -> str:
        """Human wording for messages: "1 to 2 arguments", "on or off", ..."""
        if self.any:
            return "any number of arguments"
        if self.flag:
            return "on or off"
        if self.counts:
            return " or ".join(str(count) for count in self.counts) + " arguments"
        if self.max is None:
            return f"at least {_arguments(self.min)}"
        if self.min == self.max:
            return _arguments(self.min)
        return f"{self.min} to {self.max} arguments"


def _arguments(count: int) -> str:
    return f"{count} argument" if count == 1 else f"{count} arguments"


class Revision(NamedTuple):
    """The shape a definition had from release `since` on."""

    since: Version
    contexts: frozenset[str]
    args: ArgRule
    block: bool


class Definition(NamedTuple):
    """One module's definition of a directive (stream and http `proxy_pass` are two)."""

    name: str
    module: str
    contexts: frozenset[str]  # in the newest release that has this definition
    args: ArgRule
    block: bool
    block_content: str | None  # "directives", "custom" (map, types, geo, ...) or None
    added: str
    removed: str | None
    added_version: Version
    removed_version: Version | None
    absent_in: tuple[tuple[Version, Version], ...]
    history: tuple[Revision, ...]  # empty when the shape never changed in 1.x
    value: str | None
    values: tuple[str, ...]
    default: str | None
    doc_module: str | None
    optional_module: bool
    default_build: bool
    requires: tuple[str, ...]
    obsolete: bool
    array: bool

    def exists_in(self, version: Version | None) -> bool:
        if version is None:
            return True
        if version < self.added_version:
            return False
        if self.removed_version is not None and version >= self.removed_version:
            return False
        return not any(first <= version <= last for first, last in self.absent_in)

    def revision_at(self, version: Version | None) -> Revision:
        if version is None or not self.history:
            return Revision(self.added_version, self.contexts, self.args, self.block)
        current = self.history[0]
        for revision in self.history:
            if revision.since <= version:
                current = revision
        return current

    def allows(self, context: str, version: Version | None = None) -> bool:
        contexts = self.revision_at(version).contexts
        return context == ANY_CONTEXT or ANY_CONTEXT in contexts or context in contexts


class _LazyEntries(Mapping[str, Mapping[str, Any]]):
    """name -> entry, each entry's JSON decoded on first access.

    A lint run touches a few dozen of ~700 directives, so decoding only those keeps
    loading the table at a fraction of a full json.loads.
    """

    def __init__(self, raw: Mapping[str, str | Mapping[str, Any]]) -> None:
        self._raw = raw
        self._decoded: dict[str, Mapping[str, Any]] = {}

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        entry = self._decoded.get(name)
        if entry is None:
            raw = self._raw[name]
            entry = json.loads(raw) if isinstance(raw, str) else raw
            self._decoded[name] = entry
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def split_sections(text: str) -> dict[str, Any] | None:
    """Read the generator's layout without decoding the big sections.

    scripts/gen_directives.py writes each entry of the lazy sections on a line of its
    own (`"name":{...},`) and every other top-level key on one line. Returns None when
    the text is laid out differently, so the caller can decode it in full instead.
    """
    lines = text.splitlines()
    if not lines or lines[0] != "{" or lines[-1] != "}":
        return None
    result: dict[str, Any] = {}
    section: dict[str, str] | None = None
    for line in lines[1:-1]:
        if section is not None and line in ("}", "},"):
            section = None
            continue
        end = line.find('":')
        # Directive names are plain ASCII, so the key needs no JSON unescaping.
        if not line.startswith('"') or end < 1 or "\\" in line[:end]:
            return None
        key, value = line[1:end], line[end + 2 :].removesuffix(",")
        if section is not None:
            section[key] = value
        elif value == "{" and key in _LAZY_SECTIONS:
            section = result[key] = {}
        else:
            result[key] = json.loads(value)
    return result if section is None else None


class Directives:
    """The directive table; module-level functions use one shared, lazily loaded instance."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._directives = _LazyEntries(data["directives"])
        self._removed_before_1x = _LazyEntries(data.get("removed_before_1x", {}))
        self._doc_only = _LazyEntries(data.get("doc_only", {}))
        self._latest: str = data["latest"]
        self._versions: tuple[str, ...] = tuple(data["versions"])
        self._definitions: dict[str, tuple[Definition, ...]] = {}
        self._names_by_version: dict[Version | None, tuple[str, ...]] = {}

    @classmethod
    def from_text(cls, text: str) -> Directives:
        return cls(split_sections(text) or json.loads(text))

    @classmethod
    def load(cls) -> Directives:
        try:
            with open(os.path.join(os.path.dirname(__file__), "data", _DATA_FILE), encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, TypeError):  # no file next to the module (a zip install, no __file__)
            # importlib.resources pulls in pathlib, tempfile and zipfile: ~15 ms of every lint's start
            from importlib import resources

            package = __package__ or "nginx_502lint"
            text = resources.files(package).joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
        return cls.from_text(text)

    # -- versions ---------------------------------------------------------------

    def latest_version(self) -> str:
        return self._latest

    def versions(self) -> tuple[str, ...]:
        """Every release the table covers, oldest first."""
        return self._versions

    # -- definitions ------------------------------------------------------------

    def names(self, version: VersionLike = None) -> tuple[str, ...]:
        """Every directive name known in `version` (in some 1.x release for None), sorted."""
        wanted = _as_version(version)
        if wanted not in self._names_by_version:
            self._names_by_version[wanted] = tuple(
                name for name in sorted(self._directives) if wanted is None or self.known(name, wanted)
            )
        return self._names_by_version[wanted]

    def definitions(self, name: str, version: VersionLike = None) -> tuple[Definition, ...]:
        """The definitions present in `version` (all of them for None), newest first."""
        everything = self._definitions.get(name)
        if everything is None:
            everything = _build_definitions(name, self._directives[name]) if name in self._directives else ()
            self._definitions[name] = everything
        wanted = _as_version(version)
        if wanted is None:
            return everything
        return tuple(definition for definition in everything if definition.exists_in(wanted))

    def known(self, name: str, version: VersionLike = None) -> bool:
        return bool(self.definitions(name, version))

    def definition_for(self, name: str, context: str, version: VersionLike = None) -> Definition | None:
        """The definition nginx would use for `name` in a `context` block, or None if it rejects it."""
        wanted = _as_version(version)
        for definition in self.definitions(name, wanted):
            if definition.allows(context, wanted):
                return definition
        return None

    def allowed_contexts(self, name: str, version: VersionLike = None) -> set[str]:
        """Context names where nginx accepts `name`; `include` (NGX_ANY_CONF) gives all of them."""
        wanted = _as_version(version)
        allowed: set[str] = set()
        for definition in self.definitions(name, wanted):
            allowed |= definition.revision_at(wanted).contexts
        if ANY_CONTEXT in allowed:
            return set(CONTEXTS)
        return allowed

    def check_context(self, name: str, context: str, version: VersionLike = None) -> bool:
        return self.definition_for(name, context, version) is not None

    def arg_rule(self, name: str, context: str, version: VersionLike = None) -> ArgRule | None:
        wanted = _as_version(version)
        definition = self.definition_for(name, context, wanted)
        return None if definition is None else definition.revision_at(wanted).args

    def check_arg_count(self, name: str, context: str, n_args: int, version: VersionLike = None) -> bool | None:
        """None when `name` is not allowed in `context` (report that first)."""
        rule = self.arg_rule(name, context, version)
        return None if rule is None else rule.accepts(n_args)

    def check_flag_value(self, name: str, context: str, value: str, version: VersionLike = None) -> bool | None:
        """Whether an on/off directive got on or off (any case, like nginx); None if not on/off-valued."""
        definition = self.definition_for(name, context, version)
        if definition is None or definition.value != "flag":
            return None
        return value.lower() in _FLAG_VALUES

    def enum_values(self, name: str, context: str) -> tuple[str, ...]:
        """Keywords an enum/bitmask directive accepts in the newest release; () otherwise."""
        definition = self.definition_for(name, context)
        return () if definition is None else definition.values

    def is_block(self, name: str, context: str, version: VersionLike = None) -> bool | None:
        wanted = _as_version(version)
        definition = self.definition_for(name, context, wanted)
        return None if definition is None else definition.revision_at(wanted).block

    def has_custom_body(self, name: str) -> bool:
        """The block body is data for the module (map, geo, types, ...), not directives."""
        return any(definition.block_content == "custom" for definition in self.definitions(name))

    def is_obsolete(self, name: str) -> bool:
        """In the newest release nginx accepts `name` only to warn that it is ignored."""
        current = self.definitions(name, self._latest)
        return bool(current) and all(definition.obsolete for definition in current)

    # -- versions of one directive ----------------------------------------------

    def added_in(self, name: str) -> str | None:
        entry = self._entry_or_legacy(name)
        return None if entry is None else entry["added"]

    def removed_in(self, name: str) -> str | None:
        entry = self._entry_or_legacy(name)
        return None if entry is None else entry.get("removed")

    def context_since(self, name: str, context: str) -> str | None:
        """The release that first allowed `context`, if later than the directive itself."""
        entry = self._directives.get(name)
        return None if entry is None else entry.get("context_since", {}).get(context)

    def context_removed_in(self, name: str, context: str) -> str | None:
        """The release that stopped allowing `context` while the directive lived on."""
        entry = self._directives.get(name)
        return None if entry is None else entry.get("context_until", {}).get(context)

    def _entry_or_legacy(self, name: str) -> Mapping[str, Any] | None:
        return self._directives.get(name) or self._removed_before_1x.get(name)

    # -- values and inheritance -------------------------------------------------

    def is_array_directive(self, name: str) -> bool:
        """Repeatable, and a level that sets it drops every inherited value."""
        return any(definition.array for definition in self.definitions(name))

    def shared_array(self, name: str) -> frozenset[str]:
        """Directives whose values form one inherited array with `name` (allow/deny)."""
        if not self.is_array_directive(name):
            return frozenset()
        return _SHARED_ARRAYS.get(name, frozenset({name}))

    def default_text(self, name: str, context: str | None = None) -> str | None:
        """nginx.org's documented default (today's; older releases may differ)."""
        entry = self._directives.get(name)
        if entry is None:
            return None
        if context is not None:
            definition = self.definition_for(name, context)
            if definition is not None and definition.default is not None:
                return definition.default
        return entry.get("default")

    def value_kind(self, name: str, context: str, version: VersionLike = None) -> str | None:
        """flag, number, size, offset, time_ms, time_s, string, enum, ...; None for custom parsers."""
        definition = self.definition_for(name, context, version)
        return None if definition is None else definition.value

    # -- documentation ----------------------------------------------------------

    def doc_url(self, name: str, context: str | None = None) -> str:
        doc_module = self._doc_module(name, context)
        if doc_module is None:
            return _DOC_INDEX
        return f"{_DOC_BASE}{_doc_page(doc_module)}#{name}"

    def doc_only_info(self, name: str) -> str | None:
        """For names documented on nginx.org but in no open-source release: "NGINX Plus only", "njs module", ..."""
        entry = self._doc_only.get(name)
        return None if entry is None else entry["info"]

    def _doc_module(self, name: str, context: str | None) -> str | None:
        entry = self._directives.get(name)
        if entry is not None:
            if context is not None:
                definition = self.definition_for(name, context)
                if definition is not None and definition.doc_module is not None:
                    return definition.doc_module
            return entry.get("doc_module")
        doc_only = self._doc_only.get(name)
        return None if doc_only is None else doc_only["modules"][0]

    # -- did you mean -----------------------------------------------------------

    def suggest(
        self, name: str, limit: int = 3, version: VersionLike = None, context: str | None = None
    ) -> list[str]:
        """Known names close to a misspelt one, best first; same-family names rank higher.

        Candidates are the names of `version` (the newest release for None); with
        `context`, only names nginx accepts there, so a typo in a location is not
        "corrected" to a stream-only directive.
        """
        import difflib  # only needed when a config has an unknown directive

        wanted = name.strip().lower()
        if not wanted or limit <= 0:
            return []
        target = _as_version(version) if version is not None else parse_version(self._latest)
        family, _, member = wanted.partition("_")
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(wanted)
        scored: list[tuple[float, str]] = []
        for candidate in self._directives:
            if candidate == name:
                continue
            matcher.set_seq1(candidate)
            # The cheap upper bounds skip most of the ~700 names without a full comparison.
            if matcher.real_quick_ratio() < _SUGGEST_FLOOR or matcher.quick_ratio() < _SUGGEST_FLOOR:
                continue
            score = matcher.ratio()
            candidate_family, _, candidate_member = candidate.partition("_")
            if member and candidate_family == family:
                score += _SAME_FAMILY_BONUS
            elif member and candidate_member == member:
                score += _SAME_MEMBER_BONUS
            if score < _SUGGEST_CUTOFF:
                continue
            # Checked last: it decodes the candidate's entry, worth it only for close names.
            if context is None:
                fits = self.known(candidate, target)
            else:
                fits = self.check_context(candidate, context, target)
            if fits:
                scored.append((score, candidate))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [candidate for _, candidate in scored[:limit]]


def _doc_page(doc_module: str) -> str:
    for section in ("http", "stream", "mail"):
        if doc_module.startswith(f"ngx_{section}_"):
            return f"{section}/{doc_module}.html"
    return f"{doc_module}.html"


def _build_definitions(name: str, entry: Mapping[str, Any]) -> tuple[Definition, ...]:
    definitions = [_build_definition(name, item) for item in entry["defs"]]
    # Newest first, so a context matched by an old and a current definition resolves
    # to the current one (spdy_* moved from the spdy module to the v2 module).
    definitions.sort(key=_recency, reverse=True)
    return tuple(definitions)


def _recency(definition: Definition) -> tuple[bool, Version, Version]:
    return (definition.removed_version is None, definition.removed_version or (), definition.added_version)


def _build_definition(name: str, raw: Mapping[str, Any]) -> Definition:
    removed = raw.get("removed")
    return Definition(
        name=name,
        module=raw["module"],
        contexts=frozenset(raw["contexts"]),
        args=ArgRule.from_data(raw["args"]),
        block=bool(raw.get("block")),
        block_content=raw.get("block_content"),
        added=raw["added"],
        removed=removed,
        added_version=parse_version(raw["added"]),
        removed_version=None if removed is None else parse_version(removed),
        absent_in=tuple((parse_version(first), parse_version(last)) for first, last in raw.get("absent_in", ())),
        history=tuple(_build_revision(item) for item in raw.get("history", ())),
        value=raw.get("value"),
        values=tuple(raw.get("values", ())),
        default=raw.get("default"),
        doc_module=raw.get("doc_module"),
        optional_module=bool(raw.get("optional_module")),
        default_build=raw.get("default_build", True),
        requires=tuple(raw.get("requires", ())),
        obsolete=bool(raw.get("obsolete")),
        array=bool(raw.get("array")),
    )


def _build_revision(raw: Mapping[str, Any]) -> Revision:
    return Revision(
        since=parse_version(raw["since"]),
        contexts=frozenset(raw["contexts"]),
        args=ArgRule.from_data(raw["args"]),
        block=bool(raw.get("block")),
    )


@cache
def table() -> Directives:
    """The shared table, read from the package data on first use."""
    return Directives.load()


# Module-level shortcuts over the shared table -------------------------------


def latest_version() -> str:
    return table().latest_version()


def versions() -> tuple[str, ...]:
    return table().versions()


def names(version: VersionLike = None) -> tuple[str, ...]:
    return table().names(version)


def known(name: str, version: VersionLike = None) -> bool:
    return table().known(name, version)


def definitions(name: str, version: VersionLike = None) -> tuple[Definition, ...]:
    return table().definitions(name, version)


def definition_for(name: str, context: str, version: VersionLike = None) -> Definition | None:
    return table().definition_for(name, context, version)


def allowed_contexts(name: str, version: VersionLike = None) -> set[str]:
    return table().allowed_contexts(name, version)


def check_context(name: str, context: str, version: VersionLike = None) -> bool:
    return table().check_context(name, context, version)


def arg_rule(name: str, context: str, version: VersionLike = None) -> ArgRule | None:
    return table().arg_rule(name, context, version)


def check_arg_count(name: str, context: str, n_args: int, version: VersionLike = None) -> bool | None:
    return table().check_arg_count(name, context, n_args, version)


def check_flag_value(name: str, context: str, value: str, version: VersionLike = None) -> bool | None:
    return table().check_flag_value(name, context, value, version)


def enum_values(name: str, context: str) -> tuple[str, ...]:
    return table().enum_values(name, context)


def is_block(name: str, context: str, version: VersionLike = None) -> bool | None:
    return table().is_block(name, context, version)


def has_custom_body(name: str) -> bool:
    return table().has_custom_body(name)


def is_obsolete(name: str) -> bool:
    return table().is_obsolete(name)


def added_in(name: str) -> str | None:
    return table().added_in(name)


def removed_in(name: str) -> str | None:
    return table().removed_in(name)


def context_since(name: str, context: str) -> str | None:
    return table().context_since(name, context)


def context_removed_in(name: str, context: str) -> str | None:
    return table().context_removed_in(name, context)


def suggest(name: str, limit: int = 3, version: VersionLike = None, context: str | None = None) -> list[str]:
    return table().suggest(name, limit, version, context)


def is_array_directive(name: str) -> bool:
    return table().is_array_directive(name)


def shared_array(name: str) -> frozenset[str]:
    return table().shared_array(name)


def default_text(name: str, context: str | None = None) -> str | None:
    return table().default_text(name, context)


def value_kind(name: str, context: str, version: VersionLike = None) -> str | None:
    return table().value_kind(name, context, version)


def doc_url(name: str, context: str | None = None) -> str:
    return table().doc_url(name, context)


def doc_only_info(name: str) -> str | None:
    return table().doc_only_info(name)

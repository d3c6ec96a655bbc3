"""The file cannot be parsed as nginx configuration.

## What it does
Reports every place where the file is not valid nginx syntax: unbalanced
braces, a directive without its `;` (also one ended by `}`), an unterminated
quote, a UTF-8 byte order mark, UTF-16 or binary content, include loops,
includes of folders, FIFOs or devices, unreadable files, and nesting too deep
to analyse. The message always names the file and line.

## Why it causes 502/504
`nginx -t` refuses the file, so a reload keeps the old configuration (your
fix never ships) and a restart leaves nginx down. Worse for this linter: a
file that does not parse is **not analysed**, so no other rule can vouch for
it. It is never reported as clean.

## Example
```nginx
location /api {
    proxy_pass http://app
}
```

## Use instead
```nginx
location /api {
    proxy_pass http://app;
}
```

## When to ignore
Never: nginx would reject the file too. For a template that is rendered
before deployment (`${VARS}`, Jinja), lint the rendered output instead.
"""
from __future__ import annotations

from typing import Iterator

from nginx_502lint.engine import RuleContext
from nginx_502lint.findings import Fix

ID = "E001"
SLUG = "syntax-error"
SEVERITY = "error"
SUMMARY = "The file cannot be parsed (braces, missing ;, quotes, BOM, encoding, include loops); it is not analysed."
NEEDS = ("conf",)
OPTIONS = {"type": "object", "properties": {}}

_FIXES = (
    ("byte order mark", "Save the file as UTF-8 without BOM (e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' FILE`)."),
    ("UTF-16", "Convert the file to UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8`)."),
    ("NUL byte", "This is not a text config file: remove it from the include or restore the real file."),
    ('is not terminated by ";"', 'Add the missing ";" at the end of the directive before the "}".'),
    ("unexpected end of file", 'Close the open block with "}", or end the last directive with ";", or close the quote.'),
    ('unexpected "}"', 'Remove the extra "}" or open the block it closes.'),
    ("include loop", "Break the cycle: a file must not include itself, directly or through others."),
    ("Is a directory", 'Include the files inside the folder with a glob, e.g. `include conf.d/*.conf;`.'),
    ("not a regular file", "Include only regular files; FIFOs and devices would hang or flood nginx."),
    ("Permission denied", "Make the file readable by the user that runs nginx (and this linter)."),
    ("nested deeper", "Flatten the configuration; nothing this deep is needed in nginx."),
    ("Lua code", "Lint this file with the Lua block moved to a *_by_lua_file, or ignore E001 for it."),
)


def check(ctx: RuleContext) -> Iterator[None]:
    for problem in ctx.model.config.problems:
        if problem.rule != ID:
            continue
        advice = next((text for key, text in _FIXES if key in problem.message), "Correct the syntax until `nginx -t` accepts the file.")
        ctx.report(
            None,
            problem.message,
            file=problem.file,
            line=problem.line,
            mechanism="nginx -t rejects this, so a reload keeps the old config and a restart leaves nginx down.",
            fix=Fix(advice, applicability="display_only"),
            context="",
        )
    yield from ()

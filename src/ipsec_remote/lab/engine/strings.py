"""String literal decoding (about_Quoting_Rules, about_Special_Characters)."""

from __future__ import annotations

import re

_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unescape(text: str, doubled_quotes: bool = True) -> str:
    """Backtick escapes of a double-quoted string (`` `n ``, `` `$ ``...); ``""`` is one quote outside
    here-strings."""
    if "`" not in text and '""' not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if doubled_quotes and ch == '"' and text[i + 1 : i + 2] == '"':  # "" inside "..." is one quote
            out.append('"')
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_QUOTES = "'\u2018\u2019\u201a\u201b"
_DOUBLED_QUOTE = re.compile(f"[{_QUOTES}]([{_QUOTES}])")


def verbatim(text: str) -> str:
    """A single-quoted string or here-string's value: quotes stripped, '' is one quote."""
    if text.startswith("@'"):
        return _here_body(text)
    # PowerShell takes ' and the typographic quotes U+2018-U+201B alike: inside a single-quoted string
    # any two of them in a row stand for the second one (about_Quoting_Rules; the tokenizer's rule).
    return _DOUBLED_QUOTE.sub(r"\1", text[1:-1])


def _here_body(text: str) -> str:
    body = text[2:-2]
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]
    if body.endswith("\r\n"):
        body = body[:-2]
    elif body.endswith("\n"):
        body = body[:-1]
    return body

"""The hyperscan prefilter: one C pass over a whole buffer (many records, or a JSONL file as
it lies on disk) that flags the records the regex pass must read."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from forge.data.pii.patterns import Finding
from forge.data.pii.regex_scan import _scan_re

try:
    import hyperscan
except ImportError:  # no wheel for this platform (it is pinned for x86-64 Linux): use `re` alone
    hyperscan = None


# --- the prefilter -----------------------------------------------------------------------
# Most records hold nothing, and most of a record's time goes to Python, not to the regex.
# So a whole buffer (many records, or a JSONL file as it lies on disk) goes to hyperscan
# first, which reads it in C at GB/s and calls back only where one of these patterns ends;
# a record gets the regex pass (regex_scan.py) only if a match ends inside it. Each
# pattern is a necessary condition of some branch on the text of the finding alone (no
# context before or after), so wherever a branch can find something, one of them matches
# inside it, and the findings are exactly `scan`'s.
#
# They hold on a raw JSON line as on the decoded text: JSON escapes no character that a
# finding's text holds but a tab (`\t`) and a quote (`\"`; both allowed for, behind any
# number of backslashes, where a pattern needs them), a slash (`\/`) and whatever a writer
# spells `\u00XX`; a line with one of those last two is always scanned, as is one whose
# message content comes as parts (`{"type": "text", "text": ...}`, joined without a break).
# Findings never hold a line break (a private key's body may, but its `-----BEGIN ` is
# enough), so a finding lies inside one field and one line.
PREFILTER: tuple[str, ...] = (
    r"-----BEGIN ",  # private_key
    r"@[A-Za-z0-9]",  # email
    r"A(?:KIA|SIA|Iza)",  # aws_key, aiza
    r"Bearer(?:[ \t]|\\+t)",  # bearer_token
    r"sk-",  # api_token by vendor prefix
    r"glpat-",
    r"xox[abp]-",
    r"gh[pousr]_",
    r"github_",
    r"[sr]k_",
    r"hf_",
    # assign: a secret-like name (what `_SECRET_NAME` ends with), its quote, blanks, `:`/`=`
    r"(?i:key|token|secret|passw(?:or)?d)[\\\"']*(?:[ \t]|\\+t)*[:=]",
    r"[A-Z]{2}\d\d[A-Z0-9]{11}",  # iban, bare
    r"[A-Z]{2}\d\d [A-Z0-9]{4} [A-Z0-9]{4}",  # iban, grouped
    r":[0-9A-Fa-f]{0,4}:",  # ipv6: every address holds two colons at most 4 hex apart
    r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d",  # ipv4
    r"\d{3}[\- ]\d{2}[\- ]\d{4}",  # us_ssn
    r"\d{4}[ \-]\d{4}[ \-]\d{4}[ \-]\d{4}",  # credit_card, 4-4-4-4
    r"\d{4}[ \-]\d{6}[ \-]\d{4}",  # credit_card, 4-6-4
    r"\d{13}",  # credit_card, bare
    r"\+[1-9]",  # phone, international
    r"\d{3}[ .\-]\d{3}[ .\-]\d{4}",  # phone, North American
    r"\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}",
    r"\\u00[0-7]",  # JSON: an ASCII character spelled as an escape
    r"\\/",  # JSON: an escaped slash
    r"type[\\\"]*\s*:\s*[\\\"]*text",  # JSON: content as parts
)
# "hyperscan" where it is installed, else "re"; set it to "re" to force the plain regex pass.
_SEP = "\0"  # between records in one `scan_many` buffer; no pattern matches it
_hs: dict[str, Any] = {}
_local = threading.local()  # a scratch space per thread: hyperscan scans without the GIL


def _hs_db() -> Any:
    if "db" not in _hs:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(
            expressions=[pattern.encode() for pattern in PREFILTER],
            ids=list(range(len(PREFILTER))),
            elements=len(PREFILTER),
            flags=0,  # end offsets only: start-of-match tracking would cost speed
        )
        _hs["db"] = db
    return _hs["db"]


def _scan_hs(data: bytes, on_hit: Callable[[int, int, int, int, Any], Any]) -> None:
    db = _hs_db()
    scratch = getattr(_local, "scratch", None)
    if scratch is None:
        scratch = _local.scratch = hyperscan.Scratch(db)
    db.scan(data, on_hit, 0, None, scratch)


def flagged_lines(data: bytes) -> list[tuple[int, int]]:
    """The [start, end) byte spans (without the line break) of the lines of `data` in which
    a prefilter pattern matches, in order: every line of a JSONL buffer whose record holds
    a finding is among them. Needs hyperscan."""
    spans: list[tuple[int, int]] = []
    line_end = [-1]  # the end of the last flagged line: later hits inside it are skipped
    rfind, find, size = data.rfind, data.find, len(data)

    def on_hit(pattern: int, start: int, end: int, flags: int, context: Any) -> None:
        if end <= line_end[0]:
            return
        a = rfind(b"\n", 0, end - 1) + 1  # the match's last byte is at end - 1
        b = find(b"\n", end - 1)
        b = size if b < 0 else b
        spans.append((a, b))
        line_end[0] = b

    _scan_hs(data, on_hit)
    return spans


def _flag_into(data: bytes, first_line: int, out: set[int]) -> int:
    """Add the numbers of the flagged lines of `data` (its first line numbered
    `first_line`) to `out`; return the number of the line after `data`."""
    line, pos = first_line, 0
    for a, _ in flagged_lines(data):
        line += data.count(b"\n", pos, a)
        pos = a
        out.add(line)
    return line + data.count(b"\n", pos)


def _scan_batch(texts: Sequence[str]) -> list[list[Finding]]:
    out: list[list[Finding]] = [[] for _ in texts]
    # one byte per character (non-ASCII as `?`, which no pattern holds), so offsets agree
    starts = list(accumulate((len(t) + 1 for t in texts), initial=0))  # where each starts
    flagged: set[int] = set()

    def on_hit(pattern: int, start: int, end: int, flags: int, context: Any) -> None:
        flagged.add(bisect_right(starts, end - 1) - 1)  # the text holding the last byte

    _scan_hs(_SEP.join(texts).encode("ascii", "replace"), on_hit)
    for k in flagged:
        out[k] = _scan_re(texts[k])
    return out

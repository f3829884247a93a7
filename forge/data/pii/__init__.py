"""Find, count and redact personal data and secrets in text, in one regex pass per text.

    from forge.data.pii import scan, redact, PiiReport
    scan("mail jane@example.com")  # [Finding(kind='email', start=5, end=21, value=...)]

One compiled pattern holds every kind as a named group in a single alternation, so a text
is read once whatever the number of kinds; a validator runs only on each candidate the
pattern proposes (Luhn, mod-97, octet ranges, SSN rules, `ipaddress`, entropy). Callers
scan a whole record (its decoded fields joined) in one call, not one call per field.
Findings never overlap; where two kinds could start at one place, the first in the
pattern's order that validates wins.

Many records at once are faster through the hyperscan prefilter (see prefilter.py), which
reads a whole buffer in C and sends only the records it flags to the regex, with the same
findings: `scan_many(texts)`, `scan_jsonl(file_bytes, text_of)`, and `lines_to_scan(path)`
for a JSONL file (what `forge data scan`, `forge data study` and prepare skip by).

The package: patterns.py (the kinds, `Finding`, the one pattern), regex_scan.py (the
validators and the regex pass), prefilter.py (hyperscan), report.py (`PiiReport`, `mask`).
The entry points below live here, with the `ENGINE` switch they read.

What each kind accepts, and the look-alikes it refuses:
- email: `local@domain.tld` (ASCII); the local part neither starts nor ends with a dot.
- phone: `+` and a country code with 8-15 digits in all (`+44 20 7946 0958`,
  `+1 (415) 555-2671`, `+49 30 901820`), or the North American 3-3-4 shape with
  separators (`415-555-2671`, `(415) 555-2671`, `415.555.2671`) whose area code and
  exchange start with 2-9. Other national forms without `+` are not recognised; bare digit
  runs, dates (2024-01-15, 15/01/2024, 2024.01.15) and times never match.
- us_ssn: `AAA-GG-SSSS` (dashes or spaces); area 000, 666 and 900-999, group 00 and
  serial 0000 are refused, as are nine bare digits.
- credit_card: 13-19 digits, bare or grouped 4-4-4-4(-3) / 4-6-4(5) by one kind of
  separator, passing Luhn, first digit 2-6 (the major networks: Mastercard 2/5, Amex,
  Diners and JCB 3, Visa 4, Discover and UnionPay 6), so millisecond timestamps and order
  numbers starting 0, 1, 7-9 never match.
- ipv4: four dotted octets <= 255 without leading zeros, not part of a longer dotted
  run and not glued to a letter: `1.2.3.4` is an address (it is one), `v1.2.3.4`,
  `1.2.3.4.5` and `999.1.1.1` are not.
- ipv6: what `ipaddress.IPv6Address` parses, with a digit and at least two groups
  (`2001:db8::1`, `fe80::1ff:fe23:4567:890a`, `::ffff:192.0.2.1`); times (10:30:00), MAC
  addresses and `std::vector`-like text never parse, and `::1` is not personal.
- iban: a known country code with that country's length, mod-97 == 1, bare or in groups
  of four separated by single spaces (upper case).
- aws_key: access key ids, `AKIA`/`ASIA` + 16 upper-case letters or digits.
- bearer_token: `Bearer <token>` (capitalised, as clients send it; lower-case `bearer` is
  left to prose) with a token of >= 16 characters holding letters and digits; only the
  token is the finding (`Bearer [REDACTED:BEARER_TOKEN]`), without a full stop after it.
- api_token: well-known prefixes: OpenAI/Anthropic `sk-` (>= 20 more), GitHub `ghp_`,
  `gho_`, `ghu_`, `ghs_`, `ghr_` (36+) and `github_pat_`, Slack `xoxa-`/`xoxb-`/`xoxp-`,
  Stripe `sk_live_`/`rk_live_`/`sk_test_`, Hugging Face `hf_` (30+), GitLab `glpat-`, Google
  `AIza` (35); and assignments to a secret-like name (`api_key`, `apikey`, `access_token`,
  `auth_token`, `secret_key`, `client_secret`, `password`, `secret`, `token`, with `=` or
  `:`, optionally quoted, with prefixes such as `OPENAI_API_KEY`) whose value is >= 16
  characters of letters and digits with Shannon entropy >= 3 bits per character. Only the
  value is the finding. An assigned value that is itself an AWS key id counts as aws_key.
  Short passwords (`password: hunter2`) are not found: too many ordinary words look alike.
- private_key: `-----BEGIN [...] PRIVATE KEY[ BLOCK]-----` through its matching END line,
  whether lines end in real newlines or in literal `\\n` escapes; a block cut off before
  its END line is still taken up to the end of its base64 body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from forge.data.pii.patterns import PII_TYPES, Finding
from forge.data.pii.prefilter import _flag_into, _scan_batch, flagged_lines, hyperscan
from forge.data.pii.regex_scan import _scan_re, iban_checksum_ok
from forge.data.pii.report import PiiReport, mask

__all__ = [
    "ENGINE",
    "PII_TYPES",
    "Finding",
    "PiiReport",
    "flagged_lines",
    "iban_checksum_ok",
    "lines_to_scan",
    "mask",
    "redact",
    "scan",
    "scan_jsonl",
    "scan_many",
]

# "hyperscan" where it is installed, else "re"; set it to "re" to force the plain regex pass.
ENGINE = "hyperscan" if hyperscan is not None else "re"
_BATCH_CHARS = 1 << 22  # a prefilter call reads at most about this many characters
_CHUNK = 1 << 24  # bytes of a file read at a time


def lines_to_scan(path: Any) -> set[int] | None:
    """The (1-based) numbers of the lines of a JSONL file that may hold a finding, read in
    chunks of 16 MiB; the other lines hold none. None without hyperscan (scan every line)."""
    if ENGINE != "hyperscan":
        return None
    out: set[int] = set()
    first_line, rest = 1, b""
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            data, rest = data[:cut], data[cut:]
            first_line = _flag_into(data, first_line, out)
        _flag_into(rest, first_line, out)
    return out


def scan_jsonl(data: bytes, text_of: Callable[[bytes], str]) -> list[tuple[int, list[Finding]]]:
    """(byte offset of the line, its findings) for each line of the JSONL buffer `data`
    that holds a finding; `text_of(line)` turns a line into the text a record is scanned
    as (its fields, decoded and joined). Only flagged lines are decoded and scanned."""
    if ENGINE != "hyperscan":
        spans, pos = [], 0
        for line in data.split(b"\n"):
            spans.append((pos, pos + len(line)))
            pos += len(line) + 1
    else:
        spans = flagged_lines(data)
    out = []
    for a, b in spans:
        if data[a:b].strip() and (found := _scan_re(text_of(data[a:b]))):
            out.append((a, found))
    return out


def scan(text: str) -> list[Finding]:
    """Every validated finding in `text`, in order and non-overlapping, in one regex pass.

    One record alone goes to the regex: a hyperscan call costs about as much as the regex
    pass over a short row (measured on chat rows). Many records: `scan_many`, `scan_jsonl`."""
    return _scan_re(text)


def scan_many(texts: Sequence[str]) -> list[list[Finding]]:
    """`[scan(t) for t in texts]`, the same findings, with one prefilter call for many texts
    (joined): only the texts it flags go to the regex pass."""
    if ENGINE != "hyperscan":
        return [_scan_re(t) for t in texts]
    out: list[list[Finding]] = []
    lo, n = 0, len(texts)
    while lo < n:
        hi, size = lo, 0
        while hi < n and (hi == lo or size < _BATCH_CHARS):
            size += len(texts[hi]) + 1
            hi += 1
        out += _scan_batch(texts[lo:hi])
        lo = hi
    return out


def redact(text: str) -> tuple[str, list[Finding]]:
    """`text` with each finding replaced by `[REDACTED:<KIND>]`, and the findings (their
    offsets refer to the original text)."""
    findings = scan(text)
    if not findings:
        return text, findings
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f"[REDACTED:{f.kind.upper()}]")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts), findings

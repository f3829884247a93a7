"""Find, count and redact personal data and secrets in text, in one regex pass per text.

    from forge.data.pii import scan, redact, PiiReport
    scan("mail jane@example.com")  # [Finding(kind='email', start=5, end=21, value=...)]

One compiled pattern holds every kind as a named group in a single alternation, so a text
is read once whatever the number of kinds; a validator runs only on each candidate the
pattern proposes (Luhn, mod-97, octet ranges, SSN rules, `ipaddress`, entropy). Callers
scan a whole record (its decoded fields joined) in one call, not one call per field.
Findings never overlap; where two kinds could start at one place, the first in the
pattern's order that validates wins.

Many records at once are faster through the hyperscan prefilter (see PREFILTER), which
reads a whole buffer in C and sends only the records it flags to the regex, with the same
findings: `scan_many(texts)`, `scan_jsonl(file_bytes, text_of)`, and `lines_to_scan(path)`
for a JSONL file (what `forge data scan`, `forge data study` and prepare skip by).

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

import ipaddress
import math
import re
import string
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

try:
    import hyperscan
except ImportError:  # no wheel for this platform (it is pinned for x86-64 Linux): use `re` alone
    hyperscan = None

PII_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "us_ssn",
    "credit_card",
    "ipv4",
    "ipv6",
    "iban",
    "aws_key",
    "bearer_token",
    "api_token",
    "private_key",
)

SAMPLES_PER_KIND = 3


@dataclass(frozen=True, slots=True)
class Finding:
    """One validated match: its kind (one of PII_TYPES), span [start, end) and text."""

    kind: str
    start: int
    end: int
    value: str


# --- the pattern -------------------------------------------------------------------------
# Python's `re` is fast only when a pattern starts with a set of characters: it then skips
# in C to the next character of that set and tries the branches there alone. So every
# match starts at an anchor, one of ANCHORS (digits, `A`, `B` and `+ ( @ : = - _`), which
# the pattern consumes first; a lookbehind per group of branches then checks the anchor
# and what stands before it. Kinds whose text begins before their anchor (the email's local
# part before `@`, `sk` before `-`, an IBAN's country before its check digits, the hex
# digits before an IPv6 address's first digit or colon) are extended leftwards, never past
# the previous finding. A rare character set keeps the attempts few: about 2% of the
# characters of ordinary chat text.
#
# A branch is (name, kind, body). Its named group `name` holds the body, and a group
# `<name>_v` inside it narrows the finding to that part (the token after "Bearer ").
# Branch order matters only where two branches can start at the same anchor; a candidate
# its validator rejects is retried against the branches after it (see `_retry`).

ANCHORS = r"[0-9AB+(@:=\-_]"
_B = r"(?<![A-Za-z0-9])"  # a word starts here
_NUMBER = r"(?<![A-Za-z0-9.\-])\d"  # the anchor is a digit that starts a number
_DIGIT_END = r"(?![A-Za-z0-9]|[.\-]\d)"  # ...and the number does not go on
_HEX = r"0-9A-Fa-f"
_PEM = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

_BRANCHES: tuple[tuple[str, str, str], ...] = (
    (
        "private_key",
        "private_key",
        r"(?<=-)----BEGIN "
        + _PEM
        + r"(?:[\s\S]{0,16384}?-----END "
        + _PEM
        # cut off before its END line: take the base64 body, with real or escaped newlines
        + r"|(?:[A-Za-z0-9+/=:\- \t\r\n]|\\[nrt])*+)",
    ),
    (
        "email",
        "email",
        r"(?<=@)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
        r"(?![A-Za-z0-9\-])",
    ),
    ("aws_key", "aws_key", rf"(?<={_B}A)(?:KIA|SIA)[A-Z0-9]{{16}}(?![A-Za-z0-9])"),
    (
        "bearer_token",
        "bearer_token",
        rf"(?<={_B}B)earer[ \t]+(?P<bearer_token_v>[A-Za-z0-9\-._~+/]{{16,}}=*)",
    ),
    # API tokens by their vendor prefix: the anchor is the prefix's `-`, `_` or `A`.
    ("sk", "api_token", rf"(?<={_B}sk-)(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{{20,}}"),
    ("gh", "api_token", rf"(?<={_B}gh[pousr]_)[A-Za-z0-9]{{36,255}}"),
    ("github_pat", "api_token", rf"(?<={_B}github_)pat_[A-Za-z0-9_]{{22,255}}"),
    ("xox", "api_token", rf"(?<={_B}xox[abp]-)[A-Za-z0-9\-]{{10,}}"),
    ("stripe", "api_token", rf"(?<={_B}[sr]k_)(?:live|test)_[A-Za-z0-9]{{16,}}"),
    ("hf", "api_token", rf"(?<={_B}hf_)[A-Za-z0-9]{{30,}}"),
    ("glpat", "api_token", rf"(?<={_B}glpat-)[A-Za-z0-9_\-]{{20,}}"),
    ("aiza", "api_token", rf"(?<={_B}A)Iza[A-Za-z0-9_\-]{{35}}"),
    # `name = value` / `"name": "value"`: the anchor is `:` or `=`, the name is checked
    # leftwards by the validator.
    (
        "assign",
        "api_token",
        r"(?<=[:=])[ \t]*[\"']?(?P<assign_v>[A-Za-z0-9_\-./+=]{16,})",
    ),
    (
        "iban",
        "iban",
        r"\d(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}"
        r"(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])",
    ),
    (
        "ipv6",
        "ipv6",
        rf"(?:(?<=[{_HEX}])[{_HEX}]{{0,3}}+:[{_HEX}]{{0,4}}+|(?<=:)[{_HEX}]{{0,4}}+)"
        rf":[{_HEX}:.]*+",
    ),
    ("ipv4", "ipv4", r"\d{0,2}(?:\.\d{1,3}){3}" + _DIGIT_END),
    ("us_ssn", "us_ssn", r"\d{2}(?P<us_ssn_s>[- ])\d{2}(?P=us_ssn_s)\d{4}" + _DIGIT_END),
    (
        "credit_card",
        "credit_card",
        # not one group of a longer grouped number (an IBAN, an account number)
        r"(?<!\d[ \-]\d)"
        r"(?:\d{3}(?P<credit_card_s>[ \-])\d{4}(?P=credit_card_s)\d{4}"
        r"(?P=credit_card_s)\d{4}(?:(?P=credit_card_s)\d{3})?"
        r"|\d{3}(?P<credit_card_s2>[ \-])\d{6}(?P=credit_card_s2)\d{4,5}|\d{12,18})"
        + r"(?![A-Za-z0-9]|[.\- ]\d)",
    ),
    (
        "phone_intl",
        "phone",
        rf"(?<={_B}\+)[1-9]\d{{0,2}}(?:[ .\-]?(?:\(\d{{1,5}}\)|\d{{1,5}})){{1,6}}" + _DIGIT_END,
    ),
    (
        "phone_nanp",
        "phone",
        r"\d{2}(?P<phone_nanp_s>[ .\-])\d{3}(?P=phone_nanp_s)\d{4}" + _DIGIT_END,
    ),
    ("phone_paren", "phone", r"\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}" + _DIGIT_END),
)

# The anchor each branch starts at. Branches are tried in groups that share an anchor, so
# an attempt at a digit tries the digit branches alone after one lookbehind.
_ANCHOR = {
    "ipv4": _NUMBER,
    "us_ssn": _NUMBER,
    "credit_card": _NUMBER,
    "phone_nanp": _NUMBER,
    "ipv6": "[0-9:]",
    "assign": "[:=]",
    "iban": rf"(?<={_B}[A-Z]{{2}})\d",
    "aws_key": "A",
    "aiza": "A",
    "bearer_token": "B",
    "private_key": "-",
    "sk": "-",
    "xox": "-",
    "glpat": "-",
    "gh": "_",
    "github_pat": "_",
    "stripe": "_",
    "hf": "_",
    "email": "@",
    "phone_intl": r"\+",
    "phone_paren": r"\(",
}
_BODY = {name: body for name, _, body in _BRANCHES}
_KIND = {name: kind for name, kind, _ in _BRANCHES}
_GROUPS: dict[str, list[str]] = {}
for _name in _ANCHOR:
    _GROUPS.setdefault(_ANCHOR[_name], []).append(_name)
_ORDER = [name for names in _GROUPS.values() for name in names]  # the order tried
# The anchor characters each branch can start at, so a retry skips the others cheaply.
_STARTS = {
    name: {
        ch
        for ch in map(chr, range(128))
        if re.fullmatch(ANCHORS, ch)
        and any(re.search(rf"(?<={anchor})\Z", ctx + ch) for ctx in (" ", " AB"))
    }
    for name, anchor in _ANCHOR.items()
}


def _alternation(groups: dict[str, list[str]]) -> str:
    return "|".join(
        f"(?<={anchor})(?:" + "|".join(f"(?P<{n}>{_BODY[n]})" for n in names) + ")"
        for anchor, names in groups.items()
    )


# Two levels, so an anchor inside a long number fails after a handful of checks.
_NUMERIC = {a: names for a, names in _GROUPS.items() if _STARTS[names[0]] <= set("0123456789:=")}
_OTHER = {a: names for a, names in _GROUPS.items() if a not in _NUMERIC}
_PATTERN = re.compile(
    f"{ANCHORS}(?:(?<=[0-9:=])(?:{_alternation(_NUMERIC)})"
    f"|(?<=[^0-9:=])(?:{_alternation(_OTHER)}))",
    re.ASCII,
)
# The same branches one at a time, for the rare retry after a rejected candidate.
_SINGLE = {
    name: re.compile(rf"[\s\S](?<={_ANCHOR[name]})(?P<{name}>{body})", re.ASCII)
    for name, body in _BODY.items()
}
_LATER = {name: _ORDER[i + 1 :] for i, name in enumerate(_ORDER)}
# What must stand left of an anchor, ending at it (searched between `floor` and the anchor).
_SECRET_NAME = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_.\-])*"
    r"(?i:api[_\-]?key|access[_\-]?token|auth[_\-]?token|secret[_\-]?key|client[_\-]?secret"
    r"|password|passwd|secret|token)[\"']?[ \t]*\Z",
    re.ASCII,
)
_PREFIX = {"iban": 2, "sk": 2, "gh": 3, "github_pat": 6, "xox": 4, "stripe": 2, "hf": 2, "glpat": 5}
_NARROWED = {name for name, _, body in _BRANCHES if f"?P<{name}_v>" in body}
_AWS_KEY = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}", re.ASCII)
_VENDOR_TOKEN = re.compile(r"(?:sk|gh[pousr]|github|xox[abp]|[sr]k|hf|glpat)[\-_]|AIza", re.ASCII)


# --- validators: (text, anchor, end, floor) -> (start, end), or None to reject -----------


_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")  # 2d, minus 9 when over 9
_LOCAL_CHARS = string.ascii_letters + string.digits + "._%+-"
_HEXDIGITS = frozenset(string.hexdigits)
_NOT_DIGITS = {c: None for c in range(128) if not chr(c).isdigit()}  # ASCII text only


def _luhn(digits: str) -> bool:
    kept, doubled = digits[-1::-2], digits[-2::-2].translate(_LUHN_DOUBLE)
    return (sum(map(int, kept)) + sum(map(int, doubled))) % 10 == 0


Span = tuple[int, int] | None


def _email(text: str, a: int, end: int, floor: int) -> Span:
    lo = max(floor, a - 64)
    run = text[lo:a]
    cut = len(run.rstrip(_LOCAL_CHARS))
    if cut == 0 and lo > floor and text[lo - 1] in _LOCAL_CHARS:
        return None  # a local part longer than 64 characters
    local = run[cut:].lstrip("._%+-")  # it starts with a letter or digit
    if not local or local.endswith(".") or ".." in local:
        return None
    return (a - len(local), end)


def _phone_intl(text: str, a: int, end: int, floor: int) -> Span:
    n = sum(map(str.isdigit, text[a:end]))
    return (a, end) if 8 <= n <= 15 else None


def _phone_nanp(text: str, a: int, end: int, floor: int) -> Span:
    digits = text[a:end].translate(_NOT_DIGITS)
    return (a, end) if digits[0] not in "01" and digits[3] not in "01" else None


def _ssn(text: str, a: int, end: int, floor: int) -> Span:
    area, group, serial = text[a : a + 3], text[a + 4 : a + 6], text[a + 7 : a + 11]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return (a, end)


def _card(text: str, a: int, end: int, floor: int) -> Span:
    digits = text[a:end].replace(" ", "").replace("-", "")
    if digits[0] not in "23456":
        return None
    return (a, end) if _luhn(digits) else None


def _ipv4(text: str, a: int, end: int, floor: int) -> Span:
    for octet in text[a:end].split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return None
    return (a, end)


def _ipv6(text: str, a: int, end: int, floor: int) -> Span:
    while end > a and text[end - 1] in ".:" and not text[a:end].endswith("::"):
        end -= 1  # the full stop or colon after an address ends a sentence, not the address
    if end < len(text) and text[end].isalnum():
        return None
    start = a
    while start > max(floor, a - 4) and text[start - 1] in _HEXDIGITS:
        start -= 1  # the hex digits before the anchor belong to the first group
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in ":."):
        return None
    value = text[start:end]
    colons = value.count(":")
    if "::" not in value and colons != 7 and not (colons == 6 and "." in value):
        return None  # times (10:30:00) and MAC addresses end here, before `ipaddress`
    if not value.translate(_NOT_DIGITS) or len([g for g in value.split(":") if g]) < 2:
        return None
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return (start, end)


# IBAN length by country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    item[:2]: int(item[3:])
    for item in (
        "AD:24 AE:23 AL:28 AT:20 AZ:28 BA:20 BE:16 BG:22 BH:22 BI:27 BR:29 BY:28 CH:21 "
        "CR:22 CY:28 CZ:24 DE:22 DJ:27 DK:18 DO:28 EE:20 EG:29 ES:24 FI:18 FK:18 FO:18 "
        "FR:27 GB:22 GE:22 GI:23 GL:18 GR:27 GT:28 HN:28 HR:21 HU:28 IE:22 IL:23 IQ:23 "
        "IS:26 IT:27 JO:30 KW:30 KZ:20 LB:28 LC:32 LI:21 LT:20 LU:20 LV:21 LY:25 MC:27 "
        "MD:24 ME:22 MK:19 MN:20 MR:27 MT:31 MU:30 NI:28 NL:18 NO:15 OM:23 PK:24 PL:28 "
        "PS:29 PT:25 QA:29 RO:24 RS:22 RU:33 SA:24 SC:31 SD:18 SE:24 SI:19 SK:24 SM:27 "
        "SO:23 ST:25 SV:28 TL:23 TN:24 TR:26 UA:29 VA:22 VG:24 XK:20 YE:30"
    ).split()
}


_IBAN_DIGITS = {ord(c): str(int(c, 36)) for c in string.ascii_uppercase}  # A=10 ... Z=35


def iban_checksum_ok(iban: str) -> bool:
    """mod-97 of the IBAN with its first four characters moved to the end is 1."""
    return int((iban[4:] + iban[:4]).translate(_IBAN_DIGITS)) % 97 == 1


def _iban(text: str, a: int, end: int, floor: int) -> Span:
    compact = text[a:end].replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return None
    return (a, end) if iban_checksum_ok(compact) else None


def entropy(value: str) -> float:
    """Shannon entropy of `value` in bits per character."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _letters_and_digits(value: str) -> bool:
    return any(ch.isalpha() for ch in value) and any(ch.isdigit() for ch in value)


def _bearer(text: str, a: int, end: int, floor: int) -> Span:
    while text[end - 1] == "." and end - a > 16:
        end -= 1  # a full stop after the token ends the sentence, not the token
    return (a, end) if _letters_and_digits(text[a:end]) else None


def _assign(text: str, a: int, end: int, floor: int) -> Span:
    sep = a - 1  # a is the value's start; the name ends at the `:` or `=` before it
    while text[sep] not in ":=":
        sep -= 1
    if _SECRET_NAME.search(text, max(floor, sep - 64), sep) is None:
        return None
    while text[end - 1] == "." and end - a > 16:
        end -= 1  # a full stop after the value ends the sentence, not the value
    value = text[a:end]
    if _AWS_KEY.fullmatch(value) or _VENDOR_TOKEN.match(value):
        return (a, end)
    return (a, end) if _letters_and_digits(value) and entropy(value) >= 3.0 else None


def _fixed(text: str, a: int, end: int, floor: int) -> Span:
    return (a, end)


_VALIDATORS: dict[str, Callable[[str, int, int, int], Span]] = {
    "email": _email,
    "bearer_token": _bearer,
    "assign": _assign,
    "iban": _iban,
    "ipv6": _ipv6,
    "ipv4": _ipv4,
    "us_ssn": _ssn,
    "credit_card": _card,
    "phone_intl": _phone_intl,
    "phone_nanp": _phone_nanp,
    "phone_paren": _phone_nanp,
}


def _accept(text: str, m: re.Match[str], branch: str, floor: int) -> Finding | None:
    if branch in _NARROWED:
        a, end = m.span(branch + "_v")
    else:
        a, end = m.start() - _PREFIX.get(branch, 0), m.end()
    if a < floor:
        return None
    span = _VALIDATORS.get(branch, _fixed)(text, a, end, floor)
    if span is None:
        return None
    start, end = span
    kind = _KIND[branch]
    if branch == "assign" and _AWS_KEY.fullmatch(text[start:end]):
        kind = "aws_key"
    return Finding(kind, start, end, text[start:end])


def _retry(text: str, pos: int, failed: str, floor: int) -> Finding | None:
    """A candidate of branch `failed` at `pos` was rejected: try the later branches there."""
    for branch in _LATER_AT.get((failed, text[pos]), ()):
        m = _SINGLE[branch].match(text, pos)
        if m:
            found = _accept(text, m, branch, floor)
            if found:
                return found
    return None


# The later branches that can start at each anchor character, in the order tried.
_LATER_AT = {
    (name, ch): [b for b in _LATER[name] if ch in _STARTS[b]]
    for name in _ORDER
    for ch in set().union(*_STARTS.values())
}


def _step(text: str, m: re.Match[str], floor: int) -> tuple[Finding | None, int]:
    """The finding at the pattern's match `m` (None if every branch there is rejected) and
    where the scan goes on."""
    branch = m.lastgroup  # the branch: it encloses its inner groups, so it closes last
    found = _accept(text, m, branch, floor) or _retry(text, m.start(), branch, floor)
    if found is None:
        # no address starts inside a rejected hex-and-colon run: skip it whole
        return None, m.end() if branch == "ipv6" else m.start() + 1
    return found, max(found.end, m.start() + 1)


def _scan_re(text: str) -> list[Finding]:
    """The plain regex pass: search for the pattern from where the last match left off."""
    findings: list[Finding] = []
    pos = floor = 0
    search = _PATTERN.search
    while (m := search(text, pos)) is not None:
        found, pos = _step(text, m, floor)
        if found is not None:
            findings.append(found)
            floor = pos
    return findings


# --- the prefilter -----------------------------------------------------------------------
# Most records hold nothing, and most of a record's time goes to Python, not to the regex.
# So a whole buffer (many records, or a JSONL file as it lies on disk) goes to hyperscan
# first, which reads it in C at GB/s and calls back only where one of these patterns ends;
# a record gets the regex pass above only if a match ends inside it. Each pattern is a
# necessary condition of some branch on the text of the finding alone (no context before
# or after), so wherever a branch can find something, one of them matches inside it, and
# the findings are exactly `scan`'s.
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
ENGINE = "hyperscan" if hyperscan is not None else "re"
_SEP = "\0"  # between records in one `scan_many` buffer; no pattern matches it
_BATCH_CHARS = 1 << 22  # a prefilter call reads at most about this many characters
_CHUNK = 1 << 24  # bytes of a file read at a time
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


def _flag_into(data: bytes, first_line: int, out: set[int]) -> int:
    """Add the numbers of the flagged lines of `data` (its first line numbered
    `first_line`) to `out`; return the number of the line after `data`."""
    line, pos = first_line, 0
    for a, _ in flagged_lines(data):
        line += data.count(b"\n", pos, a)
        pos = a
        out.add(line)
    return line + data.count(b"\n", pos)


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


# --- masking for report samples ----------------------------------------------------------


def _stars(s: str, keep_last: int = 0) -> str:
    """Every letter and digit of `s` but the last `keep_last` of them as '*'."""
    total = sum(ch.isalnum() for ch in s)
    out, seen = [], 0
    for ch in s:
        if ch.isalnum():
            seen += 1
            out.append(ch if seen > total - keep_last else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask(kind: str, value: str) -> str:
    """A hint of `value` for a report that never reveals it: `j***@e***.com`,
    `****-****-****-1111`, `AKIA****************`."""
    if kind == "email":
        local, _, domain = value.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{host[:1]}***.{tld}"
    if kind in ("credit_card", "us_ssn"):
        return _stars(value, keep_last=4)
    if kind == "phone":
        return _stars(value, keep_last=2)
    if kind == "ipv4":
        first = value.split(".", 1)[0]
        return f"{first}.***.***.***"
    if kind == "ipv6":
        return value.split(":", 1)[0] + ":****:****"
    if kind == "iban":
        return value[:2] + _stars(value[2:], keep_last=2)
    if kind == "private_key":
        header = value.split("-----", 2)[1] if value.count("-----") >= 2 else "PRIVATE KEY"
        return f"-----{header}----- [{len(value)} chars]"
    keep = min(4, len(value) // 4)
    return value[:keep] + "*" * (len(value) - keep)


class PiiReport:
    """Counts and masked samples of the findings in many records.

    report = PiiReport()
    for n, line in enumerate(lines, 1):
        report.add(line, f"data/raw/x.jsonl:{n}")
    report.to_dict()
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.records_with_pii = 0
        self.samples: dict[str, list[dict[str, str]]] = {kind: [] for kind in PII_TYPES}

    def add(self, text: str, where: str) -> list[Finding]:
        """Scan one record's text; `where` (file:line) is kept with up to 3 samples a kind."""
        findings = scan(text)
        self._count(findings, where)
        return findings

    def add_many(self, records: Iterable[tuple[str, str]]) -> list[list[Finding]]:
        """`[self.add(text, where) for text, where in records]`, scanned in one `scan_many`
        call: the same counts, samples and findings, faster on many short records."""
        records = list(records)
        found = scan_many([text for text, _ in records])
        for findings, (_, where) in zip(found, records, strict=True):
            self._count(findings, where)
        return found

    def _count(self, findings: list[Finding], where: str) -> None:
        if findings:
            self.records_with_pii += 1
        for f in findings:
            self.counts[f.kind] += 1
            kept = self.samples[f.kind]
            if len(kept) < SAMPLES_PER_KIND:
                kept.append({"kind": f.kind, "where": where, "masked": mask(f.kind, f.value)})

    def merge(self, other: PiiReport) -> None:
        """Add `other`'s counts and records; keep samples up to 3 a kind, ours first."""
        self.counts.update(other.counts)
        self.records_with_pii += other.records_with_pii
        for kind in PII_TYPES:
            room = SAMPLES_PER_KIND - len(self.samples[kind])
            self.samples[kind].extend(other.samples[kind][: max(room, 0)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {kind: self.counts[kind] for kind in PII_TYPES},
            "total": self.total,
            "records_with_pii": self.records_with_pii,
            "samples": [s for kind in PII_TYPES for s in self.samples[kind]],
        }

"""The regex pass: the pattern's candidates, each validated (Luhn, mod-97, octet ranges,
SSN rules, `ipaddress`, entropy) and retried against the later branches when refused."""

from __future__ import annotations

import ipaddress
import math
import re
import string
from collections import Counter
from collections.abc import Callable

from forge.data.pii.patterns import (
    _AWS_KEY,
    _KIND,
    _LATER,
    _NARROWED,
    _ORDER,
    _PATTERN,
    _PREFIX,
    _SECRET_NAME,
    _SINGLE,
    _STARTS,
    _VENDOR_TOKEN,
    Finding,
)

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

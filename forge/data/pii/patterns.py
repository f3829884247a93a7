"""The kinds of finding and the one compiled pattern that proposes candidates for all of
them (the validators that accept or refuse each candidate are in regex_scan.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# its validator rejects is retried against the branches after it (`_retry`, regex_scan.py).

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

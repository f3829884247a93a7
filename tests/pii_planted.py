"""A seeded set of short chat rows with known personal data, secrets and look-alikes.

    python -m tests.pii_planted out.jsonl [--rows N] [--seed S] [--density D]  # repo root

`generate()` plants values of every kind in PII_TYPES into prompt/completion and
chat-messages rows, adds look-alikes that must not match (dates, versions, invalid cards,
SSNs and IBANs, order numbers, timestamps, MAC addresses, UUIDs, prose about bearers and
tokens), and returns the exact count and values expected per kind. The tests use it for
exact counts and redaction; `benchmarks/pii_scan.py` for throughput, recall and precision.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge.data.pii import PII_TYPES, iban_checksum_ok

FIRST = ["jane", "john", "maria", "li", "omar", "sofia", "ken", "ada", "raj", "elena"]
LAST = ["doe", "smith", "garcia", "chen", "haddad", "rossi", "tanaka", "lovelace", "patel"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.net", "test.io"]
FILLER = [
    "Thanks for reaching out, happy to help with that.",
    "Could you walk me through the steps again?",
    "Note: the support team replies within one business day.",
    "Sure. First open the settings page, then choose Account.",
    "I tried that already and it did not work.",
    "Please summarise the conversation so far in plain words.",
    "The Monday release notes mention a new export option.",
    "Reverse the letters of the word below and answer with the result.",
    "What is the capital of France? Paris is the answer.",
    "Let me check the ticket history before I answer.",
    "Our Terms of Service were updated last quarter.",
    "Write a haiku about autumn rain on a tin roof.",
]
PROMPTS = [
    "Can you update my account? {v}",
    "Here are my details for the refund: {v}",
    "Please check why this fails: {v}",
    "I pasted the config below.\n{v}\nWhat is wrong with it?",
    "My colleague said to send this to support: {v}.",
]
ANSWERS = [
    "Thanks, I have noted {v} on the ticket.",
    "Got it: {v}. The change should show up shortly.",
    "I would not share {v} in a chat; please rotate it.",
]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _alnum(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def luhn_complete(partial: str) -> str:
    """`partial` plus the check digit that makes it pass Luhn."""
    for d in string.digits:
        total = 0
        for i, ch in enumerate(reversed(partial + d)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return partial + d
    raise AssertionError("unreachable")


def _card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("65", 16),
            ("4", 13),
        ]
    )
    return luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))


def _group_card(digits: str, sep: str) -> str:
    if len(digits) == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def card(rng: random.Random) -> str:
    digits = _card_digits(rng)
    style = rng.choice(["", " ", "-"])
    return digits if not style or len(digits) == 13 else _group_card(digits, style)


def email(rng: random.Random) -> str:
    local = rng.choice(
        [
            f"{rng.choice(FIRST)}.{rng.choice(LAST)}",
            f"{rng.choice(FIRST)}{rng.randint(1, 99)}",
            f"{rng.choice(FIRST)}+support",
            f"{rng.choice(FIRST)}_{rng.choice(LAST)}",
        ]
    )
    return f"{local}@{rng.choice(DOMAINS)}"


def _nanp(rng: random.Random) -> tuple[str, str, str]:
    return str(rng.randint(200, 999)), str(rng.randint(200, 999)), _digits(rng, 4)


def phone(rng: random.Random) -> str:
    a, e, s = _nanp(rng)
    return rng.choice(
        [
            f"+44 20 7946 {_digits(rng, 4)}",
            f"+1 ({a}) {e}-{s}",
            f"{a}-{e}-{s}",
            f"({a}) {e}-{s}",
            f"{a}.{e}.{s}",
            f"+49 30 {_digits(rng, 6)}",
            f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
            f"+91 98{_digits(rng, 3)} {_digits(rng, 5)}",
            f"+1-{a}-{e}-{s}",
        ]
    )


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    sep = rng.choice("-- ")
    return f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"


def ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def ipv6(rng: random.Random) -> str:
    while True:
        kind = rng.randrange(3)
        if kind == 0:
            addr = ipaddress.IPv6Address(rng.getrandbits(128))
        elif kind == 1:
            addr = ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(16))
        else:
            addr = ipaddress.IPv6Address((0xFE80 << 112) | rng.getrandbits(64))
        text = addr.compressed
        if any(c.isdigit() for c in text) and sum(1 for g in text.split(":") if g) >= 2:
            return text


IBAN_BBAN = {
    "DE": "n" * 18,
    "GB": "aaaa" + "n" * 14,
    "FR": "n" * 23,
    "NL": "aaaa" + "n" * 10,
    "ES": "n" * 20,
    "IT": "a" + "n" * 22,
    "CH": "n" * 17,
    "BE": "n" * 12,
}


def iban_with_check(country: str, bban: str) -> str:
    """`country` + the two check digits that make `bban` a valid IBAN + `bban`."""
    num = int("".join(str(int(ch, 36)) for ch in bban + country + "00"))
    return f"{country}{98 - num % 97:02d}{bban}"


def iban(rng: random.Random, *, valid: bool = True) -> str:
    country = rng.choice(sorted(IBAN_BBAN))
    bban = "".join(
        rng.choice(string.ascii_uppercase) if c == "a" else rng.choice(string.digits)
        for c in IBAN_BBAN[country]
    )
    code = iban_with_check(country, bban)
    if not valid:
        check = int(code[2:4])
        code = f"{code[:2]}{(check + rng.randint(1, 90) - 2) % 97 + 2:02d}{code[4:]}"
        assert not iban_checksum_ok(code)
    if rng.random() < 0.5:
        code = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    return code


def aws_key(rng: random.Random) -> str:
    return rng.choice(["AKIA", "ASIA"]) + _alnum(rng, 16, string.ascii_uppercase + "234567")


def bearer_token(rng: random.Random) -> str:
    b64 = string.ascii_letters + string.digits + "-_"
    return "eyJ" + _alnum(rng, rng.randint(20, 36), b64) + "." + _alnum(rng, 24, b64)


def api_token(rng: random.Random) -> tuple[str, str]:
    """(the text to plant, the value the scanner must report)."""
    kind = rng.randrange(10)
    if kind == 0:
        v = "sk-proj-" + _alnum(rng, 40)
    elif kind == 1:
        v = "ghp_" + _alnum(rng, 36)
    elif kind == 2:
        v = "github_pat_" + _alnum(rng, 22) + "_" + _alnum(rng, 59)
    elif kind == 3:
        v = f"xoxb-{_digits(rng, 11)}-{_digits(rng, 12)}-{_alnum(rng, 24)}"
    elif kind == 4:
        v = "hf_" + _alnum(rng, 34)
    elif kind == 5:
        v = "sk_live_" + _alnum(rng, 24)
    elif kind == 6:
        v = "glpat-" + _alnum(rng, 20)
    elif kind == 7:
        v = "AIza" + _alnum(rng, 35)
    elif kind == 8:
        v = _alnum(rng, 32)
        return f"OPENAI_API_KEY={v}", v
    else:
        v = _alnum(rng, 40)
        return f'{{"client_secret": "{v}"}}', v
    return v, v


def private_key(rng: random.Random) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    b64 = string.ascii_letters + string.digits + "+/"
    lines = ["".join(rng.choice(b64) for _ in range(64)) for _ in range(rng.randint(3, 6))]
    nl = rng.choice(["\n", "\\n"])  # a real newline, or a literal \n escape inside JSON text
    return nl.join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


def _plant(rng: random.Random, kind: str) -> tuple[str, str]:
    """(text to put in a row, the value the scanner must report) for one `kind`."""
    if kind == "api_token":
        return api_token(rng)
    if kind == "bearer_token":
        v = bearer_token(rng)
        return f"Authorization: Bearer {v}", v
    makers: dict[str, Callable[[random.Random], str]] = {
        "email": email,
        "phone": phone,
        "us_ssn": ssn,
        "credit_card": card,
        "ipv4": ipv4,
        "ipv6": ipv6,
        "iban": iban,
        "aws_key": aws_key,
        "private_key": private_key,
    }
    v = makers[kind](rng)
    return v, v


def lookalike(rng: random.Random) -> str:
    """One string shaped like personal data or a secret that is neither."""
    bad_card = _card_digits(rng)
    bad_card = bad_card[:-1] + str((int(bad_card[-1]) + rng.randint(1, 9)) % 10)
    return rng.choice(
        [
            bad_card,
            _group_card(bad_card, " ") if len(bad_card) > 13 else bad_card,
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2024",
            f"2024.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}",
            f"2024-01-15T{rng.randint(0, 23):02d}:30:00Z",
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            f"17{_digits(rng, 11)}",  # a millisecond timestamp
            f"{rng.randint(256, 999)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1",
            f"v{rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
            f"1.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
            f"version {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
            f"000-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            f"666-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            f"9{_digits(rng, 2)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            f"{rng.randint(100, 665)}-00-{rng.randint(1000, 9999)}",
            f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-0000",
            iban(rng, valid=False),
            f"ORD-2024-{_digits(rng, 6)}",
            f"#A-{_digits(rng, 5)}-{_digits(rng, 2)}",
            f"order {rng.randint(100000000, 199999999)}",
            f"INV-{_digits(rng, 4)}-{_digits(rng, 4)}",
            f"123-{_digits(rng, 3)}-{_digits(rng, 4)}",  # area code 123 is not a phone
            "00:1A:2B:3C:4D:5E",
            "123e4567-e89b-12d3-a456-426614174000",
            "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
            "std::vector<int>",
            "ISBN 978-3-16-148410-0",
            "$1,234,567.89",
            "the bearer of bad news",
            "token: short",
            "pip install sk-learn",
            "api_key=changeme",
            "AKIA1234",
            "password: hunter2",
        ]
    )


@dataclass
class PlantedSet:
    """Rows and exactly what a scan of them must find."""

    rows: list[dict[str, Any]]
    expected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PII_TYPES, 0))
    values: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in PII_TYPES})
    lookalikes: list[str] = field(default_factory=list)
    row_values: list[list[tuple[str, str]]] = field(default_factory=list)  # (kind, value)

    @property
    def total(self) -> int:
        return sum(self.expected.values())


def row_text(row: dict[str, Any]) -> str:
    """A row's fields joined into one text, the way callers scan a whole record at once."""
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"])
    return row["prompt"] + "\n" + row["completion"]


def generate(n_rows: int = 300, *, seed: int = 0, density: float = 1.0) -> PlantedSet:
    """`n_rows` chat rows; a `density` share of them carries planted values (kinds in turn,
    every fifth such row two of them) and a look-alike, the rest are plain chat."""
    rng = random.Random(seed)
    out = PlantedSet(rows=[])
    turn = 0
    for i in range(n_rows):
        user, assistant = rng.choice(FILLER), rng.choice(FILLER)
        out.row_values.append([])
        if rng.random() < density:
            plants = []
            for _ in range(2 if i % 5 == 0 else 1):
                kind = PII_TYPES[turn % len(PII_TYPES)]
                turn += 1
                text, value = _plant(rng, kind)
                out.expected[kind] += 1
                out.values[kind].append(value)
                out.row_values[-1].append((kind, value))
                plants.append(text)
            fake = lookalike(rng)
            out.lookalikes.append(fake)
            user = rng.choice(PROMPTS).format(v=plants[0]) + f" (ref {fake})"
            if len(plants) > 1:
                assistant = rng.choice(ANSWERS).format(v=plants[1])
        if rng.random() < 0.5:
            row: dict[str, Any] = {"prompt": user, "completion": assistant}
        else:
            row = {
                "messages": [
                    {"role": "system", "content": "You are a helpful support assistant."},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant},
                ]
            }
        out.rows.append(row)
    return out


def write_jsonl(rows: list[dict[str, Any]], path: Path) -> int:
    """Write one JSON object per line; returns the bytes written."""
    data = "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")
    Path(path).write_bytes(data)
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="JSONL file to write")
    parser.add_argument("--rows", type=int, default=300, help="number of rows")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--density", type=float, default=1.0, help="share of rows with PII")
    args = parser.parse_args()
    planted = generate(args.rows, seed=args.seed, density=args.density)
    size = write_jsonl(planted.rows, args.out)
    print(json.dumps({"rows": len(planted.rows), "bytes": size, "expected": planted.expected}))


if __name__ == "__main__":
    main()

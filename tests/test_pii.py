"""PII scanner: exact counts on a planted set, look-alikes refused, redaction, masking."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from forge.data import pii
from forge.data.pii import PII_TYPES, Finding, PiiReport, mask, redact, scan
from tests.pii_planted import generate, iban_with_check, luhn_complete, row_text


@pytest.fixture(scope="module")
def planted():
    return generate(300, seed=0)


def kinds(text: str) -> list[str]:
    return [f.kind for f in scan(text)]


def values(text: str) -> list[str]:
    return [f.value for f in scan(text)]


# --- the planted set ---------------------------------------------------------------------


def test_planted_set_is_large_and_covers_every_kind(planted):
    assert planted.total >= 200
    assert all(planted.expected[k] >= 15 for k in PII_TYPES), planted.expected
    assert {"prompt", "completion"} <= set(planted.rows[0]) or "messages" in planted.rows[0]
    assert any("messages" in r for r in planted.rows)
    assert any("prompt" in r for r in planted.rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_count_and_values_of_every_kind(seed):
    ps = generate(300, seed=seed)
    found: dict[str, Counter[str]] = {k: Counter() for k in PII_TYPES}
    for row in ps.rows:
        for f in scan(row_text(row)):
            found[f.kind][f.value] += 1
    assert {k: sum(c.values()) for k, c in found.items()} == ps.expected
    for kind in PII_TYPES:
        assert found[kind] == Counter(ps.values[kind]), kind


def test_no_lookalike_matches(planted):
    assert len(set(planted.lookalikes)) >= 25
    for text in planted.lookalikes:
        assert scan(text) == [], text


def test_redaction_removes_every_planted_value(planted):
    for row in planted.rows:
        text = row_text(row)
        clean, findings = redact(text)
        assert scan(clean) == []
        for f in findings:
            assert f.value not in clean
    everything = "\n".join(redact(row_text(r))[0] for r in planted.rows)
    for kind in PII_TYPES:
        for value in planted.values[kind]:
            assert value not in everything, (kind, value)
    assert everything.count("[REDACTED:") == planted.total


def test_report_counts_samples_and_masks(planted):
    report = PiiReport()
    for n, row in enumerate(planted.rows, 1):
        report.add(row_text(row), f"data/raw/planted.jsonl:{n}")
    d = report.to_dict()
    assert d["counts"] == planted.expected
    assert d["total"] == planted.total
    assert d["records_with_pii"] == len(planted.rows)  # density 1.0: every row has PII
    assert set(d) == {"counts", "total", "records_with_pii", "samples"}
    per_kind = Counter(s["kind"] for s in d["samples"])
    assert per_kind == dict.fromkeys(PII_TYPES, 3)
    planted_values = [v for k in PII_TYPES for v in planted.values[k]]
    for s in d["samples"]:
        assert s["where"].startswith("data/raw/planted.jsonl:")
        assert "*" in s["masked"] or "chars]" in s["masked"]
        for v in planted_values:
            assert v not in s["masked"]
    json.dumps(d)  # plain data


def test_mask_never_reveals_the_value(planted):
    for kind in PII_TYPES:
        for v in planted.values[kind]:
            m = mask(kind, v)
            assert v not in m and m != v, (kind, v, m)
    assert mask("email", "jane.doe@example.com") == "j***@e***.com"
    assert mask("credit_card", "4111-1111-1111-1111") == "****-****-****-1111"
    assert mask("aws_key", "AKIAIOSFODNN7EXAMPLE") == "AKIA****************"


def test_report_merge_and_records():
    a, b = PiiReport(), PiiReport()
    a.add("mail jane@example.com", "a.jsonl:1")
    a.add("nothing here", "a.jsonl:2")
    for i in range(4):
        b.add(f"mail user{i}@example.com, card 4111 1111 1111 1111", f"b.jsonl:{i + 1}")
    a.merge(b)
    d = a.to_dict()
    assert d["counts"]["email"] == 5 and d["counts"]["credit_card"] == 4
    assert d["total"] == 9 and d["records_with_pii"] == 5
    emails = [s for s in d["samples"] if s["kind"] == "email"]
    assert [s["where"] for s in emails] == ["a.jsonl:1", "b.jsonl:1", "b.jsonl:2"]
    assert set(d["counts"]) == set(PII_TYPES)
    assert PiiReport().to_dict() == {
        "counts": dict.fromkeys(PII_TYPES, 0),
        "total": 0,
        "records_with_pii": 0,
        "samples": [],
    }


# --- each kind, with its edge cases -------------------------------------------------------


def test_findings_are_ordered_spans_of_the_text():
    text = "a@b.co then 123-45-6789 then 10.0.0.1"
    found = scan(text)
    assert found == [
        Finding("email", 0, 6, "a@b.co"),
        Finding("us_ssn", 12, 23, "123-45-6789"),
        Finding("ipv4", 29, 37, "10.0.0.1"),
    ]
    assert all(text[f.start : f.end] == f.value for f in found)


def test_email():
    assert values("write to jane.doe+tag@mail.example.co.uk.") == [
        "jane.doe+tag@mail.example.co.uk"
    ]
    assert values("<Ann_Lee@corp.io>") == ["Ann_Lee@corp.io"]
    assert kinds("user@localhost, a@b, @example.com, jane..doe@x.com") == []
    assert kinds("git@github.com:owner/repo") == ["email"]


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0958",
        "+1 (415) 555-2671",
        "415-555-2671",
        "(415) 555-2671",
        "415.555.2671",
        "415 555 2671",
        "+49 30 901820",
        "+33 1 23 45 67 89",
        "+1-415-555-2671",
    ],
)
def test_phone(text):
    assert scan(f"call {text} today") == [Finding("phone", 5, 5 + len(text), text)]


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15",
        "15/01/2024",
        "2024.01.15",
        "123-456-7890",  # area code starts with 1
        "415-155-2671",  # exchange starts with 1
        "4155552671",  # bare digits
        "+12 345",  # too short
        "+1234567890123456",  # longer than E.164
        "10:30:45",
        "415-555-2671-99",
    ],
)
def test_not_phone(text):
    assert kinds(f"ref {text} ok") == []


def test_us_ssn():
    assert values("ssn 123-45-6789, 078 05 1120") == ["123-45-6789", "078 05 1120"]
    for bad in ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567",
                "123-45-0000", "123456789", "123-45 6789", "1123-45-6789"]:  # fmt: skip
        assert kinds(f"ssn {bad}.") == [], bad


def test_credit_card():
    for good in ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004",
                 "378282246310005", "3782 822463 10005", "6011111111111117",
                 "4222222222222", "2221000000000009"]:  # fmt: skip
        assert scan(f"card {good} ok") == [Finding("credit_card", 5, 5 + len(good), good)], good
    for bad in ["4111111111111112", "4111 1111 1111 1112", "1234567812345670",  # Luhn / prefix
                "1700000000000", "0000000000000000", "4111 1111-1111 1111",  # mixed separators
                "4111 1111 1111 1111 2222", "12 4111 1111 1111 1111"]:  # fmt: skip
        assert "credit_card" not in kinds(f"card {bad} ok"), bad
    assert kinds(luhn_complete("453201511283036")) == ["credit_card"]


def test_ipv4():
    assert values("from 192.168.0.1, 8.8.8.8 and 255.255.255.255.") == [
        "192.168.0.1",
        "8.8.8.8",
        "255.255.255.255",
    ]
    assert values("version 1.2.3.4") == ["1.2.3.4"]  # a dotted quad is an address
    for bad in ["999.1.1.1", "256.1.1.1", "v1.2.3.4", "1.2.3.4.5", "1.2.3", "01.02.03.04",
                "2024.01.15.10", "10.0.0.1a"]:  # fmt: skip
        assert kinds(f"x {bad} y") == [], bad


def test_ipv6():
    for good in ["2001:db8::1", "fe80::1ff:fe23:4567:890a", "::ffff:192.0.2.1",
                 "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "abcd:ef01::2"]:  # fmt: skip
        assert scan(f"host {good}.") == [Finding("ipv6", 5, 5 + len(good), good)], good
    for bad in ["10:30:00", "00:1A:2B:3C:4D:5E", "std::vector", "::1", "12:34", "1:2:3",
                "2001:db8:::1", "a::b"]:  # fmt: skip
        assert kinds(f"x {bad} y") == [], bad


def test_iban():
    assert values("pay DE89 3704 0044 0532 0130 00 or GB82WEST12345698765432.") == [
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
    ]
    assert iban_with_check("DE", "370400440532013000") == "DE89370400440532013000"
    for bad in ["DE88 3704 0044 0532 0130 00", "DE89370400440532013001",
                "XX89370400440532013000", "DE8937040044053201300"]:  # fmt: skip
        assert kinds(f"pay {bad} now") == [], bad


def test_aws_key():
    assert values("key AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A") == [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
    ]
    assert kinds("AKIA1234 AKIAIOSFODNN7EXAMPLEX XAKIAIOSFODNN7EXAMPLE akiaiosfodnn7example") == []
    assert kinds('aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"') == ["aws_key"]


def test_bearer_token():
    text = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.sig_1234."
    (f,) = scan(text)
    assert f.kind == "bearer_token" and f.value == "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.sig_1234"
    assert redact(text)[0] == "Authorization: Bearer [REDACTED:BEARER_TOKEN]."
    assert kinds("the bearer of bad news; Bearer abcdefghijklmnopqrstu (no digit)") == []


@pytest.mark.parametrize(
    "token",
    [
        "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz012345",
        "sk-ant-api03-Ab3dEfGh1jKlMnOpQrStUvWxYz",
        "ghp_Ab3dEfGh1jKlMnOpQrStUvWxYz0123456789",
        "github_pat_11ABCDEFG0abcdefghijkl_Ab3dEfGh1jKlMnOpQrStUvWxYz0123",
        "xoxb-123456789012-123456789012-Ab3dEfGh1jKl",
        "hf_Ab3dEfGh1jKlMnOpQrStUvWxYz01234567",
        "sk_live_Ab3dEfGh1jKlMnOpQrSt",
        "glpat-Ab3dEfGh1jKlMnOpQrSt",
        "AIzaSyAb3dEfGh1jKlMnOpQrStUvWxYz0123456",
    ],
)
def test_vendor_api_tokens(token):
    assert scan(f"use {token} here") == [Finding("api_token", 4, 4 + len(token), token)]


def test_secret_assignments():
    assert values("OPENAI_API_KEY=q8Zx2Lm9Pw4Rt7Yk3Nv6") == ["q8Zx2Lm9Pw4Rt7Yk3Nv6"]
    assert values('{"client_secret": "Zq8x2Lm9Pw4Rt7Yk3Nv6Ab"}') == ["Zq8x2Lm9Pw4Rt7Yk3Nv6Ab"]
    assert values("x-api-key: 7f3a9c2e1b8d4f6a0c5e") == ["7f3a9c2e1b8d4f6a0c5e"]
    assert values("token: sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz012345") == [
        "sk-proj-Ab3dEfGh1jKlMnOpQrStUvWxYz012345"
    ]
    for bad in ["api_key=changeme", "token: short", "password: hunter2",
                "token=aaaaaaaaaaaaaaaaaaaaaaaa1", "tokenizer: abcdefgh12345678abcd",
                "secret=/usr/local/share/keys/x", "pip install sk-learn",
                "task-abcdefghijklmnopqrstuvwxyz12"]:  # fmt: skip
        assert kinds(bad) == [], bad


@pytest.mark.parametrize("newline", ["\n", "\\n", "\r\n"])
def test_private_key_blocks(newline):
    body = newline.join(["MIIEowIBAAKCAQEAx4Ubk3" * 3, "qZ9vT0aB+/Yw==" * 4])
    block = newline.join(["-----BEGIN RSA PRIVATE KEY-----", body, "-----END RSA PRIVATE KEY-----"])
    text = f'{{"content": "my key: {block} thanks"}}'
    (f,) = scan(text)
    assert f.kind == "private_key" and f.value == block
    assert redact(text)[0] == '{"content": "my key: [REDACTED:PRIVATE_KEY] thanks"}'
    # cut off before its END line, it still counts (up to the end of its base64 body)
    cut = f"-----BEGIN OPENSSH PRIVATE KEY-----{newline}{body}"
    assert [g.value for g in scan(cut + '"}')] == [cut]
    assert kinds("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----") == []


def test_retry_after_rejected_candidate_and_boundaries():
    # the IBAN branch rejects "AB12 ..." (no such country); nothing else may start inside it
    assert kinds("AB12 4111 1111 1111 1111") == []
    # adjacent findings do not swallow each other
    assert kinds("jane@example.com,415-555-2671;10.0.0.1") == ["email", "phone", "ipv4"]
    assert scan("") == [] and redact("plain") == ("plain", [])


# --- the hyperscan prefilter gives what the plain regex pass gives -----------------------

_PIECES = [
    "sk-", "sk-proj-", "ghp_", "github_pat_", "github_", "xoxb-", "sk_live_", "rk_test_", "hf_",
    "glpat-", "AIza", "AKIA", "ASIA", "Bearer ", "Bearer\t", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "-----BEGIN ", "api_key", "API_KEY=", "password: ",
    "token=", "secret:        ", '"client_secret": "', "::", ":", "=", "DE89", "GB82", "@",
    ".com", "+1", "+44 ", "(415) ", "415-555-", "192.168.", "fe80::", "::ffff:", "2001:db8:",
    "é", "€", "中", "🙂", "\n", "\\n", "\t", " ", "-", ".", "_", "/", "+", "(", ")", '"', "'",
]  # fmt: skip


def _fuzz_text(rng) -> str:
    import string

    from tests import pii_planted

    parts = []
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        if r < 0.3:
            parts.append(rng.choice(_PIECES))
        elif r < 0.5:
            parts.append("".join(rng.choices(string.digits, k=rng.randint(1, 20))))
        elif r < 0.62:
            parts.append(
                "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 40)))
            )
        elif r < 0.7:
            parts.append("".join(rng.choices("0123456789abcdefABCDEF:.", k=rng.randint(1, 30))))
        elif r < 0.8:
            parts.append(rng.choice(" -.:=/_()+@\"'\t\n"))
        elif r < 0.9:
            parts.append(pii_planted._plant(rng, rng.choice(PII_TYPES))[0])
        else:
            parts.append(pii_planted.lookalike(rng))
    return "".join(parts)


needs_hyperscan = pytest.mark.skipif(pii.ENGINE != "hyperscan", reason="hyperscan not installed")


@needs_hyperscan
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("density", [0.05, 0.3, 1.0])
def test_prefilter_finds_what_the_regex_pass_finds_on_planted_sets(seed, density):
    texts = [row_text(r) for r in generate(300, seed=100 + seed, density=density).rows]
    expected = [pii._scan_re(t) for t in texts]
    assert [scan(t) for t in texts] == expected
    assert pii.scan_many(texts) == expected


@needs_hyperscan
def test_prefilter_finds_what_the_regex_pass_finds_on_fuzz_text():
    import random

    rng = random.Random(2024)
    texts = [_fuzz_text(rng) for _ in range(3000)]
    expected = [pii._scan_re(t) for t in texts]
    assert sum(map(len, expected)) > 1000  # the fuzz text does hold findings of every kind
    assert {f.kind for fs in expected for f in fs} == set(PII_TYPES)
    assert [scan(t) for t in texts] == expected
    assert pii.scan_many(texts) == expected
    assert pii.scan_many([]) == [] and pii.scan_many(["", ""]) == [[], []]


def _escape_ascii(line: str, rng) -> str:
    """A JSON line with some ASCII characters of its strings spelled as `\\u00XX` and its
    slashes as `\\/`, as some writers do: the same records once decoded."""
    out, in_string, i = [], False, 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":  # an escape already there: keep it whole
            n = 6 if line[i + 1] == "u" else 2
            out.append(line[i : i + n])
            i += n
            continue
        if ch == '"':
            in_string = not in_string
        elif in_string and ch == "/":
            ch = "\\/"
        elif in_string and ch.isascii() and rng.random() < 0.05:
            ch = f"\\u{ord(ch):04x}"
        out.append(ch)
        i += 1
    return "".join(out)


def _fuzz_jsonl(seed: int, rows: int = 2000) -> tuple[bytes, list[dict]]:
    """Fuzz records as JSONL in several spellings (ASCII-only or UTF-8, escaped slashes and
    characters, content as parts, messages as a JSON string, CRLF line ends, blank lines),
    and the record on each line (None for a blank one)."""
    import random

    rng = random.Random(seed)
    lines, records = [], []
    for n in range(rows):
        if n % 97 == 0:
            lines.append("")
            records.append(None)
            continue
        fields = [_fuzz_text(rng) for _ in range(rng.randint(1, 3))]
        messages = [{"role": "user", "content": f} for f in fields]
        if rng.random() < 0.1:  # content as parts, joined without a break
            cut = rng.randint(0, len(fields[0]))
            parts = [fields[0][:cut], fields[0][cut:]]
            messages[0]["content"] = [{"type": "text", "text": t} for t in parts]
        row = {"messages": messages}
        if rng.random() < 0.1:  # the messages as JSON text (read by formats._maybe_json)
            row = {"messages": json.dumps(messages, ensure_ascii=rng.random() < 0.5)}
        line = json.dumps(row, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.3:
            line = _escape_ascii(line, rng)
        assert json.loads(line) == row
        lines.append(line + ("\r" if n % 7 == 0 else ""))
        records.append(row)
    return "\n".join(lines).encode("utf-8"), records


def _views(row: dict | None) -> list[str]:
    """The texts a record is scanned as: every string joined (forge data scan, study), and
    its messages' contents joined (prepare)."""
    from forge.data.formats import _chat, texts

    if row is None:
        return []
    contents = [m["content"] for m in _chat(row["messages"], "fuzz:1", "messages")]
    return ["\n".join(texts(row)), "\n".join(contents)]


def _text_of(line: bytes) -> str:
    return _views(json.loads(line))[0]


@needs_hyperscan
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_jsonl_line_holding_a_finding_is_flagged(seed, tmp_path, monkeypatch):
    data, records = _fuzz_jsonl(seed)
    holding = {n for n, row in enumerate(records) if any(map(pii._scan_re, _views(row)))}
    expected = [(n, pii._scan_re(_views(row)[0])) for n, row in enumerate(records) if row]
    expected = [(n, found) for n, found in expected if found]
    assert len(expected) > 500 and {f.kind for _, fs in expected for f in fs} == set(PII_TYPES)
    offsets = [0]
    for line in data.split(b"\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    got = pii.scan_jsonl(data, _text_of)
    assert [(offsets.index(a), found) for a, found in got] == expected
    assert len(pii.flagged_lines(data)) < len(records)  # it does skip lines
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(pii, "_CHUNK", 4096)  # many chunks, lines cut across them
    flagged = pii.lines_to_scan(path)
    assert {n + 1 for n in holding} <= flagged
    monkeypatch.setattr(pii, "_CHUNK", 1 << 24)
    assert pii.lines_to_scan(path) == flagged


@needs_hyperscan
def test_jsonl_spellings_that_hide_a_finding_are_still_flagged(tmp_path):
    """Each of these lines holds a finding that none of its JSON strings shows whole."""
    card = luhn_complete("41111111111111")  # 16 digits, no pattern matches either half
    secret = "token\t= Zx9QvB7wL2mK8pR4tY6u"
    quoted = '"api_key": "Zx9QvB7wL2mK8pR4tY6u"'
    records = [
        {"messages": [{"role": "user", "content": "plain words"}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "card " + card[:8]},
                        {"type": "text", "text": card[8:]},
                    ],
                }
            ]
        },  # fmt: skip
        {"messages": json.dumps([{"role": "user", "content": secret}])},
        {"messages": json.dumps([{"role": "user", "content": quoted}])},
        {"messages": [{"role": "user", "content": "mail jane\u0040example.com"}]},
    ]
    lines = [json.dumps(r) for r in records]
    lines[4] = lines[4].replace("@", "\\u0040")
    assert [json.loads(x) for x in lines] == records
    kinds = [[f.kind for t in _views(r) for f in pii._scan_re(t)] for r in records]
    assert kinds[0] == [] and all(kinds[1:]), kinds
    assert "credit_card" in kinds[1] and {"api_token"} <= set(kinds[2]) & set(kinds[3])
    path = tmp_path / "hidden.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert pii.lines_to_scan(path) == {2, 3, 4, 5}


def test_scan_jsonl_without_hyperscan_scans_every_line(monkeypatch):
    data, texts = _fuzz_jsonl(5, rows=300)
    fast = pii.scan_jsonl(data, _text_of)
    monkeypatch.setattr(pii, "ENGINE", "re")
    assert pii.scan_jsonl(data, _text_of) == fast
    assert pii.lines_to_scan("unused.jsonl") is None


def test_report_add_many_equals_add(planted, monkeypatch):
    rows = [(row_text(r), f"x.jsonl:{n}") for n, r in enumerate(planted.rows, 1)]
    one, many = PiiReport(), PiiReport()
    found = [one.add(text, where) for text, where in rows]
    assert many.add_many(rows) == found
    assert many.to_dict() == one.to_dict()
    monkeypatch.setattr(pii, "ENGINE", "re")  # the plain path, as without hyperscan
    assert pii.scan_many([t for t, _ in rows]) == found and scan(rows[0][0]) == found[0]

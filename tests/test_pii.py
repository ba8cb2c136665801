"""PII redaction: each type's positive and negative cases, boundaries, counts, the step, and
precision/recall floors on the shared labelled PII files (bench/eval_pii.py measures them)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import doc_batch
from heitu.data.steps.base import STEP_TYPES
from heitu.data.steps.pii import (
    PII_TYPES,
    PiiRedact,
    PiiRedactParams,
    Redactor,
    cn_id_valid,
    count_column,
    luhn_valid,
    redact,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

VALID_ID = "360426199101010071"  # python-stdnum's cn_ric doctest
VALID_ID_X = "44011320141005001X"
VALID_CARD = "4532276644577020"  # presidio's generated data


def only(text: str) -> dict[str, int]:
    """Counts that are not zero."""
    return {k: v for k, v in redact(text)[1].items() if v}


# ------------------------------------------------------------------------------- checksums


def test_cn_id_checksum():
    assert cn_id_valid(VALID_ID)
    assert cn_id_valid(VALID_ID_X) and cn_id_valid(VALID_ID_X.lower())
    assert not cn_id_valid("36042619910102009X")  # bad check character
    assert not cn_id_valid("360426199113010079")  # month 13
    assert not cn_id_valid("990426199112010074")  # no province 99
    assert not cn_id_valid("T60426199101010078")


def test_luhn():
    assert luhn_valid("49927398716") and luhn_valid(VALID_CARD)
    assert not luhn_valid("49927398717") and not luhn_valid("") and not luhn_valid("12a4")


# ------------------------------------------------------------------------------- e-mail


def test_email():
    text = "联系 a.b+tag@mail.example.co.uk 或 13800138000@qq.com。"
    out, counts = redact(text)
    assert out == "联系 <EMAIL> 或 <EMAIL>。"
    assert counts["email"] == 2 and counts["phone"] == 0  # the QQ mail is one e-mail, not a phone


def test_email_negatives():
    for text in ["user@localhost", "@handle", "a@b", "price 5@10.00"]:
        assert only(text) == {}, text


# ------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "number",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 13800138000",
        "86-138-0013-8000",
        "(+86) 138 0013 8000",
        "010-12345678",
        "(0755)12345678",
        "0755-1234567",
        "075588886666",
        "+86 10 12345678",
        "+86-755-8888-6666",
        "+44 20 7946 0958",
        "+1 (415) 555-2671",
        "+1-944-435-4352x04732",
        "+49.30.901820",
        "0044 20 7946 0958",
    ],
)
def test_phone_positive(number):
    for ctx in ("{}", "电话：{}，谢谢", "Call me at {}.", "({})"):
        text = ctx.format(number)
        out, counts = redact(text)
        assert counts["phone"] == 1, text
        assert out == ctx.format("<PHONE>"), text


@pytest.mark.parametrize(
    "text",
    [
        "12800138000",  # no mobile prefix 12x
        "138001380001",  # 12 digits: inside a longer run
        "913800138000",
        "Tel13800138000x",  # glued to letters
        "订单号 2023110513800138000",
        "+12 345",  # too short for E.164
        "3.14159265358",
        "v2.13800138000",
        "0100 0011 0010 1111 1111 0000",  # binary nibbles
        "2023-11-05 12:30:45",
    ],
)
def test_phone_negative(text):
    assert "phone" not in only(text), text


# ------------------------------------------------------------------------------- ID numbers


def test_id_cn_positive_and_text_preserved():
    text = f"身份证号码：{VALID_ID}，另一个 {VALID_ID_X.lower()}。"
    out, counts = redact(text)
    assert out == "身份证号码：<ID_CN>，另一个 <ID_CN>。"
    assert counts["id_cn"] == 2 and counts["bank_card"] == 0 and counts["phone"] == 0


def test_id_cn_grouped():
    assert redact("ID: 360426 19910101 0071.")[0] == "ID: <ID_CN>."


@pytest.mark.parametrize(
    "text",
    [
        "36042619910102009X",  # invalid checksum
        "360426199101010072",  # invalid checksum
        "360426199113010079",  # month 13
        "36042619910230007" + "10X98765432"[
            sum(int(c) * w for c, w in zip("36042619910230007", (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))) % 11
        ],  # 30 February, with a valid check character
        "36042620990101007" + "10X98765432"[
            sum(int(c) * w for c, w in zip("36042620990101007", (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2))) % 11
        ],  # born in 2099 (future)
        "990426199112010074",  # province 99
        "1360426199101010071",  # valid ID inside a 19-digit run
        "A360426199101010071",
    ],
)
def test_id_cn_negative(text):
    assert "id_cn" not in only(text), text


def test_valid_id_is_not_also_a_bank_card():
    # 18 digits; make sure it would pass Luhn too, so priority decides.
    ids = [v for v in _generate_ids(2000) if luhn_valid(v)]
    assert ids, "no Luhn-valid ID generated"
    for v in ids[:50]:
        out, counts = redact(f"号码{v}")
        assert out == "号码<ID_CN>"
        assert counts["id_cn"] == 1 and counts["bank_card"] == 0


def _generate_ids(n: int) -> list[str]:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    out = []
    for i in range(n):
        body = f"110105{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        out.append(body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11])
    return out


# ------------------------------------------------------------------------------- bank cards


@pytest.mark.parametrize(
    "card",
    [VALID_CARD, "4532 2766 4457 7020", "4532-2766-4457-7020", "378282246310005", "3782 822463 10005",
     "6222021234567890128", "4222222222222"],
)
def test_bank_card_positive(card):
    assert luhn_valid("".join(c for c in card if c.isdigit()))
    text = f"卡号：{card}，请核对"
    out, counts = redact(text)
    assert out == "卡号：<BANK_CARD>，请核对"
    assert counts == {"email": 0, "phone": 0, "id_cn": 0, "bank_card": 1, "ip": 0}


@pytest.mark.parametrize(
    "text",
    [
        "4532276644577021",  # 16 digits, Luhn fails
        "4532 2766 4457 7021",
        VALID_CARD + "2",  # inside a longer run (17 digits, Luhn fails as a whole)
        "9780786478071",  # ISBN-13, Luhn-valid by chance
        "1699999999999",  # millisecond timestamp
        "IMG_4532276644577020",
        "3.4532276644577020",
    ],
)
def test_bank_card_negative(text):
    assert "bank_card" not in only(text), text


# ------------------------------------------------------------------------------- IPs


def test_ip_positive():
    text = "from 192.168.1.1, [2001:db8::1]:8080 and fe80::1ff:fe23:4567:890a; ::ffff:192.0.2.1."
    out, counts = redact(text)
    assert out == "from <IP>, [<IP>]:8080 and <IP>; <IP>."
    assert counts["ip"] == 4


@pytest.mark.parametrize(
    "text",
    ["999.1.1.1", "1.2.3.4.5", "256.0.0.1", "std::vector<int>", "a[1::2]", "12:30:45", "00:1A:2B:3C:4D:5E", "::1",
     "v1.2.3.4"],
)
def test_ip_negative(text):
    assert "ip" not in only(text), text


# ------------------------------------------------------------------------------- API


def test_counts_and_text_around_matches_preserved():
    text = "A: x@y.com; B: +86 138 0013 8000; C: 10.0.0.1\nD: " + VALID_CARD + " E: " + VALID_ID + "!"
    out, counts = redact(text)
    assert out == "A: <EMAIL>; B: <PHONE>; C: <IP>\nD: <BANK_CARD> E: <ID_CN>!"
    assert counts == {"email": 1, "phone": 1, "id_cn": 1, "bank_card": 1, "ip": 1}
    assert redact("nothing here") == ("nothing here", dict.fromkeys(PII_TYPES, 0))
    assert redact("") == ("", dict.fromkeys(PII_TYPES, 0))


def test_redact_is_idempotent():
    text = "mail x@y.com, phone 13800138000, ip 8.8.8.8"
    once, _ = redact(text)
    assert redact(once) == (once, dict.fromkeys(PII_TYPES, 0))


def test_redactor_selected_types_only():
    r = Redactor(types=["email"])
    out, counts = r.redact("x@y.com 13800138000")
    assert out == "<EMAIL> 13800138000"
    assert counts == {"email": 1}
    with pytest.raises(ValueError):
        Redactor(types=["ssn"])


def test_find_spans():
    text = "call 13800138000 now"
    (m,) = Redactor().find(text)
    assert (m.start, m.end, m.type, m.value) == (5, 16, "phone", "13800138000")


# ------------------------------------------------------------------------------- the step


def test_step_registered_and_columns():
    assert STEP_TYPES["pii_redact"] is PiiRedact
    assert PiiRedact("p").output_columns() == [
        "pii_email_count_v1",
        "pii_phone_count_v1",
        "pii_id_cn_count_v1",
        "pii_bank_card_count_v1",
        "pii_ip_count_v1",
    ]
    with pytest.raises(Exception):
        PiiRedactParams(types=["ssn"])
    with pytest.raises(Exception):
        PiiRedactParams(typo=True)


def test_step_transform():
    step = PiiRedact("pii")
    cache = {"words": "stale"}
    out = step.transform(doc_batch(["a@b.com 和 c@d.org", "无", "电话 13800138000 ip 1.2.3.4"]), cache)
    assert out.column("text").to_pylist() == ["<EMAIL> 和 <EMAIL>", "无", "电话 <PHONE> ip <IP>"]
    assert out.column(count_column("email")).to_pylist() == [2, 0, 0]
    assert out.column(count_column("phone")).to_pylist() == [0, 0, 1]
    assert out.column(count_column("ip")).to_pylist() == [0, 0, 1]
    assert out.column(count_column("id_cn")).to_pylist() == [0, 0, 0]
    for t in PII_TYPES:
        assert out.schema.field(count_column(t)).type == pa.int32()
    assert cache == {}


def test_step_selected_types_and_cache_kept_when_unchanged():
    step = PiiRedact("pii", PiiRedactParams(types=["ip"]))
    cache = {"words": "kept"}
    out = step.transform(doc_batch(["x@y.com 13800138000"]), cache)
    assert out.column("text").to_pylist() == ["x@y.com 13800138000"]
    assert out.column(count_column("email")).to_pylist() == [0]
    assert cache == {"words": "kept"}


# ------------------------------------------------------------------------------- shared data


@pytest.fixture(scope="module")
def eval_pii():
    spec = importlib.util.spec_from_file_location("eval_pii", REPO_ROOT / "bench" / "eval_pii.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_presidio_precision_recall_floors(shared_data, eval_pii):
    res = eval_pii.eval_presidio(shared_data / "pii" / "presidio_generated_small.jsonl")
    # Measured 1.0 precision for every type, recall email/card/ip 1.0 and phone 0.3 (7 of the 10
    # gold phones are national formats of other countries without + or 00: out of scope).
    for t in ("email", "bank_card", "ip", "phone"):
        assert res[t]["precision"] >= 0.9, (t, res[t])
    for t in ("email", "bank_card", "ip"):
        assert res[t]["recall"] >= 0.9, (t, res[t])
    assert res["phone"]["recall"] >= 0.3, res["phone"]
    assert res["id_cn"]["tp"] + res["id_cn"]["fp"] == 0  # no Chinese IDs in English text


def test_stdnum_precision_recall_floors(shared_data, eval_pii):
    d = shared_data / "pii"
    res = eval_pii.eval_stdnum(d / "stdnum_identifier_validation_cases.jsonl", d / "presidio_generated_small.jsonl")
    assert res["id_cn"]["recall"] >= 0.9 and res["id_cn"]["precision"] >= 0.95, res["id_cn"]
    assert res["bank_card"]["recall"] >= 0.85 and res["bank_card"]["precision"] >= 0.95, res["bank_card"]
    for t in ("id_cn", "bank_card"):  # every single-digit error / transposition that breaks a checksum
        assert res[t]["mutants"] > 100 and res[t]["mutants_accepted"] == 0, res[t]
    for name, row in res["validators"].items():
        assert row["precision"] == 1.0 and row["recall"] == 1.0, (name, row)
        assert not math.isnan(row["precision"])

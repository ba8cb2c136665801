"""PII redaction: e-mail addresses, phone numbers, Chinese resident ID numbers, bank card numbers
and IP addresses are replaced by typed placeholders.

API (no pipeline needed)::

    redact("电话 138-0013-8000") -> ("电话 <PHONE>", {"email": 0, "phone": 1, ...})
    Redactor(types=["email", "ip"]).redact(text)
    Redactor().find(text) -> [PiiMatch(start, end, type, value), ...]

Step type ``pii_redact`` rewrites ``text`` and adds per-document counts
``pii_<type>_count_v1`` (int32) for each of the five types.

What is detected (all patterns are ASCII; run ``normalize`` first so full-width digits count):

- ``email``     — ``local@domain.tld`` (ASCII local part and domain, TLD of 2+ letters).
- ``phone``     — Chinese mobile numbers ``1[3-9]x xxxx xxxx`` (11 digits, optionally grouped
  3-4-4 by spaces or dashes, optionally prefixed by ``+86``/``0086``/``86``/``(+86)``); Chinese
  landlines: area code ``010``/``02x``/``0xxx`` (optionally in parentheses, then optional dash or
  space) + 7-8 digits, optionally prefixed by ``+86``; international numbers in E.164 style: ``+``
  and 8-15 digits with spaces, dots, dashes or a parenthesised group between digits
  (``+44 20 7946 0958``, ``+1 (415) 555-2671``; when more digit groups follow, the longest
  prefix of at most 15 digits), or after the international call prefix ``00`` when the digits
  are grouped (``0044 20 7946 0958``; not 0/1-only "binary" groups). An extension (``x123``,
  ``ext. 12``, ``转123``) is part of the match. National formats of other countries without
  ``+``/``00`` (``(415) 555-2671``, ``(07) 5331 0577``) are out of scope: without a country
  they cannot be told from other numbers.
- ``id_cn``     — 18-character resident ID numbers (17 digits + digit or ``X``; 6-8-4 grouping
  with spaces accepted) whose ISO 7064 MOD 11-2 check character holds, whose first two digits are
  a province code and whose birth date (digits 7-14) is a real date between 1900 and today.
- ``bank_card`` — 13-19 digits, contiguous or in groups of 4 (last group 1-4 digits) or the
  4-6-5 Amex grouping, separated by single spaces or dashes; the first digit must be one card
  networks issue for that length (13: 4, 14-15: 3, 16: 2-6/9, 17-19: 4-6/9 — this keeps
  millisecond timestamps, ISBN-13s, IMEIs and phone numbers out), and the Luhn checksum holds.
- ``ip``        — IPv4 (four 0-255 octets without leading zeros; ``999.1.1.1`` is not one) and
  IPv6 (validated by ``ipaddress``; at least two hex groups, one decimal digit, and a group of 3+
  characters when there are only two, so ``std::``, ``a::b`` and ``x[1::2]`` in code are not
  addresses, nor is ``::1``; MAC addresses and times fail validation).

Boundaries: a number is only taken whole — a candidate must not touch an ASCII letter, digit or
``_`` on either side (``Tel13800138000`` and digits inside longer digit runs are left alone; CJK
characters are fine neighbours, ``号码13800138000`` is found), nor continue a decimal number
(``3.14159265358979`` is not a card).

Priority (a later type never takes characters an earlier one matched): email (so QQ mail
``13800138000@qq.com`` stays one e-mail) > IP (IPv6, then IPv4) > ID number (so a valid 18-digit
ID is never also a bank card) > bank card > phone.

Speed: one pre-filter decides what a text can hold — ``"@" in text`` (e-mail), ``"::"`` or 7+
colons (IPv6), and one regex pass for a run of 7 digits with separators or a dotted quad (phone,
ID, card, IPv4); only the candidate regexes whose pre-condition holds run, and checksums run only
on candidates. Every regex is compiled once at import.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import chain
from typing import Any, Iterable, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, field_validator

from heitu.data.steps.base import Transform, register, with_columns

PiiType = Literal["email", "phone", "id_cn", "bank_card", "ip"]

PII_TYPES: tuple[str, ...] = ("email", "phone", "id_cn", "bank_card", "ip")
"""All types, in the order of the count columns."""

PLACEHOLDERS: dict[str, str] = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "id_cn": "<ID_CN>",
    "bank_card": "<BANK_CARD>",
    "ip": "<IP>",
}

_PRIORITY: tuple[str, ...] = ("email", "ip", "id_cn", "bank_card", "phone")


def count_column(pii_type: str) -> str:
    """Name of the per-document count column of a type, e.g. ``pii_email_count_v1``."""
    return f"pii_{pii_type}_count_v1"


# ---------------------------------------------------------------------------------- checksums

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# Province-level codes of GB/T 2260 (+ 71 Taiwan, 81 Hong Kong, 82 Macao, 83 residence permits
# of Taiwan residents).
_ID_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split()
)


def cn_id_valid(value: str) -> bool:
    """True for a valid 18-character Chinese resident ID number: format, province code, birth
    date (1900..today) and the ISO 7064 MOD 11-2 check character (``x`` accepted as ``X``).
    Spaces are ignored."""
    v = value.replace(" ", "").upper()
    if len(v) != 18 or not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return False
    if not v.isascii() or v[:2] not in _ID_PROVINCES:
        return False
    try:
        born = _dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > _dt.date.today():
        return False
    total = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == v[17]


def luhn_valid(digits: str) -> bool:
    """True when the Luhn (mod 10) checksum of a string of ASCII digits holds."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# ---------------------------------------------------------------------------------- patterns

# Every pattern starts with a character class (or a lookahead on one): it lets the regex engine
# skip positions that cannot start a match, 4-10x faster than a leading lookbehind.
#
# Left/right boundaries for numbers: no ASCII letter, digit or underscore beside the match and no
# decimal number continued ("3.14159…", "…000.5").
_NL = r"(?<![0-9A-Za-z_])(?<![0-9][.,])"
_NR = r"(?![0-9A-Za-z_])(?![.,][0-9])"
_EXT = r"(?:[ ]?(?:x|ext\.?|转|分机)[ ]?[0-9]{1,6}(?![0-9A-Za-z_]))?"

_EMAIL_RE = re.compile(
    r"(?=[A-Za-z0-9])(?<![A-Za-z0-9._%+\-])"
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63})"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}))*\.[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])",
    re.ASCII,
)

# Candidate IPv4 text: four dot-separated groups of 1-3 digits; octets (0-255, no leading zero)
# are checked after.
_IPV4_RE = re.compile(
    r"[0-9](?<![0-9A-Za-z_][0-9])(?<![0-9A-Za-z_][.][0-9])"
    r"[0-9]{0,2}(?:\.[0-9]{1,3}){3}"
    r"(?![0-9A-Za-z_])(?![.][0-9])",
    re.ASCII,
)
# Candidate IPv6 text, found from its colons (a pattern starting with ":" is cheap to scan for;
# the hex group before the first colon is added after): colon groups, optionally ending in an
# IPv4 address; validated with `ipaddress`.
_IPV6_TAIL_RE = re.compile(r":[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?:\.[0-9]{1,3}){0,3}", re.ASCII)
_HEX = frozenset("0123456789abcdefABCDEF")
_V6_LEFT_STOP = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:.")
_V6_RIGHT_STOP = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")

_ID_RE = re.compile(
    r"(?=[1-9])" + _NL + r"[1-9][0-9]{5}[ ]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[ ]?[0-9]{3}[0-9Xx]" + _NR,
    re.ASCII,
)

_CARD_RE = re.compile(
    r"(?=[2-69])"
    + _NL
    + r"(?:"
    + r"[2-69][0-9]{12,18}"  # contiguous
    + r"|(?<![0-9][ \-])[2-69][0-9]{3}(?P<s>[ \-])[0-9]{4}(?:(?P=s)[0-9]{4}){1,2}(?:(?P=s)[0-9]{1,4})?(?![ \-][0-9])"
    + r"|(?<![0-9][ \-])3[0-9]{3}(?P<a>[ \-])[0-9]{6}(?P=a)[0-9]{4,5}(?![ \-][0-9])"  # Amex 4-6-5
    + r")"
    + _NR,
    re.ASCII,
)

_AREA_NO0 = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_AREA = "0" + _AREA_NO0
_CC86 = r"(?:\((?:\+|00)?86\)[ \-]?|(?:\+|00)86[ \-]?|86[ \-]?)"
_PHONE_RE = re.compile(
    r"(?=[(+0-9])"
    + _NL.replace("(?<![0-9A-Za-z_])", r"(?<![0-9A-Za-z_+])")
    + r"(?:"
    # Chinese mobile: optional +86/0086/86, 11 digits, optionally 3-4-4.
    + r"(?:"
    + _CC86
    + r")?1[3-9][0-9](?P<m>[ \-]?)[0-9]{4}(?P=m)[0-9]{4}"
    # Chinese landline with trunk 0: (0xx)/0xx + 7-8 digits; without a separator after the area
    # code the local number must start with 2-9 (as assigned numbers do).
    + r"|(?:(?:\+|00)86[ \-]?)?(?:(?:\(" + _AREA + r"\)[ \-]?|" + _AREA + r"[ \-])[1-9]|" + _AREA + r"[2-9])"
    + r"[0-9]{2,3}[ \-]?[0-9]{4}"
    # Chinese landline after +86 (trunk 0 dropped): +86 10 12345678, +86 (755) 1234 5678.
    + r"|(?:\+|00)86[ \-]?(?:\(" + _AREA_NO0 + r"\)|" + _AREA_NO0 + r")[ \-]?[1-9][0-9]{2,3}[ \-]?[0-9]{4}"
    # International, E.164 style: + country code and digits, 8-15 digits in all (checked after).
    + r"|(?P<intl>\+[1-9][0-9]{0,3}(?:[ .\-]?\([0-9]{1,4}\)|[ .\-]?[0-9]{1,6}){1,7})(?![ .\-][0-9])"
    # The same after the ITU international call prefix 00 (0044 20 7946 0958), with separators.
    + r"|(?<![0-9][ .\-])(?P<intl00>00[1-9][0-9]{0,3}(?:[ .\-]?\([0-9]{1,4}\)|[ .\-]?[0-9]{1,6}){1,7})(?![ .\-][0-9])"
    + r")"
    + _EXT
    + _NR,
    re.ASCII,
)

# The pre-filter: an e-mail needs "@", an IPv6 address "::" or 7 colons, everything else (phone,
# ID, card, IPv4) a run of 7 digits with separators or a dotted quad. One regex pass + two
# substring checks; the candidate regexes only run on texts that pass.
_NUMBERS_RE = re.compile(r"[0-9](?:(?:[ \-.()]{0,2}[0-9]){6}|\.[0-9]{1,3}\.[0-9])", re.ASCII)


@dataclass(frozen=True, slots=True)
class PiiMatch:
    start: int
    end: int
    type: str
    value: str


def _ipv4_ok(s: str) -> bool:
    return all(len(o) == 1 or (o[0] != "0" and int(o) <= 255) for o in s.split("."))


def _ipv6_ok(s: str) -> bool:
    if "::" not in s and s.count(":") < 7 and "." not in s:
        return False
    groups = [g for g in re.split(r"[:.]", s) if g]
    # Not `a::b`, `std::`, `x[1::2]`: two short groups are code far more often than an address.
    if len(groups) < 2 or not any(c.isdigit() for c in s):
        return False
    if len(groups) == 2 and max(len(g) for g in groups) < 3:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


_DIGIT_RUN_RE = re.compile(r"[0-9]+")


def _e164_prefix_end(s: str) -> int:
    """End offset of the longest prefix of `s` made of whole digit groups with 8-15 digits, or 0."""
    count = best = 0
    for m in _DIGIT_RUN_RE.finditer(s):
        count += m.end() - m.start()
        if count > 15:
            break
        if count >= 8:
            best = m.end()
    return best


# First digits card networks issue for each length: 13 = old Visa; 14 = Diners; 15 = Amex (so
# ISBN-13s, 978/979…, 15-digit IMEIs and web ids are not cards even when Luhn holds); 16 = Visa,
# Mastercard (2/5), Discover/UnionPay/Maestro (6), JCB (3), domestic (9); 17-19 = Visa, Maestro,
# UnionPay (62…), old Chinese domestic cards (9…).
_CARD_FIRST_DIGITS = {13: "4", 14: "3", 15: "3", 16: "234569", 17: "4569", 18: "4569", 19: "4569"}


def _digits(s: str) -> str:
    return "".join(c for c in s if "0" <= c <= "9")


class Redactor:
    """Finds and replaces PII of the chosen types (default: all five). Thread-safe, stateless."""

    def __init__(self, types: Iterable[str] | None = None):
        chosen = list(PII_TYPES if types is None else types)
        unknown = [t for t in chosen if t not in PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown PII type(s) {unknown}; known: {list(PII_TYPES)}")
        self.types: tuple[str, ...] = tuple(t for t in PII_TYPES if t in chosen)
        self._order = tuple(t for t in _PRIORITY if t in chosen)

    # -- candidates of each type (already validated) --

    def _email(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _EMAIL_RE.finditer(text):
            yield m.span()

    def _ipv6(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _IPV6_TAIL_RE.finditer(text):
            start, end = m.span()
            while start > 0 and text[start - 1] in _HEX and m.start() - start < 4:
                start -= 1
            if start > 0 and text[start - 1] in _V6_LEFT_STOP:
                continue
            if text[end - 1] == ":" and text[end - 2] != ":":  # "addr 2001:db8::1: ..." (a colon after)
                end -= 1
                if text[end + 1 : end + 2] in _V6_RIGHT_STOP and end + 1 < len(text):
                    continue
            elif end < len(text) and (
                text[end] in _V6_RIGHT_STOP or (text[end] == "." and text[end + 1 : end + 2].isdigit())
            ):
                continue
            if _ipv6_ok(text[start:end]):
                yield start, end

    def _ipv4(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _IPV4_RE.finditer(text):
            if _ipv4_ok(m.group()):
                yield m.span()

    def _id_cn(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _ID_RE.finditer(text):
            if cn_id_valid(m.group()):
                yield m.span()

    def _bank_card(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _CARD_RE.finditer(text):
            d = _digits(m.group())
            if 13 <= len(d) <= 19 and d[0] in _CARD_FIRST_DIGITS[len(d)] and luhn_valid(d):
                yield m.span()

    def _phone(self, text: str) -> Iterable[tuple[int, int]]:
        for m in _PHONE_RE.finditer(text):
            intl = m.group("intl")
            if intl is not None:
                n = len(_digits(intl))
                if n < 8:
                    continue
                if n > 15:  # more digit groups follow the number: keep the longest E.164 prefix
                    end = _e164_prefix_end(intl)
                    if end:
                        yield m.start(), m.start("intl") + end
                    continue
            intl00 = m.group("intl00")
            if intl00 is not None:
                d = _digits(intl00)
                # 00 + digits only is too ambiguous; 0/1 only is binary written in nibbles.
                if not 8 <= len(d) - 2 <= 15 or intl00.isdigit() or not d.strip("01"):
                    continue
            yield m.span()

    def find(self, text: str) -> list[PiiMatch]:
        """All matches, sorted by position; overlaps resolved by type priority."""
        if not text:
            return []
        has_at = "@" in text
        has_v6 = "::" in text or text.count(":") >= 7
        has_num = _NUMBERS_RE.search(text) is not None
        if not (has_at or has_v6 or has_num):
            return []
        starts: list[int] = []  # sorted, non-overlapping spans already taken
        taken: list[tuple[int, int, str]] = []
        for t in self._order:
            if t == "email":
                if not has_at:
                    continue
                found = self._email(text)
            elif t == "ip":
                found = chain(self._ipv6(text) if has_v6 else (), self._ipv4(text) if has_num else ())
            elif has_num:
                found = getattr(self, "_" + t)(text)
            else:
                continue
            for start, end in found:
                i = bisect_right(starts, start)
                if i and taken[i - 1][1] > start:  # the span before overlaps
                    continue
                if i < len(taken) and taken[i][0] < end:  # the span after overlaps
                    continue
                starts.insert(i, start)
                taken.insert(i, (start, end, t))
        return [PiiMatch(s, e, t, text[s:e]) for s, e, t in taken]

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with every match replaced by its placeholder, and the count per type."""
        counts = dict.fromkeys(self.types, 0)
        matches = self.find(text)
        if not matches:
            return text, counts
        out: list[str] = []
        pos = 0
        for m in matches:
            out.append(text[pos : m.start])
            out.append(PLACEHOLDERS[m.type])
            counts[m.type] += 1
            pos = m.end
        out.append(text[pos:])
        return "".join(out), counts


_DEFAULT = Redactor()


def redact(text: str) -> tuple[str, dict[str, int]]:
    """Redact every PII type; returns the new text and ``{type: count}`` for all five types."""
    return _DEFAULT.redact(text)


# ---------------------------------------------------------------------------------- the step


class PiiRedactParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: list[PiiType] = list(PII_TYPES)
    """PII types to redact: any of ``email``, ``phone``, ``id_cn``, ``bank_card``, ``ip``."""

    @field_validator("types")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


@register("pii_redact")
class PiiRedact(Transform):
    """Replaces PII in ``text`` by ``<EMAIL>``, ``<PHONE>``, ``<ID_CN>``, ``<BANK_CARD>``,
    ``<IP>`` and adds ``pii_<type>_count_v1`` (int32) per document for every type (0 for types
    not selected)."""

    Params = PiiRedactParams

    def __init__(self, name: str, params: BaseModel | None = None):
        super().__init__(name, params)
        self._redactor = Redactor(self.params.types)

    def output_columns(self) -> list[str]:
        return [count_column(t) for t in PII_TYPES]

    def transform(self, batch: pa.RecordBatch, cache: dict[str, Any]) -> pa.RecordBatch:
        col = batch.column("text")
        texts = col.to_pylist()
        n = len(texts)
        counts = {t: np.zeros(n, dtype=np.int32) for t in PII_TYPES}
        out: list[str | None] = list(texts)
        changed = False
        redact_one = self._redactor.redact
        for i, t in enumerate(texts):
            if not t:
                continue
            new, c = redact_one(t)
            if new is not t:
                out[i] = new
                changed = True
                for k, v in c.items():
                    counts[k][i] = v
        cols: dict[str, pa.Array | np.ndarray] = {
            count_column(t): pa.array(counts[t], type=pa.int32()) for t in PII_TYPES
        }
        if changed:
            cols["text"] = pa.array(out, type=col.type)
            cache.clear()
        return with_columns(batch, cols)

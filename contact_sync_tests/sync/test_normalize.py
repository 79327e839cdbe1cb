"""Normalization rules: emails, phones (held to phonenumbers itself), names and tags."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import phonenumbers
import pytest

from contact_sync.sync.normalize import normalize_email, normalize_name, normalize_phone, normalize_tags, tags_text


def _reference_e164(value: object, region: str = "US") -> str | None:
    """What phonenumbers alone says: the definition normalize_phone must agree with."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _as_list(series: pd.Series) -> list[str | None]:
    return [None if v is pd.NA else v for v in series.tolist()]


# --- emails -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("ann@example", "ann@example"),  # nothing cleverer: no TLD rule
        ("STRASSE@BEISPIEL.de", "strasse@beispiel.de"),
        ("Straße@Beispiel.de", "strasse@beispiel.de"),  # case-folded, not just lowered
        ("\x1cann@example.com\x0b", "ann@example.com"),  # every whitespace str.strip knows
        ("ann.example.com", None),  # no @
        ("ann@@example.com", None),
        ("ann@b@example.com", None),
        ("@example.com", None),
        ("ann@", None),
        ("ann lee@example.com", None),
        ("Ann <ann@example.com>", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert _as_list(normalize_email(pd.Series([raw], dtype=object))) == [expected]


def test_normalize_email_keeps_index_and_handles_types() -> None:
    series = pd.Series(["A@B.C", np.nan, 42, "a@b.c"], index=[10, 20, 30, 40], dtype=object)
    out = normalize_email(series)
    assert out.dtype == "string"
    assert list(out.index) == [10, 20, 30, 40]
    assert _as_list(out) == ["a@b.c", None, None, "a@b.c"]
    assert _as_list(normalize_email(pd.Series(["X@Y.Z", None], dtype="string"))) == ["x@y.z", None]
    assert len(normalize_email([])) == 0


def test_normalize_email_does_not_touch_the_input() -> None:
    series = pd.Series(["  Ann@Example.COM "])
    normalize_email(series)
    assert series.tolist() == ["  Ann@Example.COM "]


# --- names --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Zoë   ÅNGSTRÖM ", "zoe angstrom"),
        ("José", "jose"),
        ("JOSE\u0301", "jose"),  # already decomposed accent
        ("Ñandú", "nandu"),
        ("Straße", "strasse"),
        ("Ĳsselmeer", "ijsselmeer"),  # NFKD compatibility ligature
        ("Mary\tAnn\n Smith", "mary ann smith"),
        ("李 小龍", "李 小龍"),
        ("Иван Петров", "иван петров"),
        ("Ελένη", "ελενη"),  # Greek accents fold too
        ("ガンダム", "ガンダム"),  # Japanese voicing marks are letters, not accents
        ("김민준", "김민준"),  # Hangul recomposed, not left as jamo
        ("محمد", "محمد"),
        ("", None),
        (" \t ", None),
        (None, None),
    ],
)
def test_normalize_name(raw: str | None, expected: str | None) -> None:
    assert _as_list(normalize_name(pd.Series([raw], dtype=object))) == [expected]


def test_normalize_name_very_long_strings() -> None:
    long_name = "Å" * 100_000 + " " + "b" * 100_000
    out = _as_list(normalize_name(pd.Series([long_name, "X" * 50_000])))
    assert out == ["a" * 100_000 + " " + "b" * 100_000, "x" * 50_000]


# --- phones -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(317) 555-7000", "+13175557000"),
        ("317.555.7000", "+13175557000"),
        ("1-317-555-7000", "+13175557000"),
        ("+1 317 555 7000", "+13175557000"),
        ("+13175557000", "+13175557000"),
        ("  3175557000  ", "+13175557000"),
        ("(317) 555-7000 x204", "+13175557000"),  # extension dropped by phonenumbers
        ("1-800-FLOWERS", "+18003569377"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+44 (0) 20 7946 0958", "+442079460958"),  # national prefix stripped as phonenumbers does
        ("+49 (0)30 123456", "+4930123456"),
        ("+39 06 6982 1234", "+390669821234"),  # Italian leading zero kept
        ("555-1234", None),  # too short for a US number
        ("317555700", None),  # a digit missing
        ("+1 317 555 70000", None),
        ("(123) 456-7890", None),  # area codes never start with 1
        ("020 7946 0958", None),  # a UK national number is not valid in region US
        ("+999 1234567", None),  # no such country code
        ("call me", None),
        ("n/a", None),
        ("", None),
        (None, None),
        ("3" * 300, None),  # longer than phonenumbers accepts
    ],
)
def test_normalize_phone(raw: str | None, expected: str | None) -> None:
    assert _as_list(normalize_phone(pd.Series([raw], dtype=object))) == [expected]
    assert expected == _reference_e164(raw)


def test_normalize_phone_default_region() -> None:
    values = ["020 7946 0958", "+1 212 555 0100", "07911 123456"]
    assert _as_list(normalize_phone(values, default_region="GB")) == ["+442079460958", "+12125550100", "+447911123456"]
    assert _as_list(normalize_phone(values, default_region="us")) == [None, "+12125550100", None]


def test_normalize_phone_numbers_not_text() -> None:
    out = normalize_phone(pd.Series([3175557000, 3175557000.0, np.nan, None, True], dtype=object))
    assert _as_list(out) == ["+13175557000", "+13175557000", None, None, None]


def test_normalize_phone_keeps_index_and_duplicates() -> None:
    series = pd.Series(["(317) 555-7000", "bad", "(317) 555-7000"], index=["a", "b", "c"])
    out = normalize_phone(series)
    assert out.to_dict() == {"a": "+13175557000", "b": None, "c": "+13175557000"}
    assert out.dtype == "string"


def _noisy_sample(rng: random.Random, size: int) -> list[str]:
    """North American and international numbers in many shapes, valid and not."""
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    kinds = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    values: list[str] = []
    while len(values) < size:
        roll = rng.random()
        if roll < 0.35:
            example = phonenumbers.example_number_for_type(rng.choice(regions), rng.choice(kinds))
            if example is None:
                continue
            text = phonenumbers.format_number(
                example, rng.choice([phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL])
            )
            if rng.random() < 0.5:  # change a digit
                i = rng.randrange(2, len(text))
                text = text[:i] + str(rng.randint(0, 9)) + text[i + 1 :]
            if rng.random() < 0.2:
                text += str(rng.randint(0, 9))
            if rng.random() < 0.2:
                text = text.replace(" ", " (0) ", 1)
        elif roll < 0.55:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 16)))
            text = f"+{rng.choice(codes)}{digits}"
        elif roll < 0.85:
            d = f"{rng.randint(100, 999)}{rng.randint(0, 999):03d}{rng.randint(0, 9999):04d}"
            d = d[: rng.choice([10, 10, 10, 9, 7, 11])]
            text = rng.choice([d, "1" + d, "11" + d, "011" + d, f"({d[:3]}) {d[3:6]}-{d[6:]}", "+1" + d, f"1.{d}"])
        else:
            text = "".join(rng.choice("0123456789+ ()-.x") for _ in range(rng.randint(1, 20)))
        values.append(text)
    return values


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normalize_phone_agrees_with_phonenumbers_on_random_samples(seed: int) -> None:
    values = _noisy_sample(random.Random(seed), 3000)
    got = _as_list(normalize_phone(pd.Series(values)))
    expected = [_reference_e164(v) for v in values]
    mismatches = [(v, g, e) for v, g, e in zip(values, got, expected, strict=True) if g != e]
    assert mismatches == []
    assert sum(e is not None for e in expected) > 500  # the sample holds plenty of valid numbers too


def test_normalize_phone_agrees_in_another_region() -> None:
    values = [*_noisy_sample(random.Random(9), 1500), "020 7946 0958", "07911 123456", "+44 (0)7911 123456"]
    got = _as_list(normalize_phone(pd.Series(values), default_region="GB"))
    assert got == [_reference_e164(v, "GB") for v in values]


# --- tags ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("vip; gold;vip ;", "gold;vip"),
        (["vip", " gold", "vip"], "gold;vip"),
        (("b;a", "c"), "a;b;c"),
        (np.array(["z", "y"]), "y;z"),
        (["VIP", "vip"], "VIP;vip"),  # tags keep their case
        ("", None),
        (" ; ;", None),
        ([], None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_tags_text(raw: object, expected: str | None) -> None:
    assert tags_text(raw) == expected


def test_normalize_tags_column() -> None:
    series = pd.Series(["b;a", ["a", "b"], None, "", ["x"], "b;a"], index=list("pqrstu"), dtype=object)
    out = normalize_tags(series)
    assert out.dtype == "string"
    assert out.to_dict() == {"p": "a;b", "q": "a;b", "r": None, "s": None, "t": "x", "u": "a;b"}
    assert len(normalize_tags(pd.Series([], dtype=object))) == 0

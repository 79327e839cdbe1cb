"""Times contact_sync.sync.normalize on 2,000,000 realistic, noisy phone numbers and emails.

Run: python benchmarks/normalize_bench.py [--rows N] [--seed S]
The data: mostly North American numbers (area codes in service) in the formats people type, one in eight with a
missing digit, a share of international numbers (E.164 and
international format, some with a national "(0)"), extensions, junk and blanks; 10% of rows repeat another row.
Emails: mixed case, stray spaces, some invalid. Prints the time of each call and the share of non-null results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import phonenumbers

from contact_sync.sync.normalize import normalize_email, normalize_phone

_INTERNATIONAL = ["GB", "DE", "FR", "IT", "ES", "NL", "AU", "IN", "BR", "MX", "JP", "IE", "SE", "CH", "ZA"]


def _area_codes() -> list[int]:
    """Area codes in service in the US and Canada, per phonenumbers' own metadata."""
    return [a for a in range(201, 990) if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{a}2345678"))]


def _us_numbers(rng: np.random.Generator, n: int) -> list[str]:
    codes = np.array(_area_codes())
    area = codes[rng.integers(0, len(codes), n)]
    exchange = rng.integers(200, 1000, n)
    line = rng.integers(0, 10000, n)
    styles = rng.integers(0, 8, n)
    out = []
    for a, e, ln, style in zip(area.tolist(), exchange.tolist(), line.tolist(), styles.tolist(), strict=True):
        match style:
            case 0:
                out.append(f"({a}) {e}-{ln:04d}")
            case 1:
                out.append(f"{a}-{e}-{ln:04d}")
            case 2:
                out.append(f"+1{a}{e}{ln:04d}")
            case 3:
                out.append(f"{a}.{e}.{ln:04d}")
            case 4:
                out.append(f"1 {a} {e} {ln:04d}")
            case 5:
                out.append(f"+1 {a}-{e}-{ln:04d}")
            case 6:
                out.append(f"{a}{e}{ln:04d}")
            case _:  # a typo: one digit short
                out.append(f"({a}) {e}-{ln // 10:03d}")
    return out


def _international_numbers(rng: np.random.Generator, n: int) -> list[str]:
    examples = []
    for region in _INTERNATIONAL:
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                examples.append(example)
    out = []
    picks = rng.integers(0, len(examples), n).tolist()
    tails = rng.integers(0, 10000, n).tolist()
    styles = rng.integers(0, 3, n).tolist()
    for pick, tail, style in zip(picks, tails, styles, strict=True):
        example = examples[pick]
        national = str(example.national_number)
        national = national[:-4] + f"{tail:04d}"
        if style == 0:
            out.append(f"+{example.country_code}{national}")
        elif style == 1:
            out.append(f"+{example.country_code} {national[:3]} {national[3:]}")
        else:
            out.append(f"+{example.country_code} (0) {national}")
    return out


def _junk(rng: np.random.Generator, n: int) -> list[str | None]:
    choices = ["", "  ", "n/a", "call reception", "555-1234", "(317) 555-7000 x204", "+1 317 555 7000 ext. 12", None]
    return [choices[i] for i in rng.integers(0, len(choices), n).tolist()]


def phones(rng: np.random.Generator, rows: int) -> pd.Series:
    unique_rows = int(rows * 0.9)
    n_us, n_intl = int(unique_rows * 0.85), int(unique_rows * 0.10)
    values = _us_numbers(rng, n_us) + _international_numbers(rng, n_intl) + _junk(rng, unique_rows - n_us - n_intl)
    repeats = rng.integers(0, len(values), rows - unique_rows)
    values += [values[i] for i in repeats.tolist()]
    order = rng.permutation(len(values))
    return pd.Series(np.asarray(values, dtype=object)[order])


def emails(rng: np.random.Generator, rows: int) -> pd.Series:
    ids = rng.integers(0, rows, rows).tolist()
    domains = ["example.com", "Example.COM", "mail.example.org", "corp.example.net"]
    styles = rng.integers(0, 10, rows).tolist()
    out: list[str | None] = []
    for i, style in zip(ids, styles, strict=True):
        domain = domains[i % len(domains)]
        if style == 0:
            out.append(f"  First.Last{i}@{domain} ")
        elif style == 1:
            out.append(f"user{i}.example.com")  # no @
        elif style == 2:
            out.append(None)
        else:
            out.append(f"user{i}@{domain}")
    return pd.Series(out, dtype=object)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    phone_values = phones(rng, args.rows)
    normalize_phone(phone_values.head(1000))  # load the phonenumbers metadata outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    e164 = normalize_phone(phone_values)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"normalize_phone: {args.rows:,} values ({phone_values.nunique():,} distinct) in {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU; {e164.notna().mean():.1%} valid"
    )

    email_values = emails(rng, args.rows)
    wall, cpu = time.perf_counter(), time.process_time()
    folded = normalize_email(email_values)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"normalize_email: {args.rows:,} values in {wall:.2f} s wall, {cpu:.2f} s CPU; "
        f"{folded.notna().mean():.1%} valid"
    )


if __name__ == "__main__":
    main()

"""Number surfaces for range slots: digits ("21", "21.5") and English words ("twenty one",
"twenty one point five"), because typed commands use digits and speech recognisers emit words.

    number_words(21)    -> "twenty one"
    number_words(21.5)  -> "twenty one point five"
    format_number(21.0) -> "21"
    digit_form("twenty ounce") -> "20 ounce"

Speech recognisers' transcripts reach the intent model with number words turned into digits
(device/spoken_numbers.py), so a phrase value such as Rhino's "twenty ounce" is also trained in
its digit form, reported as the phrase; numeric slots (ranges, pv.* integers) report digits.
"""
from __future__ import annotations

from functools import lru_cache

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def format_number(x: float) -> str:
    """Digits without a trailing '.0': 21 -> '21', 21.5 -> '21.5', 0.25 -> '0.25'."""
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _int_words(n: int) -> str:
    if n < 0:
        return "minus " + _int_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + _int_words(rest))
    thousands, rest = divmod(n, 1000)
    return _int_words(thousands) + " thousand" + ("" if rest == 0 else " " + _int_words(rest))


def number_words(x: float) -> str | None:
    """English words for x, or None when it has no short spoken form (|x| >= 1e6 or more than
    two decimals)."""
    if abs(x) >= 1_000_000:
        return None
    digits = format_number(x)
    whole, _, frac = digits.lstrip("-").partition(".")
    if len(frac) > 2:
        return None
    words = _int_words(int(whole))
    if x < 0:
        words = "minus " + words
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return words


_SCALES = ("hundred", "thousand")


@lru_cache(maxsize=1)
def _word_numbers() -> dict[str, str]:
    """"twenty one" -> "21" for 0..9999 (the whole numbers a command phrase spells out)."""
    return {_int_words(n): str(n) for n in range(10000)}


def _run_digits(run: list[str]) -> list[str]:
    """["twenty", "one"] -> ["21"], ["one", "point", "five"] -> ["1.5"]; unchanged if it is not
    one number (as device/spoken_numbers.py leaves it)."""
    table = _word_numbers()
    if "point" in run:
        i = run.index("point")
        whole, frac = " ".join(run[:i]), run[i + 1:]
        if whole in table and frac and all(w in _ONES[:10] for w in frac):
            return [table[whole] + "." + "".join(str(_ONES.index(w)) for w in frac)]
        return run
    joined = " ".join(run)
    return [table[joined]] if joined in table else run


def digit_form(phrase: str) -> str:
    """The phrase with each maximal run of number words written as digits ("twenty ounce" ->
    "20 ounce"), the way the recognisers' transcripts write them; other words unchanged."""
    number_words_set = set(_ONES) | set(_TENS[2:]) | set(_SCALES) | {"point"}
    out: list[str] = []
    run: list[str] = []
    for word in phrase.split():
        low = word.lower()
        if low in number_words_set and (run or (low not in _SCALES and low != "point")):
            run.append(low)
            continue
        out += _run_digits(run) if run else []
        run = []
        out.append(word)
    out += _run_digits(run) if run else []
    return " ".join(out)

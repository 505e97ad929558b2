"""Number surfaces for range slots: digits ("21", "21.5") and English words ("twenty one",
"twenty one point five"), because typed commands use digits and speech recognisers emit words.

    number_words(21)    -> "twenty one"
    number_words(21.5)  -> "twenty one point five"
    format_number(21.0) -> "21"
"""
from __future__ import annotations

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

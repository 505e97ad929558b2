"""device/spoken_numbers.py: digits <-> English number words, between the text model and the recogniser.

    number_to_words("21.5")                  -> "twenty one point five"
    words_to_digits("set it to twenty one")  -> "set it to 21"

Training sentences write numbers as digits ("set the brightness to 50"), recognisers hear and emit words
("fifty"). The grammar is built from the spoken form; the transcript is turned back into digits before
it reaches the intent model, which reads any digit string as `<num>`. Whole numbers 0..999999 and one
decimal point are covered, which is what home-automation commands use.
"""
from __future__ import annotations

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = {"hundred": 100, "thousand": 1000}
NUMBER_WORDS = set(ONES) | set(TENS[2:]) | set(SCALES) | {"point"}


def _int_words(n: int) -> list[str]:
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [ONES[n // 100], "hundred"] + (_int_words(n % 100) if n % 100 else [])
    return _int_words(n // 1000) + ["thousand"] + (_int_words(n % 1000) if n % 1000 else [])


def is_number(token: str) -> bool:
    return bool(token) and token.replace(".", "", 1).isdigit() and not token.endswith(".")


def number_to_words(token: str) -> str:
    """"50" -> "fifty", "21.5" -> "twenty one point five". Raises ValueError for non-numbers or >= 10**6."""
    digits = token.replace(",", "")
    if not is_number(digits):
        raise ValueError(f"not a number: {token!r}")
    whole, _, frac = digits.partition(".")
    if int(whole) >= 1_000_000:
        raise ValueError(f"number too large to speak: {token!r}")
    words = _int_words(int(whole))
    if frac:
        words += ["point"] + [ONES[int(d)] for d in frac]
    return " ".join(words)


def words_to_digits(text: str) -> str:
    """Replaces each maximal run of number words by its digits; other words are kept as they are."""
    out: list[str] = []
    run: list[str] = []

    def flush():
        if run:
            out.extend(_run_to_digits(run))
            run.clear()

    for word in text.split():
        if word in NUMBER_WORDS and not (word in SCALES or word == "point") or (run and word in NUMBER_WORDS):
            run.append(word)
        else:
            flush()
            out.append(word)
    flush()
    return " ".join(out)


def _run_to_digits(run: list[str]) -> list[str]:
    """["twenty", "one", "point", "five"] -> ["21.5"]; a run that does not parse is returned unchanged."""
    if "point" in run:
        i = run.index("point")
        whole, frac = run[:i], run[i + 1:]
        if not whole or not frac or any(w not in ONES[:10] for w in frac):
            return run
        head = _run_to_digits(whole)
        return [head[0] + "." + "".join(str(ONES.index(w)) for w in frac)] if len(head) == 1 else run
    total, group = 0, 0
    previous = None
    for word in run:
        if word in SCALES:
            if previous is None:
                return run
            group = max(group, 1) * SCALES[word]
            if SCALES[word] == 1000:
                total, group = total + group, 0
        elif word in TENS:
            if previous in TENS or previous in ONES:  # "twenty thirty" is two numbers; keep it simple
                return run
            group += 10 * TENS.index(word)
        else:
            value = ONES.index(word)
            if previous in ONES or (previous in TENS and (value >= 10 or group % 10)):
                return run
            group += value
        previous = word
    return [str(total + group)]

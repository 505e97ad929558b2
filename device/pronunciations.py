"""device/pronunciations.py: the pronunciation dictionary PocketSphinx decodes the command words with.

    dictionary = pronunciation_dictionary(cmudict_path, accents=True, pronunciations="mine.txt")
    lines = with_non_rhotic_endings(with_merged_vowels(dictionary["timer"]))

A dictionary is {word: ["word PHONES", "word(2) PHONES", ...]}, CMUdict's line format. On top of the
wheel's CMUdict come the shipped British-English forms of command words (accent_pronunciations.txt) and
the user's own file, both "word PHONE PHONE ..." lines checked against the acoustic model's phone set.
The variant rules (merged vowels, non-rhotic endings) add pronunciations to the words of the command
dictionary only (asr_pocketsphinx writes it).
"""
from __future__ import annotations

from importlib import resources

from safu.device.recognizer import RecognizerError

_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def read_dictionary(path: str) -> dict[str, list[str]]:
    """CMUdict-style file -> {word: [pronunciation lines]} (variants "word(2)" kept under "word")."""
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) == 2:
                entries.setdefault(parts[0].split("(")[0], []).append(line.rstrip("\n"))
    return entries


def parse_pronunciations(text: str, source: str, phones: set[str]) -> dict[str, list[list[str]]]:
    """"word PHONE PHONE ..." lines ('#' comments, blank lines skipped) -> {word: [phone lists]}.
    Raises ValueError naming `source` and the line for a line without phones or with a phone outside
    `phones` (the acoustic model's set)."""
    entries: dict[str, list[list[str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split("#")[0].split()
        if not parts:
            continue
        word, spelled = parts[0].lower().split("(")[0], parts[1:]
        unknown = [p for p in spelled if p not in phones]
        if not spelled or unknown:
            detail = f"unknown phone {unknown[0]!r}" if unknown else "no phones"
            raise ValueError(f"{source} line {number}: {detail}; expected 'word PHONE PHONE ...' with phones "
                             f"from {' '.join(sorted(phones))}")
        entries.setdefault(word, []).append(spelled)
    return entries


def extra_pronunciations() -> str:
    """The shipped British-English pronunciations (accent_pronunciations.txt)."""
    return resources.files("safu.device").joinpath("accent_pronunciations.txt").read_text(encoding="utf-8")


def with_pronunciations(dictionary: dict[str, list[str]], extra: dict[str, list[list[str]]]) -> dict[str, list[str]]:
    """`dictionary` plus the `extra` pronunciations it does not have yet (new words too), numbered "word(2)"..."""
    out = {word: list(lines) for word, lines in dictionary.items()}
    for word, variants in extra.items():
        lines = out.setdefault(word, [])
        for phones in variants:
            add_pronunciation(lines, word, phones)
    return out


def add_pronunciation(lines: list[str], word: str, phones: list[str]) -> None:
    """Appends "word(k) PHONES" to one word's dictionary lines ("word PHONES" if it is the first), unless
    a line already has those phones."""
    if all(phones != line.split()[1:] for line in lines):
        lines.append(f"{word}({len(lines) + 1}) {' '.join(phones)}" if lines else f"{word} {' '.join(phones)}")


def with_variants(lines: list[str], variant) -> list[str]:
    """`lines` (one word's "word(k) PHONES" dictionary lines) plus variant(phones) of each, where that is
    not None and not there yet, numbered on."""
    out = list(lines)
    word = lines[0].split()[0].split("(")[0]
    for line in lines:
        phones = variant(line.split()[1:])
        if phones:
            add_pronunciation(out, word, phones)
    return out


def with_non_rhotic_endings(lines: list[str]) -> list[str]:
    """Adds an AH variant of every pronunciation of two or more syllables that ends in ER: British
    English drops the r of "timer", "water", "speaker" (espeak-ng's en-gb voices do too). One-syllable
    words are left alone: "for" and "are" without the r would sound like "a". Dropping every r after a
    vowel ("porch" P AO CH, "floor" F L AO) as well was measured and made things worse: "fan" was heard
    as "for me", "garage" as "garden"."""
    def variant(phones: list[str]) -> list[str] | None:
        if phones and phones[-1] == "ER" and sum(p in _VOWELS for p in phones) >= 2:
            return phones[:-1] + ["AH"]
        return None
    return with_variants(lines, variant)


def with_merged_vowels(lines: list[str]) -> list[str]:
    """Adds an AA variant of every pronunciation with AO: the cot-caught merger of most North American
    speech (and of espeak-ng's en-us voice), without which "off" (AO F) is heard as "on" (AA N)."""
    return with_variants(lines, lambda phones: ["AA" if p == "AO" else p for p in phones] if "AO" in phones else None)


def accent_variants(accents: bool):
    """The variant rule applied to each command word's lines: merged vowels always, non-rhotic endings
    too with `accents` (British forms)."""
    if accents:
        return lambda lines: with_non_rhotic_endings(with_merged_vowels(lines))
    return with_merged_vowels


def pronunciation_dictionary(dict_path: str, accents: bool, pronunciations: str | None) -> dict[str, list[str]]:
    """CMUdict (dict_path), plus the shipped British forms if `accents`, plus the user's file if given.
    Raises RecognizerError when the user's file cannot be read, ValueError for a bad line in it."""
    dictionary = read_dictionary(dict_path)
    phones = {p for lines in dictionary.values() for line in lines for p in line.split()[1:]}
    if accents:
        shipped = parse_pronunciations(extra_pronunciations(), "accent_pronunciations.txt", phones)
        dictionary = with_pronunciations(dictionary, shipped)
    if pronunciations:
        try:
            with open(pronunciations, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise RecognizerError(f"cannot read the pronunciation file {pronunciations}: {exc.strerror}") from None
        dictionary = with_pronunciations(dictionary, parse_pronunciations(text, pronunciations, phones))
    return dictionary

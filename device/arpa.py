"""device/arpa.py: a small backoff n-gram language model in ARPA text format, for PocketSphinx.

    text = arpa_lm(["turn on the light", "turn off the light"], order=3,
                   extra_words=["weather", "music"], extra_mass=0.05)
    open("commands.lm", "w").write(text)

A sentence can be counted several times (`counts`), which is how the recogniser gives every intent
the same prior (command_vocabulary). Absolute discounting (D = 0.5) with Katz-style backoff weights: an n-gram seen in the sentences keeps
(count - D) / count(history); the mass taken away goes, through the backoff weight, to the lower order.
`extra_words` (the out-of-vocabulary garbage words) appear only as unigrams sharing `extra_mass`, so
the decoder can explain non-command speech with them while command word sequences stay far likelier.
Why an n-gram and not a JSGF grammar: PocketSphinx's FSG search becomes very slow once a grammar
contains a free loop of garbage words (minutes per utterance here), while its n-gram search handles
the same vocabulary in a fraction of real time.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

DISCOUNT = 0.5
BOS, EOS = "<s>", "</s>"


def arpa_lm(sentences: list[str], order: int = 3, extra_words: list[str] = (), extra_mass: float = 0.05,
            discount: float = DISCOUNT, counts: list[int] | None = None) -> str:
    """Returns the ARPA text. counts: how many times each sentence is counted (default once each).
    Raises ValueError for no sentences, order < 1, extra_mass outside [0, 1) or counts that are not one
    positive integer per sentence."""
    if not sentences:
        raise ValueError("arpa_lm: no sentences")
    if counts is None:
        counts = [1] * len(sentences)
    if len(counts) != len(sentences) or any(not isinstance(c, int) or c < 1 for c in counts):
        raise ValueError("arpa_lm: counts must be one positive integer per sentence")
    if order < 1:
        raise ValueError("arpa_lm: order must be >= 1")
    if not 0.0 <= extra_mass < 1.0:
        raise ValueError("arpa_lm: extra_mass must be in [0, 1)")

    ngram_counts: list[Counter] = [Counter() for _ in range(order + 1)]  # [n][tuple of n words]
    for sentence, times in zip(sentences, counts):
        words = [BOS] + sentence.split() + [EOS]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                ngram_counts[n][tuple(words[i:i + n])] += times

    # Unigrams: command words by count (BOS is never predicted), garbage words share extra_mass evenly.
    unigram_total = sum(c for g, c in ngram_counts[1].items() if g[0] != BOS)
    extras = sorted(set(extra_words) - {g[0] for g in ngram_counts[1]})
    command_mass = 1.0 - extra_mass if extras else 1.0
    prob: list[dict] = [dict() for _ in range(order + 1)]
    for gram, c in ngram_counts[1].items():
        prob[1][gram] = 0.0 if gram[0] == BOS else command_mass * c / unigram_total
    for word in extras:
        prob[1][(word,)] = extra_mass / len(extras)

    # Higher orders: discounted relative frequencies.
    history_total: list[Counter] = [Counter() for _ in range(order + 1)]
    followers: list[defaultdict] = [defaultdict(list) for _ in range(order + 1)]
    for n in range(2, order + 1):
        for gram, c in ngram_counts[n].items():
            history_total[n][gram[:-1]] += c
            followers[n][gram[:-1]].append(gram)
        for gram, c in ngram_counts[n].items():
            prob[n][gram] = (c - discount) / history_total[n][gram[:-1]]

    def backoff_prob(gram: tuple) -> float:
        """P(last word | history) under the model, backing off as needed."""
        n = len(gram)
        if gram in prob[n]:
            return prob[n][gram]
        if n == 1:
            return 0.0
        return backoff[n - 1].get(gram[:-1], 1.0) * backoff_prob(gram[1:])

    # Backoff weight of history h (an (n-1)-gram): left-over mass / lower-order mass of unseen followers.
    backoff: list[dict] = [dict() for _ in range(order + 1)]
    for n in range(2, order + 1):
        for history, grams in followers[n].items():
            left = discount * len(grams) / history_total[n][history]
            lower_seen = sum(backoff_prob(g[1:]) for g in grams)
            backoff[n - 1][history] = left / max(1.0 - lower_seen, 1e-9)

    lines = ["\\data\\"] + [f"ngram {n}={len(prob[n])}" for n in range(1, order + 1)] + [""]
    for n in range(1, order + 1):
        lines.append(f"\\{n}-grams:")
        for gram in sorted(prob[n]):
            p = prob[n][gram]
            logp = -99.0 if p <= 0 else math.log10(p)
            entry = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n]:
                entry += f"\t{math.log10(max(backoff[n][gram], 1e-99)):.6f}"
            elif n < order:
                entry += "\t0.000000"
            lines.append(entry)
        lines.append("")
    lines.append("\\end\\")
    return "\n".join(lines) + "\n"

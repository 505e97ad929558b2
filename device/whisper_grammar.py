"""device/whisper_grammar.py: Whisper decoding restricted to the intent model's word graph.

    decoder = GrammarDecoder(model, tokenizer, ctranslate2, bigrams)   # as WhisperRecognizer holds them
    found = decoder.decode(encoded)     # -> [Sentence(words, logprob, tokens)], likeliest first

When the free transcript of an utterance is rejected (words the model does not know, a pair no command
has), the sentences of the model's word graph are decoded instead: a beam search over Whisper's tokens
in which every step may only continue a word the graph allows in that place. The graph is the word
pairs of the model's sentences (`bigrams`, with "<s>" and "</s>" at the ends); a word is spelled as
Whisper writes it (" latte", "I'd" first in a sentence, a number also as digits: " 12" for "twelve"),
a comma may come between two words, and a sentence ends with "." or "?" and then Whisper's end of text
(scored in the next step, for GRAMMAR_ENDINGS sentences a step: it tells "... cappuccino." said whole
from one followed by more speech). Each step is one batched CTranslate2 `generate` call over the beam's
token prefixes, teacher-forced after `start` (WhisperRecognizer gives its prompt: without it Whisper is
far less sure of the command words), whose logits give the log-probability of every next token. A
sentence's score is the sum of its tokens' log-probabilities; scores only fall as a prefix grows, so
the search stops when no live prefix is within `stop_margin` nats of the best complete sentence, or at
`max_tokens`. A prefix that starts the command again (its last two words its first two) is dropped:
Whisper given a short input likes to say the command twice. The best score of every prefix the beam
dropped is kept (`dropped`, `longer_bound`): it bounds the sentences that prefix begins.

The caller decides what to trust (WhisperRecognizer.grammar_transcript): the best sentence is taken
only when it is a margin likelier than the best one read as another command and than any longer
sentence the beam dropped, and its mean log-probability per token is above a floor.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safu.device.spoken_numbers import words_to_digits

GRAMMAR_BEAM = 4        # live token prefixes per step
GRAMMAR_ENDINGS = 2     # sentences ended per step (their end of text scored in the next)
MAX_GRAMMAR_TOKENS = 48  # tokens of the longest sentence searched
END_MARKS = (".", "?")
COMMA = ","


@dataclass
class Sentence:
    words: list[str]
    logprob: float   # sum over its tokens (the end mark included)
    tokens: int      # how many tokens

    @property
    def mean(self) -> float:
        return self.logprob / max(1, self.tokens)


@dataclass
class _Prefix:
    score: float
    tokens: tuple[int, ...]
    words: tuple[str, ...]                      # words complete before the pending one
    pending: tuple[tuple[str, tuple[int, ...]], ...]  # (word, its tokens) the prefix may be spelling
    pos: int                                    # tokens of the pending word already given


def display_word(word: str, first: bool) -> str:
    """A word as Whisper writes it in a sentence ("i'd" -> "I'd"; the first word capitalised)."""
    if word == "i" or word.startswith("i'"):
        word = "I" + word[1:]
    return word[0].upper() + word[1:] if first else word


def log_softmax(row: np.ndarray) -> np.ndarray:
    row = np.asarray(row, dtype=np.float64)
    top = row.max()
    return row - top - np.log(np.exp(row - top).sum())


class GrammarDecoder:
    def __init__(self, model, tokenizer, ctranslate2, bigrams: set[tuple[str, str]], beam: int = GRAMMAR_BEAM,
                 max_tokens: int = MAX_GRAMMAR_TOKENS, endings: int = GRAMMAR_ENDINGS,
                 start: list[int] | None = None):
        """model: a ctranslate2.models.Whisper; tokenizer: faster-whisper's Tokenizer; bigrams: the word graph;
        start: the decoder's tokens before the text (default: the start sequence alone; WhisperRecognizer
        gives its prompt's, which makes Whisper far surer of the command words)."""
        self._model, self._tok, self._ct2 = model, tokenizer, ctranslate2
        self.beam, self.max_tokens, self.endings = beam, max_tokens, endings
        self.following: dict[str, list[str]] = {}
        for a, b in sorted(bigrams):
            if b != "</s>":
                self.following.setdefault(a, []).append(b)
        self.ends = {a for a, b in bigrams if b == "</s>"}
        words = {w for pair in bigrams for w in pair} - {"<s>", "</s>"}
        self._spellings: dict[tuple[str, bool], list[tuple[int, ...]]] = {}
        for w in words:
            for first in (True, False):
                forms = {display_word(w, first)}
                digits = words_to_digits(w)
                if digits != w and digits.isdigit():
                    forms.add(digits)
                self._spellings[w, first] = sorted({tuple(tokenizer.encode(" " + f)) for f in forms})
        self._end_tokens = [tokenizer.encode(m)[0] for m in END_MARKS]
        self._comma = tokenizer.encode(COMMA)[0]
        self._start = list(start) if start else list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        self.steps = 0  # generate calls of the last decode (for the bench's figures)
        self.dropped: dict[tuple[str, ...], float] = {}

    def _pending(self, words: list[str], first: bool) -> tuple[tuple[str, tuple[int, ...]], ...]:
        return tuple((w, s) for w in words for s in self._spellings[w, first])

    def next_logprobs(self, encoded, prefixes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """Whisper's log-probability of every next token after each token prefix (teacher-forced)."""
        batch = self._ct2.StorageView.from_array(np.repeat(np.asarray(encoded), len(prefixes), axis=0))
        longest = max(len(p) for p in prefixes)
        # CTranslate2 4.8.5 counts max_length oddly here (measured: without a prompt it returns max_length // 2
        # tokens, after a prompt max_length - the prompt's length + 1); this gives the prefix and a token or two
        # more either way (a longer limit lets the greedy decoder run on: a second per call)
        length = max(len(self._start) + longest + 1, 2 * (longest + 1))
        results = self._model.generate(batch, [self._start + list(p) for p in prefixes], beam_size=1,
                                       max_length=min(448, length), return_logits_vocab=True,
                                       suppress_blank=False, suppress_tokens=[])
        rows = []
        for p, r in zip(prefixes, results):
            logits = r.logits[0]
            if len(logits) <= len(p):
                raise RuntimeError(f"CTranslate2 returned {len(logits)} logit rows for a prefix of {len(p)} tokens")
            rows.append(log_softmax(logits[len(p)]))
        return rows

    def decode(self, encoded, stop_margin: float = 4.0) -> list[Sentence]:
        """The complete sentences the search reached, likeliest first. A sentence is complete when its end
        mark and then Whisper's end of text are scored (the end of text tells "... cappuccino." said whole
        from one followed by more speech)."""
        live = [_Prefix(0.0, (), (), self._pending(self.following.get("<s>", []), True), 0)]
        ending: list[tuple[float, tuple[int, ...], tuple[str, ...]]] = []  # (score, tokens with the end mark, words)
        finished: dict[tuple[str, ...], Sentence] = {}
        eot = self._tok.eot
        self.steps = 0
        self.dropped: dict[tuple[str, ...], float] = {}  # best score of a prefix left unfinished, by its words
        for _ in range(self.max_tokens):
            if not live and not ending:
                break
            self.steps += 1
            rows = self.next_logprobs(encoded, [p.tokens for p in live] + [e[1] for e in ending])
            for (score, tokens, words), lp in zip(ending, rows[len(live):]):
                s = Sentence(list(words), score + float(lp[eot]), len(tokens) + 1)
                if words not in finished or finished[words].logprob < s.logprob:
                    finished[words] = s
            ending = []
            grown: list[_Prefix] = []
            for prefix, lp in zip(live, rows):
                groups: dict[tuple, list] = {}
                complete = []
                for word, spelling in prefix.pending:
                    if len(spelling) > prefix.pos:
                        groups.setdefault((spelling[prefix.pos], prefix.words), []).append((word, spelling))
                    elif prefix.pos:
                        complete.append(word)
                for word in dict.fromkeys(complete):
                    words = prefix.words + (word,)
                    if len(words) > 3 and words[-2:] == words[:2]:
                        continue  # the command said again (Whisper's habit on a short input): not a sentence
                    nxt = self.following.get(word, [])
                    for w, s in self._pending(nxt, False):
                        groups.setdefault((s[0], words), []).append((w, s))
                    if nxt:  # "a triple shot, light roast"
                        grown.append(_Prefix(prefix.score + float(lp[self._comma]), prefix.tokens + (self._comma,),
                                             words, self._pending(nxt, False), 0))
                    if word in self.ends:
                        mark = max(self._end_tokens, key=lambda t: lp[t])
                        ending.append((prefix.score + float(lp[mark]), prefix.tokens + (mark,), words))
                for (token, words), pending in groups.items():
                    pos = 1 if words != prefix.words else prefix.pos + 1
                    grown.append(_Prefix(prefix.score + float(lp[token]), prefix.tokens + (token,), words,
                                         tuple(pending), pos))
            best = max((s.logprob for s in finished.values()), default=-np.inf)
            grown.sort(key=lambda p: -p.score)
            for p in grown[self.beam:]:
                self._drop(p)
            live = [p for p in grown[:self.beam] if p.score > best - stop_margin]
            ending.sort(key=lambda e: -e[0])
            ending = [e for e in ending[:self.endings] if e[0] > best - stop_margin]
        for p in live:
            self._drop(p)
        return sorted(finished.values(), key=lambda s: -s.logprob)

    def _drop(self, prefix: _Prefix) -> None:
        if self.dropped.get(prefix.words, -np.inf) < prefix.score:
            self.dropped[prefix.words] = prefix.score

    def longer_bound(self, sentence: Sentence) -> float:
        """The most a sentence that goes on past the end of `sentence` could score among those the search
        left unfinished (a prefix's score bounds every sentence it begins): "... iced mocha" is not sure
        while "... iced mocha with some milk" was only pruned from the beam."""
        n = len(sentence.words)
        return max((score for words, score in self.dropped.items() if list(words[:n]) == sentence.words),
                   default=-np.inf)

"""Home Assistant's own English tests, scored as Home Assistant scores them: safu beside hassil.

    python bench/bench_ha.py                       # train, run the 1,024 test sentences, print a table
    python bench/bench_ha.py --model ha.safu       # reuse a model trained from the same templates
    python bench/bench_ha.py --errors 20           # also show the first wrong answers
    python bench/bench_ha.py --perturb             # also intent accuracy on perturbed test sentences

safu is trained from HA's English templates (`sentences-en/`) with HA's test home
(`tests-en/_fixtures.yaml`) as the inventory, by `safu.runtime.api.train` with its defaults.
Each test sentence of `tests-en/*.yaml` is scored as HA's tests/test_language_sentences.py does:
- intent: the predicted intent is the expected one;
- exact slots: the intent is right and the slot names are exactly the expected ones, every value
  equal (a list in the test means any one of them; numbers compare as numbers), wordless slots
  (`domain`, `device_class`) included. The test's `context` (the satellite's area) is passed.
Rows: safu's model alone, safu with the Home Assistant answer layer (safu.runtime.ha_answers:
wordless slots, inventory names, context), and hassil (HA's matcher) when it is installed.
False accepts: how many out-of-scope sentences get an intent. The shipped list
(runtime/data/out_of_scope.txt) is also used by training to calibrate rejection, so it is an
in-sample figure; HELD_OUT_CHAT below is not used anywhere else. Latency: per sentence, one thread.
--perturb: the same test sentences changed five ways by general rules (see PERTURBATIONS below),
intent accuracy per perturbation for every row: how much is kept away from the templates' wordings.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("SAFU_SHARED_DATA", ROOT.parent / "shared" / "data")) / "home-assistant-intents"

# Held-out chit-chat and out-of-domain requests: in no training or calibration file.
HELD_OUT_CHAT = """\
tell me a story about dragons
who invented the telephone
i am hungry
what is the capital of spain
my sister is visiting next week
how do bees make honey
what's your favourite colour
can you recommend a good book
i had a long day at work
do you like pizza
what does a penguin eat
translate good morning into french
write me a poem about the sea
my cat knocked over a glass
is it healthy to drink coffee every day
what's the difference between a crocodile and an alligator
i think i'm catching a cold
my favourite team lost again
what should i cook for dinner tonight
how do you spell necessary
give me a fun fact
the neighbours are really noisy
i forgot my umbrella at the office
how do airplanes stay in the air
tell me something interesting about octopuses
did you sleep well
how many people live in tokyo
my knee hurts after running
can dogs eat chocolate
explain quantum computing simply
who wrote pride and prejudice
what year did the titanic sink
i'm bored
what's the best way to learn guitar
how do i tie a tie
is a tomato a fruit
let's play a game
what language do they speak in brazil
how many bones are in the human body
my daughter got a new puppy
define the word serendipity
who is the president of france
thanks for nothing
i need a vacation
what's the population of canada
how do you make pancakes
what's a good name for a goldfish
how deep is the ocean
where do rainbows come from
my phone screen cracked
what time does the bakery open on sundays
recommend a movie for tonight
i can't find my keys
who discovered penicillin
how many continents are there
should i wear a jacket to the party
what's your name
how long do elephants live
the train was late again today
is it rude to text during dinner
what is the tallest building in the world
my computer is running slowly
what's a synonym for happy
how do i get a stain out of a shirt
who won the world cup in two thousand ten
how are rainbows formed
i just finished a marathon
can you keep a secret
what do you think about football
how many stars are in the sky
what happened in the news today
my brother is getting married
what's the longest river in africa
tell me a riddle
is the earth flat
what's the square root of sixty four
i'm learning to bake bread
who is your creator
what are the rules of chess
how hot is the sun
my plants keep dying
where was shakespeare born
what colour is a flamingo
why do leaves change colour in autumn
do you ever get tired
how old is the oldest tree
hum a little tune for me
why do dogs wag their tails
how many eyes does a bee have
how does a compass work
you are my best friend
am i talking to a person
what is seven times eight
how long would it take to walk to paris
tell me about ancient egypt
who sculpted the statue of david
how do antibiotics work
what rhymes with purple
how high can an eagle fly
what is the point of it all
which pharmacy is open late
how do you say goodbye in italian
"""


# -- perturbed test sentences ------------------------------------------------------------------
# Five ways a spoken or typed command strays from the templates, each built from HA's own test
# sentences by a general rule (nothing here is chosen for a test sentence):
#   drop     one word left out, at a random position;
#   filler   a filler said before, inside or after the command ("please", "could you", "um");
#   synonym  one ordinary English word replaced by a synonym from SYNONYMS (not inside a name of
#            the home);
#   order    two neighbouring words swapped;
#   sound    one word respelt as it sounds (SOUND_RULES), the new spelling keeping the word's
#            Soundex code: what a recogniser that heard the right sounds might write.
PERTURBATIONS = ("drop", "filler", "synonym", "order", "sound")
FILLER_BEFORE = ("please", "could you", "can you", "hey", "um", "uh", "would you", "i want to")
FILLER_INSIDE = ("um", "uh", "like", "er")
FILLER_AFTER = ("please", "thanks", "now", "thank you")
# Ordinary English synonyms (either direction where both are words people use for the other).
SYNONYMS = {
    "turn": "flip", "switch": "flick", "start": "begin", "stop": "halt", "close": "shut",
    "shut": "close", "lock": "secure", "unlock": "unbolt", "set": "put", "make": "get",
    "increase": "raise", "decrease": "reduce", "raise": "increase", "lower": "reduce",
    "what": "which", "what's": "what is",
    "lights": "lamps", "light": "lamp", "lamp": "light", "house": "home", "home": "house",
    "minutes": "mins", "minute": "min", "seconds": "secs", "second": "sec", "hours": "hrs",
    "timer": "countdown", "temperature": "temp", "current": "present", "pause": "hold",
    "resume": "continue", "continue": "resume", "next": "following", "previous": "prior",
    "volume": "loudness", "play": "put on", "add": "put", "remove": "delete", "hot": "warm",
    "cold": "chilly", "wet": "damp", "running": "working",
    "brightness": "brightness level", "dim": "darken", "brighten": "lighten", "room": "space",
    "weather": "forecast", "cancel": "call off", "check": "look at", "show": "tell",
    "tell": "show", "left": "remaining", "everywhere": "all over",
    "activate": "enable", "deactivate": "disable", "door": "doorway", "window": "pane",
    "detected": "sensed", "triggered": "tripped",
}
# Spelling-to-sound respellings (regex on a lower-case word -> replacement).
SOUND_RULES = (
    (r"ph", "f"), (r"ck", "k"), (r"c(?=[aou])", "k"), (r"ight", "ite"), (r"ee", "ea"),
    (r"ea", "ee"), (r"oo", "u"), (r"(?<=\w)s$", "z"), (r"([bdfglmnprt])\1", r"\1"),
    (r"(?<=[aeiou])([bdfglmnprt])(?=[aeiou])", r"\1\1"), (r"y$", "ie"), (r"ie$", "y"),
    (r"^wh", "w"), (r"x", "ks"), (r"qu", "kw"), (r"ou", "ow"), (r"er$", "a"), (r"tion", "shun"),
)


def soundex(word: str) -> str:
    """American Soundex: the first letter and three digits ("robert" -> "r163")."""
    codes = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
             "l": "4", **dict.fromkeys("mn", "5"), "r": "6"}
    letters = [c for c in word.lower() if c.isalpha()]
    if not letters:
        return ""
    out, last = letters[0], codes.get(letters[0], "")
    for c in letters[1:]:
        code = codes.get(c, "")
        if code and code != last:
            out += code
        if c not in "hw":
            last = code
    return (out + "000")[:4]


def perturb(sentence: str, kind: str, rng: random.Random, protected=()) -> str | None:
    """The sentence with one `kind` perturbation (see PERTURBATIONS), drawn with rng; None when
    the rule has nothing to change (a one-word sentence to drop from, no word with a synonym or
    a sound-alike). `protected`: lower-case word sequences (names of the home) that the synonym
    rule leaves alone. Punctuation at the end is dropped first, as a recogniser writes it."""
    words = sentence.strip().rstrip("?!.").split()
    if kind == "drop":
        if len(words) < 2:
            return None
        del words[rng.randrange(len(words))]
    elif kind == "filler":
        where = rng.choice(("before", "inside", "after")) if len(words) > 1 else rng.choice(("before", "after"))
        if where == "before":
            words.insert(0, rng.choice(FILLER_BEFORE))
        elif where == "after":
            words.append(rng.choice(FILLER_AFTER))
        else:
            words.insert(rng.randrange(1, len(words)), rng.choice(FILLER_INSIDE))
    elif kind == "synonym":
        low = [w.lower() for w in words]
        guarded = set()
        for name in protected:
            n = len(name.split())
            guarded |= {j for i in range(len(low) - n + 1) if low[i:i + n] == name.split() for j in range(i, i + n)}
        options = [i for i, w in enumerate(low) if w in SYNONYMS and i not in guarded]
        if not options:
            return None
        i = rng.choice(options)
        words[i] = SYNONYMS[low[i]]
    elif kind == "order":
        if len(words) < 2:
            return None
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == "sound":
        options = []
        for i, w in enumerate(words):
            low = w.lower()
            if len(low) < 3 or not low.isalpha():
                continue
            for pattern, repl in SOUND_RULES:
                new = re.sub(pattern, repl, low, count=1)
                if new != low and soundex(new) == soundex(low):
                    options.append((i, new))
        if not options:
            return None
        i, new = rng.choice(options)
        words[i] = new
    else:
        raise ValueError(f"unknown perturbation {kind!r}; expected one of {', '.join(PERTURBATIONS)}")
    out = " ".join(words)
    return out if out.lower() != sentence.strip().rstrip("?!.").lower() else None


def perturbed_tests(tests: list[dict], kind: str, seed: int = 0, protected=()) -> list[dict]:
    """The tests whose sentence `kind` can change, each with its perturbed sentence (the expected
    intent and context kept). Seeded per sentence: the same seed gives the same sets, whatever
    the order or number of tests."""
    out = []
    for t in tests:
        rng = random.Random(f"{seed}|{kind}|{t['file']}|{t['sentence']}")
        new = perturb(t["sentence"], kind, rng, protected)
        if new is not None:
            out.append({**t, "sentence": new, "original": t["sentence"]})
    return out


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def load_tests(tests_dir: Path) -> list[dict]:
    """Every test sentence: {sentence, intent, slots, context, file}."""
    out = []
    for f in sorted(tests_dir.glob("*.yaml")):
        if f.name == "_fixtures.yaml":
            continue
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        for test in doc.get("tests") or []:
            intent = test["intent"]
            for sentence in test.get("sentences") or []:
                out.append({"sentence": str(sentence), "intent": intent["name"],
                            "slots": dict(intent.get("slots") or {}),
                            "context": dict(intent.get("context") or {}), "file": f.name})
    return out


def _same(expected, actual) -> bool:
    """One slot value as HA's test compares it; numbers also match their digit strings."""
    if isinstance(expected, list):
        return any(_same(e, actual) for e in expected)
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return float(actual) == float(expected)
        except (TypeError, ValueError):
            return False
    return str(expected) == str(actual)


def slots_exact(expected: dict, actual: dict) -> bool:
    """Same slot names, every value equal (HA's test: no missing and no extra slot)."""
    return set(expected) == set(actual) and all(_same(v, actual[k]) for k, v in expected.items())


class HassilRunner:
    """HA's matcher over the same templates and test home, slot lists built as HA's test does
    (shared.get_slot_lists: entity context = domain + attributes); recognize_best, which prefers
    literal words over wildcards as Home Assistant's agent does."""
    name = "hassil (HA's matcher)"

    def __init__(self, data: Path):
        from hassil import Intents, TextSlotList, is_template, merge_dict, parse_sentence, sample_expression

        def variants(name: str) -> list[str]:   # fixture names may be templates: "Trader Joe[']s"
            name = name.strip()
            if not is_template(name):
                return [name]
            return [v.strip() for v in sample_expression(parse_sentence(name).expression)]

        merged: dict = {}
        for f in sorted((data / "sentences-en").rglob("*.yaml")):
            merge_dict(merged, yaml.safe_load(f.read_text(encoding="utf-8")))
        self.intents = Intents.from_dict(merged)
        fixtures = yaml.safe_load((data / "tests-en" / "_fixtures.yaml").read_text(encoding="utf-8"))
        self.slot_lists = {
            "area": TextSlotList.from_strings(v for a in fixtures.get("areas", []) for v in variants(a["name"])),
            "floor": TextSlotList.from_strings(v for f in fixtures.get("floors", []) for v in variants(f["name"])),
            "name": TextSlotList.from_tuples(
                (v, v, {"domain": e["id"].split(".", 1)[0], **(e.get("attributes") or {})})
                for e in fixtures["entities"] for v in variants(e["name"])),
        }

    def __call__(self, text: str, context: dict) -> tuple[str | None, dict]:
        from hassil import recognize_best

        r = recognize_best(text, self.intents, slot_lists=self.slot_lists, intent_context=context or None)
        if r is None:
            return None, {}
        return r.intent.name, {e.name: e.value for e in r.entities.values()}


class SafuRunner:
    """safu's predict(text, context); `answers` replaces the model's Home Assistant answer tables
    (None: the model alone)."""

    def __init__(self, model, answers=None, name="safu"):
        model.answers = answers
        self.model, self.name = model, name

    def __call__(self, text: str, context: dict) -> tuple[str | None, dict]:
        p = self.model.predict(text, context=context or None)
        return p.intent, dict(p.slots)


def run(runner, tests: list[dict], chats: dict[str, list[str]]) -> dict:
    intent_ok = slots_ok = 0
    errors = []
    times = []
    for t in tests:
        t0 = time.perf_counter()
        intent, slots = runner(t["sentence"], t["context"])
        times.append(time.perf_counter() - t0)
        ok_i = intent == t["intent"]
        ok_s = ok_i and slots_exact(t["slots"], slots)
        intent_ok += ok_i
        slots_ok += ok_s
        if not ok_s:
            errors.append((t, intent, slots))
    false_accepts = {}
    for label, sentences in chats.items():
        false_accepts[label] = sum(runner(s, {})[0] is not None for s in sentences)
    times.sort()
    return {"intent": intent_ok / len(tests), "slots": slots_ok / len(tests), "errors": errors,
            "false_accepts": false_accepts, "median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))]}


def train_model(data: Path, out: Path, max_sentences: int | None) -> float:
    from safu.runtime.api import train

    t0 = time.process_time()
    model = train([data / "sentences-en"], output=out, inventory=data / "tests-en" / "_fixtures.yaml",
                  max_sentences_per_intent=max_sentences)
    for line in model.stats.get("report", []):
        print(f"  {line}", file=sys.stderr)
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the home-assistant-intents folder")
    ap.add_argument("--model", type=Path, help="a model trained from the same templates and inventory "
                                               "(default: train one, safu train defaults)")
    ap.add_argument("--save", type=Path, help="keep the trained model here")
    ap.add_argument("--max-sentences", type=int, help="training sentences per intent (default: safu's)")
    ap.add_argument("--refit-answers", action="store_true",
                    help="fit the HA answer tables from the templates even if the model stores them")
    ap.add_argument("--no-hassil", action="store_true", help="skip hassil even when installed")
    ap.add_argument("--backend", default="auto", help="safu backend: auto, core or numpy")
    ap.add_argument("--errors", type=int, default=0, help="print this many wrong answers per row")
    ap.add_argument("--perturb", action="store_true",
                    help="also score intent accuracy on HA's test sentences perturbed five ways "
                         f"({', '.join(PERTURBATIONS)}), every row side by side")
    ap.add_argument("--seed", type=int, default=0, help="seed of the perturbed sentences (default 0)")
    args = ap.parse_args(argv)

    from safu.runtime.api import load, out_of_scope_sentences
    from safu.runtime.datasets.inventory import load_inventory

    data = args.data
    if not (data / "tests-en").is_dir() or not (data / "sentences-en").is_dir():
        print(f"error: {data}: expected sentences-en/ and tests-en/ (HA's intents repository data)",
              file=sys.stderr)
        return 2
    tests = load_tests(data / "tests-en")
    chats = {"shipped (in calibration)": out_of_scope_sentences(),
             "held-out chit-chat": [s for s in HELD_OUT_CHAT.splitlines() if s.strip()]}
    overlap = set(chats["held-out chit-chat"]) & set(chats["shipped (in calibration)"])
    if overlap:
        print(f"error: held-out sentences are in the shipped list: {sorted(overlap)[:3]}", file=sys.stderr)
        return 2

    train_note = "given"
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            path = args.save or Path(tmp) / "ha.safu"
            cpu = train_model(data, path, args.max_sentences)
            train_note = f"trained in {cpu:.0f} CPU s"
        model = load(path, backend=args.backend)
        stored = model.answers
        plain = load(path, backend=args.backend)

    runners = [SafuRunner(plain, None, "safu, model alone")]
    try:
        from safu.runtime.ha_answers import HomeAssistantAnswers
    except ImportError:
        HomeAssistantAnswers = None
    if stored is not None and not args.refit_answers:
        runners.append(SafuRunner(model, stored, "safu + HA answers (stored in the model)"))
    elif HomeAssistantAnswers is not None:
        inventory = load_inventory(data / "tests-en" / "_fixtures.yaml")
        t0 = time.process_time()
        answers = HomeAssistantAnswers.from_templates([data / "sentences-en"], inventory)
        print(f"  answer tables fitted in {time.process_time() - t0:.1f} CPU s", file=sys.stderr)
        runners.append(SafuRunner(model, answers, "safu + HA answers"))
    hassil_note = ""
    if not args.no_hassil:
        try:
            runners.append(HassilRunner(data))
        except ImportError:
            hassil_note = "hassil is not installed (pip install hassil): no hassil row"

    results = [(r.name, run(r, tests, chats)) for r in runners]
    n_chat = {k: len(v) for k, v in chats.items()}
    print(f"\nHome Assistant English tests: {len(tests):,} sentences, "
          f"{sum(bool(t['context']) for t in tests)} with context; safu model {train_note}, "
          f"{'C++ core' if type(model._forward).__module__.startswith('safu._core') else 'numpy'} "
          f"forward pass; hassil {_version('hassil')}\n")
    print("| | intent | exact slots | false accepts, shipped OOS "
          f"({n_chat['shipped (in calibration)']}, in calibration) | false accepts, held-out chat "
          f"({n_chat['held-out chit-chat']}) | median ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results:
        fa = r["false_accepts"]
        print(f"| {name} | {r['intent']:.3f} | {r['slots']:.3f} | {fa['shipped (in calibration)']} | "
              f"{fa['held-out chit-chat']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} |")
    if hassil_note:
        print(f"\n{hassil_note}")
    if args.perturb:
        inventory = load_inventory(data / "tests-en" / "_fixtures.yaml")
        protected = sorted({" ".join(s.lower().split()) for group in (inventory.entities, inventory.areas, inventory.floors)
                            for x in group for s in [x.name, *x.aliases, *getattr(x, "spellings", [])]})
        sets = [(kind, perturbed_tests(tests, kind, args.seed, protected)) for kind in PERTURBATIONS]
        print(f"\nIntent accuracy on HA's test sentences perturbed (seed {args.seed}; a sentence the rule "
              "cannot change is left out):\n")
        print("| perturbation | sentences | " + " | ".join(name for name, _r in results) + " |")
        print("|---|---|" + "---|" * len(results))
        print(f"| none (HA's tests) | {len(tests):,} | " + " | ".join(f"{r['intent']:.3f}" for _n, r in results) + " |")
        misses: dict[str, list] = {}
        focus = next((r for r in runners if "HA answers" in r.name), runners[0])
        for kind, group in sets:
            row = []
            for runner in runners:
                ok = 0
                for t in group:
                    intent = runner(t["sentence"], t["context"])[0]
                    ok += intent == t["intent"]
                    if intent != t["intent"] and runner is focus:
                        misses.setdefault(kind, []).append((t, intent))
                row.append(ok / max(1, len(group)))
            print(f"| {kind} | {len(group):,} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
        if args.errors:
            for kind, group in sets:
                wrong = misses.get(kind, [])
                print(f"\n{kind}: first {min(args.errors, len(wrong))} of {len(wrong)} intents wrong ({focus.name})")
                for t, intent in wrong[:args.errors]:
                    print(f"  {t['sentence']!r} (from {t['original']!r}): expected {t['intent']}, got {intent}")
    for name, r in results:
        if args.errors and r["errors"]:
            print(f"\n{name}: first {min(args.errors, len(r['errors']))} of {len(r['errors'])} wrong")
            for t, intent, slots in r["errors"][:args.errors]:
                ctx = f" context={t['context']}" if t["context"] else ""
                print(f"  {t['sentence']!r}{ctx}: expected {t['intent']} {t['slots']}, got {intent} {slots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Export an intent model as a C project for microcontrollers (and any C99 target).

    safu export model.safu --c out/            # float32 weights
    safu export model.safu --c out/ --int8     # int8 weights, one float32 scale per row

    from safu.export.c_export import export_c
    export_c("model.safu", "out/", int8=False, utterances=["turn on the light"])

The output directory is a self-contained CMake project: the generated `safu_model.h/.c` (dims as
macros, weights as const arrays that the linker puts in flash, the sorted vocabulary for binary
search, labels, synonyms, the test utterances), the runtime template from `c_runtime/`
(`safu_mcu.c/.h`, no heap, no libm), Cortex-M start-up and linker script (`boards/`) and CMake
toolchain files (`toolchains/`). See the project's CMakeLists.txt for build commands.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .intent_tensors import IntentTensors, load_intent_tensors, EOD, NUM, PAD, SOD, UNK
from .model_file import write_file_atomic

RUNTIME_DIR = Path(__file__).resolve().parent / "c_runtime"
RUNTIME_FILES = ("safu_mcu.h", "safu_mcu.c", "safu_app.h", "safu_app.c", "host_main.c",
                 "CMakeLists.txt", "compare_output.cmake")
BOARD_FILES = ("startup.c", "board_main.c", "cortex_m.ld.in")   # in c_runtime/boards/
TOOLCHAIN_DIR = RUNTIME_DIR / "toolchains"   # CMake toolchain files: Cortex-M3/M4F/M7, aarch64 and armhf Linux

# Used when neither --utterances nor training sentences in the model give test inputs.
DEFAULT_UTTERANCES = (
    "turn on the kitchen lights",
    "switch off the bedroom lamp",
    "set the thermostat to 21.5 degrees",
    "what's the temperature in the living room",
    "open the garage door",
    "play some music",
)
MAX_DEFAULT_UTTERANCES = 12
MAX_UTTERANCE_BYTES = 1000   # the UART line buffer on the board is 1024 bytes



# ---------------------------------------------------------------- C literal helpers


def c_string(s: str) -> str:
    """A C string literal for the UTF-8 bytes of s (octal escapes for anything not plain ASCII)."""
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if 0x20 <= b < 0x7F and ch not in '"\\?':
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _float_literal(x: float) -> str:
    if not np.isfinite(x):
        raise ValueError(f"non-finite weight {x} cannot be exported")
    text = f"{float(np.float32(x)):.9g}"   # 9 significant digits round-trip a float32
    if not any(ch in text for ch in ".en"):
        text += ".0"                        # "0" -> "0.0f": an integer literal takes no f suffix
    return text + "f"


def _array(ctype: str, name: str, values: np.ndarray, per_line: int = 8) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return f"const {ctype} {name}[1] = {{0}};\n"
    if flat.dtype == np.float32:
        items = [_float_literal(v) for v in flat.tolist()]
    else:
        items = [str(int(v)) for v in flat.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return f"const {ctype} {name}[{flat.size}] = {{\n  " + ",\n  ".join(lines) + "\n};\n"


def _string_table(name: str, strings: list[str]) -> str:
    if not strings:
        return f"const char *const {name}[1] = {{\"\"}};\n"
    body = ",\n  ".join(c_string(s) for s in strings)
    return f"const char *const {name}[{len(strings)}] = {{\n  {body}\n}};\n"


# ---------------------------------------------------------------- generation


def _slot_names(spec: IntentTensors) -> list[str]:
    return sorted({lab[2:] for lab in spec.slot_labels[1:]})


def _slot_values(spec: IntentTensors) -> list[tuple[list[int], int, int]]:
    """slot.values as distinct (token ids, B-x label, I-x label), in file order (checked at load)."""
    from safu.models.tokenizer import Vocabulary

    vocab = Vocabulary(spec.vocab)
    index = {lab: i for i, lab in enumerate(spec.slot_labels)}
    out, seen = [], set()
    for entry in spec.metadata.get("slot.values", []) or []:
        name, surface = entry.split("\t")
        value = ([vocab.lookup(t) for t in surface.split(" ")], index[f"B-{name}"], index[f"I-{name}"])
        key = (tuple(value[0]), value[1])
        if key not in seen:          # "party of 7" and "party of 8" are both "party of <num>"
            seen.add(key)
            out.append(value)
    return out


def generate_model_sources(spec: IntentTensors, utterances: list[str]) -> tuple[str, str]:
    """Return (safu_model.h, safu_model.c) text for a validated model."""
    names = _slot_names(spec)
    values = _slot_values(spec)
    id_type = "uint16_t" if spec.n_vocab <= 0xFFFF else "uint32_t"
    # the lookup table: every token and every alias (tokenizer.aliases), sorted by bytes, with its id
    aliases = zip(spec.metadata.get("tokenizer.aliases", []) or [], spec.metadata.get("tokenizer.alias_ids", []) or [])
    entries = sorted([(t, i) for i, t in enumerate(spec.vocab)] + [(w, int(i)) for w, i in aliases],
                     key=lambda e: e[0].encode("utf-8"))
    i8 = {n: spec.is_int8(n) for n in ("token_table", "slot_U", "intent_U")}

    h = [
        "/* safu_model.h: generated by safu.export.c_export; do not edit. */",
        "#ifndef SAFU_MODEL_H", "#define SAFU_MODEL_H", "#include <stdint.h>", "",
        f"#define SAFU_N_VOCAB {spec.n_vocab}",
        f"#define SAFU_N_ENTRIES {len(entries)}  /* tokens and aliases in the lookup table */",
        f"#define SAFU_DIM {spec.dim}",
        f"#define SAFU_SLOT_RADIUS {spec.slot_radius}",
        f"#define SAFU_SLOT_K {spec.slot_k}",
        f"#define SAFU_MAX_TOKENS {spec.max_tokens}",
        f"#define SAFU_INTENT_K {spec.intent_k}",
        f"#define SAFU_BIGRAM_BUCKETS {spec.bigram_buckets}",
        f"#define SAFU_N_INTENTS {spec.n_intents}",
        f"#define SAFU_N_SLOT_LABELS {spec.n_slot_labels}",
        f"#define SAFU_N_SLOT_NAMES {len(names)}",
        f"#define SAFU_N_SYNONYMS {len(spec.synonyms)}",
        f"#define SAFU_N_UTTERANCES {len(utterances)}",
        f"#define SAFU_ID_PAD {PAD}", f"#define SAFU_ID_SOD {SOD}", f"#define SAFU_ID_EOD {EOD}",
        f"#define SAFU_ID_UNK {UNK}", f"#define SAFU_ID_NUM {NUM}",
        f"#define SAFU_TOKEN_TABLE_I8 {int(i8['token_table'])}",
        f"#define SAFU_SLOT_U_I8 {int(i8['slot_U'])}",
        f"#define SAFU_INTENT_U_I8 {int(i8['intent_U'])}",
        f"#define SAFU_HAS_SLOT_ALLOWED {int('slot_allowed' in spec.tensors)}",
        f"#define SAFU_HAS_SLOT_TRANSITIONS {int('slot_transitions' in spec.tensors)}",
        f"#define SAFU_HAS_SLOT_CASE {int('slot_case' in spec.tensors)}",
        f"#define SAFU_N_VALUES {len(values)}",
        "/* index of the explicit out-of-scope intent <none>, or -1 */",
        f"#define SAFU_NONE_INTENT {spec.intent_labels.index('<none>') if '<none>' in spec.intent_labels else -1}",
        f"typedef {id_type} safu_id_t;", "",
        "extern const float safu_intent_threshold;",
    ]
    for n in ("token_table", "slot_U", "intent_U"):
        if i8[n]:
            h += [f"extern const int8_t safu_{n}[];", f"extern const float safu_{n}_scale[];"]
        else:
            h += [f"extern const float safu_{n}[];"]
    h += [
        "extern const float safu_slot_W[];      /* (K_s, K_s) */",
        "extern const float safu_slot_b[];      /* (S,) */",
        "extern const float safu_intent_W[];    /* (K_i, K_i) */",
        "extern const float safu_intent_b[];    /* (C,) */",
        "extern const char safu_vocab_text[];   /* sorted entries, each NUL-terminated */",
        "extern const uint32_t safu_vocab_offset[];  /* (N,) start of the i-th sorted entry */",
        "extern const safu_id_t safu_vocab_id[];     /* (N,) token id of the i-th sorted entry */",
        "extern const char *const safu_intent_labels[];",
        "extern const char *const safu_slot_names[];",
        "extern const int8_t safu_slot_label_kind[];  /* (S,) 0 = O, 1 = B-x, 2 = I-x */",
        "extern const int16_t safu_slot_label_slot[]; /* (S,) index into safu_slot_names, -1 for O */",
        "extern const uint8_t safu_slot_trim_possessive[];  /* per slot name: 1 = spans leave a final \"'s\" out */",
        "extern const uint8_t safu_slot_allowed[];    /* (C, S) 1 = intent c uses slot label s */",
        "extern const float safu_slot_transitions[];  /* (S+1, S) Viterbi scores, row 0 = start */",
        "extern const float safu_value_bonus;         /* slot.value_bonus */",
        "extern const float safu_slot_case[];         /* (5, S) letter-case scores, row = flag bit */",
        "extern const safu_id_t safu_value_ids[];     /* known slot values as token ids, back to back */",
        "extern const uint32_t safu_value_offset[];   /* (V+1,) value v is ids[offset[v] .. offset[v+1]) */",
        "extern const int16_t safu_value_label[];     /* (V, 2) its B-x and I-x label */",
        "extern const int16_t safu_synonym_slot[];",
        "extern const char *const safu_synonym_surface[];",
        "extern const char *const safu_synonym_value[];",
        "extern const char *const safu_utterances[];",
        "", "#endif", "",
    ]

    c = ["/* safu_model.c: generated by safu.export.c_export from "
         f"{os.path.basename(spec.source)}; do not edit. */",
         '#include "safu_model.h"', "",
         f"const float safu_intent_threshold = {_float_literal(spec.threshold)};", ""]
    shapes = {"token_table": "(N, D)", "slot_U": "(K_s*D + N, S)", "intent_U": "(N + B + 2D, C)"}
    for n in ("token_table", "slot_U", "intent_U"):
        t = spec.tensors[n]
        c.append(f"/* {n} {shapes[n]} = {tuple(t.shape)} */")
        if i8[n]:
            c.append(_array("int8_t", f"safu_{n}", t, 16))
            c.append(_array("float", f"safu_{n}_scale", spec.tensors[n + ".scale"]))
        else:
            c.append(_array("float", f"safu_{n}", t))
    for n in ("slot_W", "slot_b", "intent_W", "intent_b"):
        c.append(_array("float", f"safu_{n}", spec.tensors[n]))

    blob, offsets = [], []
    pos = 0
    for text, _ in entries:
        offsets.append(pos)
        blob.append(c_string(text) + ' "\\000"')
        pos += len(text.encode("utf-8")) + 1
    c.append("const char safu_vocab_text[] =\n  " + "\n  ".join(blob) + ";\n")
    c.append(_array("uint32_t", "safu_vocab_offset", np.array(offsets, dtype=np.uint32)))
    c.append(_array("safu_id_t", "safu_vocab_id", np.array([i for _, i in entries], dtype=np.uint32), 16))
    c.append(_string_table("safu_intent_labels", spec.intent_labels))
    c.append(_string_table("safu_slot_names", names))
    trim = set(spec.metadata.get("slot.trim_possessive", []))
    c.append(_array("uint8_t", "safu_slot_trim_possessive", np.array([n in trim for n in names], dtype=np.int32), 32))
    kinds = [0] + [1 if lab.startswith("B-") else 2 for lab in spec.slot_labels[1:]]
    slots = [-1] + [names.index(lab[2:]) for lab in spec.slot_labels[1:]]
    c.append(_array("int8_t", "safu_slot_label_kind", np.array(kinds, dtype=np.int32), 16))
    c.append(_array("int16_t", "safu_slot_label_slot", np.array(slots, dtype=np.int32), 16))
    allowed = spec.tensors.get("slot_allowed")
    allowed = (np.asarray(allowed) > 0).astype(np.int32) if allowed is not None else np.zeros(0, np.int32)
    c.append(_array("uint8_t", "safu_slot_allowed", allowed, 32))
    c.append(f"const float safu_value_bonus = {_float_literal(float(spec.metadata.get('slot.value_bonus', 0.0)))};")
    flat = [i for v in values for i in v[0]]
    c.append(_array("safu_id_t", "safu_value_ids", np.array(flat, dtype=np.uint32), 16))
    value_offsets = np.cumsum([0] + [len(v[0]) for v in values]).astype(np.uint32)
    c.append(_array("uint32_t", "safu_value_offset", value_offsets, 16))
    value_labels = np.array([[b, i] for _, b, i in values], dtype=np.int32).reshape(-1)
    c.append(_array("int16_t", "safu_value_label", value_labels, 16))
    trans = spec.tensors.get("slot_transitions")
    c.append(_array("float", "safu_slot_transitions",
                    np.asarray(trans, np.float32) if trans is not None else np.zeros(0, np.float32)))
    case = spec.tensors.get("slot_case")
    c.append(_array("float", "safu_slot_case",
                    np.asarray(case, np.float32) if case is not None else np.zeros(0, np.float32)))
    syn = [s for s in spec.synonyms if s[0] in names]
    c.append(_array("int16_t", "safu_synonym_slot",
                    np.array([names.index(s[0]) for s in syn], dtype=np.int32), 16))
    c.append(_string_table("safu_synonym_surface", [s[1] for s in syn]))
    c.append(_string_table("safu_synonym_value", [s[2] for s in syn]))
    c.append(_string_table("safu_utterances", utterances))
    return "\n".join(h), "\n".join(c)


def default_utterances(spec: IntentTensors) -> list[str]:
    """Up to MAX_DEFAULT_UTTERANCES training sentences stored in the model (evenly spread), else
    DEFAULT_UTTERANCES."""
    sentences = spec.metadata.get("train.sentences")
    if isinstance(sentences, list) and sentences:
        step = max(1, len(sentences) // MAX_DEFAULT_UTTERANCES)
        return [s for s in sentences[::step] if s.strip()][:MAX_DEFAULT_UTTERANCES]
    return list(DEFAULT_UTTERANCES)


def check_export_dir(out_dir, force: bool = False) -> None:
    """Refuses to write into a non-empty directory (an existing project would be overwritten)
    unless `force`; raises FileExistsError naming the directory and an entry in it."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: not a directory (the C export writes a project folder)")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if entries and not force:
        raise FileExistsError(f"{out}: the export directory is not empty ({len(entries)} entries, e.g. "
                              f"{entries[0]!r}); its files would be overwritten: choose an empty or new "
                              f"directory, or pass --force (force=True) to overwrite")


def export_c(model, out_dir, int8: bool = False, utterances: list[str] | None = None,
             force: bool = False) -> list[Path]:
    """Write the C project for `model` (a path or an IntentTensors) into out_dir.

    Returns the written paths. Raises ModelFormatError / IntentSpecError for a bad model file,
    ValueError for an utterance with a NUL byte and FileExistsError if out_dir is not empty and
    `force` is false. Each file is written to a temp file and renamed (the umask's mode)."""
    check_export_dir(out_dir, force)
    spec = model if isinstance(model, IntentTensors) else load_intent_tensors(model)
    if int8:
        spec = spec.quantized()
    if utterances is None:
        utterances = default_utterances(spec)
    for i, u in enumerate(utterances):
        if any(ch in u for ch in "\0\n\r\x04"):
            raise ValueError(f"utterance {i + 1} contains a NUL, line break or EOT character")
        if len(u.encode("utf-8")) > MAX_UTTERANCE_BYTES:
            raise ValueError(f"utterance {i + 1} is longer than {MAX_UTTERANCE_BYTES} bytes")
    header, source = generate_model_sources(spec, list(utterances))

    out = Path(out_dir)
    (out / "boards").mkdir(parents=True, exist_ok=True)
    (out / "toolchains").mkdir(parents=True, exist_ok=True)
    written = []
    # The same utterances as UART input for the SAFU_UART board program: one per line, then EOT.
    uart_input = "".join(u + "\n" for u in utterances) + "\x04"
    for name, text in (("safu_model.h", header), ("safu_model.c", source), ("utterances_uart.txt", uart_input)):
        write_file_atomic(out / name, text.encode("utf-8"))
        written.append(out / name)
    for name in RUNTIME_FILES:
        write_file_atomic(out / name, (RUNTIME_DIR / name).read_bytes())
        written.append(out / name)
    for name in BOARD_FILES:
        write_file_atomic(out / "boards" / name, (RUNTIME_DIR / "boards" / name).read_bytes())
        written.append(out / "boards" / name)
    for src in sorted(TOOLCHAIN_DIR.glob("*.cmake")):
        write_file_atomic(out / "toolchains" / src.name, src.read_bytes())
        written.append(out / "toolchains" / src.name)
    return written

"""The table of bad intent-model files: valid container and CRCs, one bad key, range, shape or value.

    for case in CASES: path = case.write(tmp_path / f"{case.name}.safu")

Each case changes one thing in a valid random model (tests/cpp_model_fixtures.py) and names the
message both backends must give after "<path>: ", and the C++ exception class. Used by
tests/test_model_checks.py (numpy backend, API, exporters, `safu inspect`, C++ core) and by the
metadata fuzzer (tests/fuzz/fuzz_metadata.py) as seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from cpp_model_fixtures import random_intent_tensors
from safu.export.model_file import F64, I64, write_model_file
from safu.models.tokenizer import SPECIALS

# The base model: N = 36 tokens, D = 8, radius 2 (K_s = 5), max_tokens 12 (K_i = 14), B = 16,
# C = 4 intents, S = 7 slot labels.
N, D, KS, KI, B, C, S = 36, 8, 5, 14, 16, 4, 7


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[dict, dict], None]   # edits (metadata, tensors) in place
    message: str                           # after "<path>: "
    core_error: str = "FormatError"        # or "ShapeError"

    def build(self, seed: int = 0):
        meta, tensors = random_intent_tensors(seed)
        self.change(meta, tensors)
        return meta, tensors

    def write(self, path, seed: int = 0):
        meta, tensors = self.build(seed)
        write_model_file(path, meta, tensors)
        return path


def _set(key, value):
    def change(meta, tensors):
        meta[key] = value
    return change


def _drop_meta(key):
    def change(meta, tensors):
        del meta[key]
    return change


def _drop_tensor(name):
    def change(meta, tensors):
        del tensors[name]
    return change


def _tensor(name, value):
    def change(meta, tensors):
        tensors[name] = value
    return change


def _poke(name, index, value):
    def change(meta, tensors):
        t = tensors[name].copy()
        t.reshape(-1)[index] = value
        tensors[name] = t
    return change


def _vocab(edit):
    def change(meta, tensors):
        meta["tokenizer.vocab"] = edit(list(meta["tokenizer.vocab"]))
    return change


def _int8(name, scale_edit=None, q_edit=None):
    """Stores `name` as I8 + `.scale` (then edits the scale or the int8 values)."""
    def change(meta, tensors):
        x = tensors[name]
        scale = (np.abs(x).max(axis=1) / 127.0).astype(np.float32)
        q = np.clip(np.round(x / scale[:, None]), -127, 127).astype(np.int8)
        if q_edit:
            q_edit(q)
        if scale_edit:
            scale = scale_edit(scale)
        tensors[name] = q
        if scale is not None:
            tensors[name + ".scale"] = scale
    return change


def _scale_poke(index, value):
    def edit(scale):
        scale = scale.copy()
        scale[index] = value
        return scale
    return edit


def _labels(key, edit):
    def change(meta, tensors):
        meta[key] = edit(list(meta[key]))
    return change


def _both(*changes):
    def change(meta, tensors):
        for c in changes:
            c(meta, tensors)
    return change


def _row_of_127(q):
    q[0, :] = 127


CASES = [
    # general.kind
    Case("kind_missing", _drop_meta("general.kind"), "missing metadata key 'general.kind'"),
    Case("kind_lm", _set("general.kind", "lm"), "general.kind is 'lm', expected 'intent'"),
    Case("kind_not_a_string", _set("general.kind", 3), "metadata 'general.kind' is U32, expected STR"),
    # tokenizer.vocab
    Case("vocab_missing", _drop_meta("tokenizer.vocab"), "missing metadata key 'tokenizer.vocab'"),
    Case("vocab_numbers", _set("tokenizer.vocab", [1, 2, 3]),
         "metadata 'tokenizer.vocab' is U32_ARRAY, expected STR_ARRAY"),
    Case("vocab_too_short", _set("tokenizer.vocab", SPECIALS[:4]),
         "tokenizer.vocab has 4 entries, expected at least the 6 specials"),
    Case("vocab_specials_swapped", _vocab(lambda v: [v[1], v[0]] + v[2:]),
         "tokenizer.vocab[0] is '<sod>', expected '<pad>'"),
    Case("vocab_duplicate", _vocab(lambda v: v[:-1] + ["turn"]),
         "tokenizer.vocab has the token 'turn' twice (ids 6 and 35)"),
    # tokenizer.aliases / tokenizer.alias_ids (models/word_aliases.py)
    Case("aliases_without_ids", _set("tokenizer.aliases", ["lamps"]), "missing metadata key 'tokenizer.alias_ids'"),
    Case("alias_ids_without_words", _set("tokenizer.alias_ids", [7]), "missing metadata key 'tokenizer.aliases'"),
    Case("alias_ids_strings", _both(_set("tokenizer.aliases", ["lamps"]), _set("tokenizer.alias_ids", ["7"])),
         "metadata 'tokenizer.alias_ids' is STR_ARRAY, expected U32_ARRAY"),
    Case("aliases_count_mismatch", _both(_set("tokenizer.aliases", ["lamps", "fans"]), _set("tokenizer.alias_ids", [7])),
         "tokenizer.aliases has 2 entries but tokenizer.alias_ids 1"),
    Case("alias_is_a_token", _both(_set("tokenizer.aliases", ["lamps", "turn"]), _set("tokenizer.alias_ids", [7, 8])),
         "tokenizer.aliases[1] 'turn' is empty, a token or repeated, expected a new word"),
    Case("alias_repeated", _both(_set("tokenizer.aliases", ["lamps", "lamps"]), _set("tokenizer.alias_ids", [7, 8])),
         "tokenizer.aliases[1] 'lamps' is empty, a token or repeated, expected a new word"),
    Case("alias_empty", _both(_set("tokenizer.aliases", [""]), _set("tokenizer.alias_ids", [7])),
         "tokenizer.aliases[0] '' is empty, a token or repeated, expected a new word"),
    Case("alias_id_special", _both(_set("tokenizer.aliases", ["lamps"]), _set("tokenizer.alias_ids", [4])),
         f"tokenizer.alias_ids[0] is 4, expected a word id in [6, {N})"),
    Case("alias_id_outside", _both(_set("tokenizer.aliases", ["lamps"]), _set("tokenizer.alias_ids", [N])),
         f"tokenizer.alias_ids[0] is {N}, expected a word id in [6, {N})"),
    # dims and ranges (the numpy backend used to hang, grow memory or try 16 GiB on these)
    Case("dim_missing", _drop_meta("model.dim"), "missing metadata key 'model.dim'"),
    Case("dim_zero", _set("model.dim", 0), "model.dim is 0, expected 1..65536", "ShapeError"),
    Case("dim_huge", _set("model.dim", 70000), "model.dim is 70000, expected 1..65536", "ShapeError"),
    Case("dim_negative", _set("model.dim", I64(-8)), "metadata 'model.dim' is I64, expected U32"),
    Case("dim_float", _set("model.dim", 8.0), "metadata 'model.dim' is F32, expected U32"),
    Case("dim_as_i64_is_accepted_but_wrong", _set("model.dim", I64(9)),
         f"tensor 'token_table' has shape ({N}, 8), expected ({N}, 9)", "ShapeError"),
    Case("max_tokens_zero", _set("tokenizer.max_tokens", 0), "tokenizer.max_tokens is 0, expected 1..65536",
         "ShapeError"),
    Case("max_tokens_huge", _set("tokenizer.max_tokens", 2**32 - 1),
         "tokenizer.max_tokens is 4294967295, expected 1..65536", "ShapeError"),
    Case("radius_2_32_minus_1", _set("slot.radius", 2**32 - 1), "slot.radius is 4294967295, expected 0..64",
         "ShapeError"),
    Case("radius_65", _set("slot.radius", 65), "slot.radius is 65, expected 0..64", "ShapeError"),
    Case("radius_missing", _drop_meta("slot.radius"), "missing metadata key 'slot.radius'"),
    Case("buckets_huge", _set("intent.bigram_buckets", 2**32 - 1),
         "intent.bigram_buckets is 4294967295, expected <= 2^24", "ShapeError"),
    Case("buckets_2_24_plus_1", _set("intent.bigram_buckets", 2**24 + 1),
         "intent.bigram_buckets is 16777217, expected <= 2^24", "ShapeError"),
    Case("buckets_i64_too_big", _set("intent.bigram_buckets", I64(2**33)),
         "metadata 'intent.bigram_buckets' is I64, expected U32"),
    Case("buckets_disagree_with_intent_U", _set("intent.bigram_buckets", 32),
         f"tensor 'intent_U' has shape ({N + B + 2 * D}, {C}), expected ({N + 32 + 2 * D}, {C})", "ShapeError"),
    # labels
    Case("intent_labels_missing", _drop_meta("intent.labels"), "missing metadata key 'intent.labels'"),
    Case("intent_labels_empty", _set("intent.labels", []), "intent.labels is empty", "ShapeError"),
    Case("intent_labels_numbers", _set("intent.labels", [0, 1]),
         "metadata 'intent.labels' is U32_ARRAY, expected STR_ARRAY"),
    Case("slot_labels_empty", _set("slot.labels", []), "slot.labels must start with 'O'", "ShapeError"),
    Case("slot_labels_no_O_first", _labels("slot.labels", lambda v: v[1:] + v[:1]),
         "slot.labels must start with 'O'", "ShapeError"),
    Case("slot_label_bad_prefix", _labels("slot.labels", lambda v: v[:1] + ["X-area"] + v[2:]),
         "slot label 'X-area' is not O, B-<slot> or I-<slot>"),
    Case("slot_label_no_name", _labels("slot.labels", lambda v: v[:1] + ["B-"] + v[2:]),
         "slot label 'B-' is not O, B-<slot> or I-<slot>"),
    Case("slot_labels_disagree_with_slot_U", _labels("slot.labels", lambda v: v + ["B-extra"]),
         f"tensor 'slot_U' has shape ({KS * D + N}, {S}), expected ({KS * D + N}, {S + 1})", "ShapeError"),
    # threshold
    Case("threshold_missing", _drop_meta("intent.threshold"), "missing metadata key 'intent.threshold'"),
    Case("threshold_nan", _set("intent.threshold", float("nan")),
         "intent.threshold is NaN, expected a probability in 0..1"),
    Case("threshold_inf", _set("intent.threshold", F64(float("inf"))),
         "intent.threshold is inf, expected a probability in 0..1"),
    Case("threshold_f64_overflows_float", _set("intent.threshold", F64(1e300)),
         "intent.threshold is inf, expected a probability in 0..1"),
    Case("threshold_negative", _set("intent.threshold", -0.5),
         "intent.threshold is -0.5, expected a probability in 0..1"),
    Case("threshold_above_one", _set("intent.threshold", 1.5),
         "intent.threshold is 1.5, expected a probability in 0..1"),
    Case("threshold_integer", _set("intent.threshold", 1), "metadata 'intent.threshold' is U32, expected F32"),
    # synonyms
    Case("synonym_without_tabs", _set("slot.synonyms", ["area living room living_room"]),
         "slot.synonyms entry 'area living room living_room' is not slot\\tsurface\\tvalue"),
    Case("synonym_with_three_tabs", _set("slot.synonyms", ["area\tliving room\tliving_room\textra"]),
         "slot.synonyms entry 'area\\tliving room\\tliving_room\\textra' is not slot\\tsurface\\tvalue"),
    Case("synonym_with_a_nul", _set("slot.synonyms", ["area\tliving r\0\x01oom"]),
         "slot.synonyms entry 'area\\tliving r\\x00\\x01oom' is not slot\\tsurface\\tvalue"),
    Case("vocab_special_with_control_bytes", _vocab(lambda v: v[:2] + ["<frg>\n\x7f"] + v[3:]),
         "tokenizer.vocab[2] is '<frg>\\n\\x7f', expected '<frg>'"),
    Case("kind_with_a_nul", _set("general.kind", "intent\0"), "general.kind is 'intent\\x00', expected 'intent'"),
    Case("synonyms_not_strings", _set("slot.synonyms", [1, 2]),
         "metadata 'slot.synonyms' is U32_ARRAY, expected STR_ARRAY"),
    # known slot values
    Case("slot_value_of_an_unknown_slot", _set("slot.values", ["colour\tred"]),
         "slot.values entry 'colour\\tred' is not slot\\tsurface with a slot of slot.labels"),
    Case("slot_value_without_surface", _set("slot.values", ["area\t"]),
         "slot.values entry 'area\\t' is not slot\\tsurface with a slot of slot.labels"),
    Case("slot_value_bonus_nan", _both(_set("slot.values", ["area\tkitchen"]), _set("slot.value_bonus", float("nan"))),
         "slot.value_bonus is not in 0..100"),
    Case("slot_value_bonus_integer", _both(_set("slot.values", ["area\tkitchen"]), _set("slot.value_bonus", 3)),
         "metadata 'slot.value_bonus' is U32, expected F32"),
    # tensors: presence, shape, dtype
    Case("slot_W_missing", _drop_tensor("slot_W"), "missing tensor 'slot_W'"),
    Case("intent_b_missing", _drop_tensor("intent_b"), "missing tensor 'intent_b'"),
    Case("slot_W_wrong_shape", _tensor("slot_W", np.zeros((3, 3), np.float32)),
         "tensor 'slot_W' has shape (3, 3), expected (5, 5)", "ShapeError"),
    Case("token_table_extra_row", _tensor("token_table", np.full((N + 1, D), 0.1, np.float32)),
         f"tensor 'token_table' has shape ({N + 1}, {D}), expected ({N}, {D})", "ShapeError"),
    Case("slot_b_two_dims", _tensor("slot_b", np.zeros((1, S), np.float32)),
         f"tensor 'slot_b' has shape (1, {S}), expected ({S},)", "ShapeError"),
    Case("slot_b_int32", _tensor("slot_b", np.zeros(S, np.int32)),
         "tensor 'slot_b' has dtype code 2, expected F32", "ShapeError"),
    Case("slot_W_int8_not_allowed", _tensor("slot_W", np.zeros((KS, KS), np.int8)),
         "tensor 'slot_W' has dtype code 1, expected F32", "ShapeError"),
    Case("intent_U_int32", _tensor("intent_U", np.zeros((N + B + 2 * D, C), np.int32)),
         "tensor 'intent_U' has dtype code 2, expected F32 or I8 with a '.scale' tensor", "ShapeError"),
    # int8 tensors and their scales
    Case("int8_without_scale", _int8("token_table", scale_edit=lambda s: None),
         "missing tensor 'token_table.scale'"),
    Case("int8_scale_wrong_shape", _int8("slot_U", scale_edit=lambda s: s[:-1]),
         f"tensor 'slot_U.scale' has shape ({KS * D + N - 1},), expected ({KS * D + N},)", "ShapeError"),
    Case("int8_scale_nan", _int8("token_table", scale_edit=_scale_poke(3, np.nan)),
         "tensor 'token_table.scale' has a non-finite value (NaN) at flat index 3, expected finite weights"),
    Case("int8_scale_overflows", _int8("intent_U", scale_edit=_scale_poke(0, 3e38), q_edit=_row_of_127),
         "tensor 'intent_U' has a non-finite value (inf) at flat index 0, expected finite weights"),
    # non-finite weights (the numpy backend used to answer confidence NaN and print invalid JSON)
    Case("slot_b_nan", _poke("slot_b", 1, np.nan),
         "tensor 'slot_b' has a non-finite value (NaN) at flat index 1, expected finite weights"),
    Case("intent_U_inf", _poke("intent_U", 17, np.inf),
         "tensor 'intent_U' has a non-finite value (inf) at flat index 17, expected finite weights"),
    Case("token_table_minus_inf", _poke("token_table", 40, -np.inf),
         "tensor 'token_table' has a non-finite value (-inf) at flat index 40, expected finite weights"),
    Case("intent_W_nan", _poke("intent_W", KI * KI - 1, np.nan),
         f"tensor 'intent_W' has a non-finite value (NaN) at flat index {KI * KI - 1}, expected finite weights"),
    # optional tensors
    Case("slot_allowed_wrong_shape", _tensor("slot_allowed", np.ones((C, S + 1), np.float32)),
         f"tensor 'slot_allowed' has shape ({C}, {S + 1}), expected ({C}, {S})", "ShapeError"),
    Case("slot_allowed_nan", _tensor("slot_allowed", np.full((C, S), np.nan, np.float32)),
         "tensor 'slot_allowed' has a non-finite value (NaN) at flat index 0, expected finite weights"),
    Case("slot_transitions_wrong_shape", _tensor("slot_transitions", np.zeros((S, S), np.float32)),
         f"tensor 'slot_transitions' has shape ({S}, {S}), expected ({S + 1}, {S})", "ShapeError"),
    Case("slot_transitions_nan", _both(_tensor("slot_transitions", np.zeros((S + 1, S), np.float32)),
                                       _poke("slot_transitions", 5, np.nan)),
         "tensor 'slot_transitions' has a non-finite value (NaN) at flat index 5, expected finite weights"),
    Case("slot_case_wrong_shape", _tensor("slot_case", np.zeros((4, S), np.float32)),
         f"tensor 'slot_case' has shape (4, {S}), expected (5, {S})", "ShapeError"),
    Case("slot_case_nan", _both(_tensor("slot_case", np.zeros((5, S), np.float32)), _poke("slot_case", 2, np.nan)),
         "tensor 'slot_case' has a non-finite value (NaN) at flat index 2, expected finite weights"),
    # slots whose spans leave a possessive "'s" out
    Case("trim_possessive_of_an_unknown_slot", _set("slot.trim_possessive", ["colour"]),
         "slot.trim_possessive entry 'colour' is not a slot of slot.labels"),
]

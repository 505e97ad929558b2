"""LM training: perplexity beats the unigram on held-out text; bad input gives clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from lm_testdata import synthetic_corpus

from safu.models.lm import LMConfig, train_lm, unigram_perplexity
from safu.models.lm_contexts import build_contexts
from safu.models.lm_corpus import build_vocabulary, encode_documents, load_documents, split_documents
from safu.models.tokenizer import EOD, FRG, PAD, SOD

SMALL = LMConfig(max_vocab=300, block_size=8, block_bits=16, radius=3, radial_bits=12, tuning_rounds=1)


def _split(text):
    docs = split_documents(text)
    cut = int(len(docs) * 0.8)
    vocab = build_vocabulary(docs[:cut], 300)
    return vocab, encode_documents(vocab, docs[:cut]), encode_documents(vocab, docs[cut:])


def test_synthetic_heldout_perplexity_beats_unigram():
    vocab, tr, dv = _split(synthetic_corpus())
    model = train_lm(tr, vocab, SMALL)
    ppl, n = model.perplexity(dv)
    uni = unigram_perplexity(tr, dv, len(vocab))
    assert n == sum(len(s) + 1 for s in dv)
    assert np.isfinite(ppl)
    assert ppl < 0.7 * uni, (ppl, uni)


def test_shakespeare_slice_heldout_perplexity_beats_unigram(shared_data):
    path = shared_data / "tinyshakespeare" / "input.txt"
    if not path.exists():
        pytest.skip(f"{path} not found")
    text = path.read_text(encoding="utf-8")[:150_000]
    cut = int(len(text) * 0.9)
    train_docs, dev_docs = split_documents(text[:cut]), split_documents(text[cut:])
    vocab = build_vocabulary(train_docs, 1000)
    tr, dv = encode_documents(vocab, train_docs), encode_documents(vocab, dev_docs)
    model = train_lm(tr, vocab, LMConfig(max_vocab=1000, block_size=16, block_bits=32, radius=3,
                                         radial_bits=16, tuning_rounds=1, doc_groups=8))
    ppl, _ = model.perplexity(dv)
    uni = unigram_perplexity(tr, dv, len(vocab))
    assert np.isfinite(ppl) and ppl < uni, (ppl, uni)


def test_contexts_follow_the_spec():
    # One document of 5 tokens, b = 3, r = 2: targets t1..t5, <eod>.
    t = np.array([10, 11, 12, 13, 14])
    ctx = build_contexts([t], block_size=3, radius=2)
    assert ctx.y.tolist() == [10, 11, 12, 13, 14, EOD]
    assert ctx.block_ids.tolist() == [
        [SOD, PAD, PAD], [SOD, 10, PAD], [SOD, 10, 11],     # block 0 serves 3 targets
        [FRG, PAD, PAD], [FRG, 13, PAD], [FRG, 13, 14]]     # 12 (last target of block 0) is in no block
    assert ctx.radial_ids.tolist() == [[PAD, SOD], [SOD, 10], [10, 11], [11, 12], [12, 13], [13, 14]]


def test_vocabulary_cap_unk_and_num():
    docs = split_documents("a a a b b c 12 zz\n\nb a 7")
    vocab = build_vocabulary(docs, 8)
    assert vocab.tokens[6:] == ["a", "b"]
    ids = encode_documents(vocab, docs)
    assert [vocab.tokens[i] for i in ids[0]] == ["a", "a", "a", "b", "b", "<unk>", "<num>", "<unk>"]


def test_empty_corpus_is_rejected(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  ...  \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt: corpus has no tokens"):
        load_documents([empty])
    with pytest.raises(ValueError, match="no corpus files"):
        load_documents([])
    with pytest.raises(ValueError, match="no tokens"):
        train_lm([], build_vocabulary(["a"], 10), SMALL)


def test_bad_files_are_rejected(tmp_path):
    with pytest.raises(OSError):
        load_documents([tmp_path / "missing.txt"])
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"hello\nna\xefve\n")
    with pytest.raises(ValueError, match=r"latin1\.txt: line 2: byte offset 8 is not valid UTF-8"):
        load_documents([bad])


def test_bad_config_is_rejected():
    vocab = build_vocabulary(split_documents(synthetic_corpus(5)), 300)
    seqs = encode_documents(vocab, split_documents(synthetic_corpus(5)))
    with pytest.raises(ValueError, match="block_size must be >= 2"):
        train_lm(seqs, vocab, LMConfig(block_size=1))
    with pytest.raises(ValueError, match="radial_bits=3 holds 7 codes"):
        train_lm(seqs, vocab, LMConfig(radial_bits=3))
    with pytest.raises(ValueError, match="vocabulary size must be >= 7"):
        build_vocabulary(["a b"], 6)

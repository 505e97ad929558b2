"""LM model file roundtrip, rejection of wrong files, and the CLI end to end."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from lm_testdata import synthetic_corpus

from safu.export.model_file import ModelFormatError, read_model_file, write_model_file
from safu.models.lm import LMConfig, LMModel, train_lm
from safu.models.lm_corpus import build_vocabulary, encode_documents, split_documents

CFG = LMConfig(max_vocab=300, block_size=6, block_bits=16, radius=2, radial_bits=12, tuning_rounds=1, doc_groups=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    docs = split_documents(synthetic_corpus(60))
    vocab = build_vocabulary(docs, 300)
    seqs = encode_documents(vocab, docs)
    model = train_lm(seqs, vocab, CFG)
    path = tmp_path_factory.mktemp("lm") / "lm.safu"
    model.save(path)
    return model, seqs, path


def test_roundtrip_keeps_tensors_and_predictions(trained):
    model, seqs, path = trained
    loaded = LMModel.load(path)
    assert loaded.vocab.tokens == model.vocab.tokens
    assert loaded.config.block_size == 6 and loaded.config.radius == 2 and loaded.config.doc_groups == 3
    for name, x in model.tensors().items():
        np.testing.assert_array_equal(loaded.tensors()[name], x, err_msg=name)
    np.testing.assert_array_equal(loaded.all_logprobs(seqs[3]), model.all_logprobs(seqs[3]))
    md = read_model_file(path).metadata
    assert md["general.kind"] == "lm" and md["lm.block_mode"] == "sum" and md["lm.radial_mode"] == "cat"
    assert len(md["general.training_data_sha256"]) == 64


def _rewrite(src, dst, meta_change=None, drop=None, tensor_change=None):
    mf = read_model_file(src)
    meta, tensors = dict(mf.metadata), dict(mf.tensors)
    meta.update(meta_change or {})
    if drop:
        del tensors[drop]
    tensors.update(tensor_change or {})
    meta = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) else v) for k, v in meta.items()}
    write_model_file(dst, meta, tensors)
    return dst


def test_wrong_files_are_rejected(trained, tmp_path):
    _, _, path = trained
    with pytest.raises(ModelFormatError, match="general.kind is 'intent', expected 'lm'"):
        LMModel.load(_rewrite(path, tmp_path / "a.safu", {"general.kind": "intent"}))
    with pytest.raises(ModelFormatError, match="missing tensor 'radial.W'"):
        LMModel.load(_rewrite(path, tmp_path / "b.safu", drop="radial.W"))
    with pytest.raises(ModelFormatError, match=r"tensor 'block.W' has shape \(5, 5\)"):
        LMModel.load(_rewrite(path, tmp_path / "c.safu",
                              tensor_change={"block.W": np.zeros((5, 5), np.float32)}))
    with pytest.raises(ModelFormatError, match="missing metadata key 'lm.radius'"):
        mf = read_model_file(path)
        meta = {k: v for k, v in mf.metadata.items() if k != "lm.radius"}
        write_model_file(tmp_path / "d.safu", meta, mf.tensors)
        LMModel.load(tmp_path / "d.safu")
    truncated = tmp_path / "e.safu"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFormatError):
        LMModel.load(truncated)


def _cli(argv):
    from safu.runtime import cli_lm
    try:
        from safu.runtime.cli import main
        return main(argv)
    except ImportError:  # another group's CLI module is not on this branch yet: wire ours alone
        import argparse
        parser = argparse.ArgumentParser(prog="safu")
        cli_lm.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(argv)
        try:
            return args.func(args)
        except (ValueError, OSError) as exc:
            print(f"safu {args.command}: error: {exc}", file=sys.stderr)
            return 2


def test_cli_train_eval_generate(tmp_path, capsys):
    text = synthetic_corpus(80)
    docs = text.split("\n\n")
    (tmp_path / "train.txt").write_text("\n\n".join(docs[:64]), encoding="utf-8")
    (tmp_path / "dev.txt").write_text("\n\n".join(docs[64:]), encoding="utf-8")
    model = tmp_path / "lm.safu"
    assert _cli(["lm", "train", str(tmp_path / "train.txt"), "-o", str(model), "--vocab", "200",
                 "--block", "6", "--block-bits", "16", "--radius", "2", "--radial-bits", "12",
                 "--backprop-seconds", "2", "--dev", str(tmp_path / "dev.txt"), "--quiet"]) == 0
    assert model.exists() and "wrote" in capsys.readouterr().out
    assert _cli(["lm", "eval", str(model), str(tmp_path / "dev.txt"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert np.isfinite(res["perplexity"]) and res["perplexity"] > 1 and res["tokens"] > 100
    outs = []
    for _ in range(2):
        assert _cli(["generate", str(model), "--prompt", "the king", "--seed", "3", "--top-k", "10"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and outs[0].strip()


def test_cli_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    assert _cli(["lm", "train", str(empty), "-o", str(tmp_path / "x.safu")]) == 2
    err = capsys.readouterr().err
    assert "empty.txt: corpus has no tokens" in err and err.count("\n") == 1
    assert not (tmp_path / "x.safu").exists()
    assert _cli(["lm", "eval", str(tmp_path / "missing.safu"), str(empty)]) == 2

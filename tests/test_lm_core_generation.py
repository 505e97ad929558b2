"""Generation through the C++ core's streaming state gives the same tokens as the numpy reference."""
from pathlib import Path

import pytest

from safu.models.lm import LMModel
from safu.models.lm_stream import generate

TINY = Path(__file__).parent / "fixtures" / "lm_tiny.safu"


@pytest.mark.parametrize("seed,temperature,top_k,greedy", [(0, 1.0, 0, False), (7, 0.8, 5, False), (1, 1.0, 0, True)])
def test_core_and_numpy_generate_the_same_tokens(seed, temperature, top_k, greedy):
    core = pytest.importorskip("safu._core", reason="C++ core not built")
    model = LMModel.load(TINY)
    prompt = [6, 7, 8][: max(0, len(model.vocab.tokens) - 6)]
    ref = generate(model, prompt, 40, temperature, top_k, seed, greedy)
    got = generate(model, prompt, 40, temperature, top_k, seed, greedy, state=core.LmModel(str(TINY)).stream())
    assert got == ref and len(ref) > 0


def test_cli_generate_backends_agree(capsys):
    pytest.importorskip("safu._core", reason="C++ core not built")
    from safu.runtime.cli import main

    outs = []
    for backend in ("numpy", "core"):
        assert main(["generate", str(TINY), "--seed", "3", "--max-tokens", "20", "--backend", backend]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]

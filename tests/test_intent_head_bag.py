"""IntentConfig.head_bag: logistic layers fitted on several held-out splits, their weights averaged
into one layer of the same shape (models/intent_model.py, _Fitter.bagged_head)."""
import copy

import numpy as np
import pytest

from safu.export.model_file import read_model_file
from safu.models.intent_model import IntentConfig, fit_intent_model
from safu.models.reference import IntentReference
from safu.models.tokenizer import Vocabulary
from test_intent_model import small_domain

OOS = ["tell me a joke", "who won the game", "how old are you", "sing a song"]


@pytest.fixture(scope="module")
def one_and_bagged():
    return [fit_intent_model(small_domain(), IntentConfig(bigram_buckets=64, head_bag=k), out_of_scope=OOS)
            for k in (1, 3)]


def test_bagged_layer_is_the_first_layer_averaged_with_other_trained_layers(one_and_bagged, tmp_path):
    one, bagged = one_and_bagged
    U1, U3 = one.tensors["intent_U"], bagged.tensors["intent_U"]
    assert U3.shape == U1.shape and not np.allclose(U3, U1)
    # 3 U3 = U1 + U_a + U_b: the two extra layers together must classify the training sentences too
    rest = copy.copy(bagged)
    rest.tensors = dict(bagged.tensors, intent_U=(3 * U3 - U1) / 2,
                        intent_b=(3 * bagged.tensors["intent_b"] - one.tensors["intent_b"]) / 2)
    path = tmp_path / "rest.safu"
    rest.save(path)
    ref = IntentReference(read_model_file(path))
    vocab = Vocabulary(rest.vocab)
    right = [rest.intents[int(np.argmax(ref.forward(vocab.encode(ex.text, 48)[0])[0]))] == ex.intent
             for ex in small_domain()]
    assert np.mean(right) > 0.9


def test_bagging_leaves_the_threshold_and_the_other_tensors_alone(one_and_bagged):
    one, bagged = one_and_bagged
    assert bagged.threshold == one.threshold   # calibrated on the first split's leave-out layer
    assert bagged.sentences == one.sentences   # the extra splits draw from their own generators
    for name in ("token_table", "intent_W", "slot_U"):
        np.testing.assert_array_equal(bagged.tensors[name], one.tensors[name])


def test_head_bag_must_be_positive():
    with pytest.raises(ValueError, match="head_bag must be >= 1"):
        IntentConfig(head_bag=0).validate()

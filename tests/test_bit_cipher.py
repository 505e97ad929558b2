import numpy as np
import pytest

from safu.models.bit_cipher import cipher_codes, cipher_embeddings


def test_reference_table_n15_d4():
    # docs/method.md section 1
    expected = "1000 0100 0010 0001 0011 0101 1001 0110 1010 1100 1101 1011 0111 1110 1111".split()
    assert ["".join(map(str, row)) for row in cipher_codes(15, 4)] == expected


def test_codes_unique_and_sparse_first():
    Z = cipher_codes(5000, 32)
    assert len({r.tobytes() for r in Z}) == 5000
    norms = Z.sum(axis=1)
    assert (np.diff(norms) >= 0).all() and norms[0] == 1 and norms[-1] == 3


def test_capacity_error():
    with pytest.raises(ValueError, match="holds 15 codes"):
        cipher_codes(16, 4)


def test_noise_keeps_rows_positive_and_normalised():
    counts = np.array([0, 50, 10, 1, 0, 3], float)
    E = cipher_embeddings(counts, d=4)
    assert (E > 0).all()
    np.testing.assert_allclose(E.sum(axis=1), 1.0)
    # frequent types stay close to their code, rare ones lean to the noise vector
    raw = cipher_embeddings(counts, d=4, noise=False)
    assert np.abs(E[1] - raw[1]).sum() < np.abs(E[3] - raw[3]).sum()

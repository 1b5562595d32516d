"""The digits split against scikit-learn's copy of the data and the figures the notebooks quote."""

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn import datasets, model_selection

from elbo_lib.data import edge_energy, load_digits


def test_split_sizes_types_and_values():
    x_train, x_test, y_train, y_test = load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert set(torch.cat([x_train, x_test]).unique().tolist()) == {0.0, 1.0}
    assert set(torch.cat([y_train, y_test]).tolist()) == set(range(10))


def test_every_image_is_a_scikit_learn_digit_with_its_label():
    x_train, x_test, y_train, y_test = load_digits(binarize=False)
    digits = datasets.load_digits()
    x, y = torch.cat([x_train, x_test]).numpy(), torch.cat([y_train, y_test]).numpy()
    reference = {
        row.tobytes(): label for row, label in zip(digits.data / 16, digits.target, strict=True)
    }
    assert len(x) == len(digits.data)
    matched = [reference[row.astype(np.float64).tobytes()] for row in x]
    np.testing.assert_array_equal(matched, y)
    assert x.min() == 0.0 and x.max() == 1.0


@pytest.mark.parametrize(("seed", "fraction"), [(0, 0.2), (1, 0.2), (7, 0.5), (3, 0.013)])
def test_the_split_is_scikit_learns_train_test_split(seed, fraction):
    digits = datasets.load_digits()
    expected = model_selection.train_test_split(
        digits.data / 16, digits.target, test_size=fraction, random_state=seed
    )
    for ours, theirs in zip(load_digits(False, fraction, seed), expected, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.astype(ours.numpy().dtype))


def test_binarized_images_threshold_the_same_split_at_one_half():
    continuous = load_digits(binarize=False, seed=3)
    binary = load_digits(binarize=True, seed=3)
    torch.testing.assert_close(binary[0], (continuous[0] > 0.5).float(), rtol=0, atol=0)
    torch.testing.assert_close(binary[2], continuous[2], rtol=0, atol=0)


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[3], b[3])
    assert not torch.equal(a[3], c[3])


def test_independent_pixel_baseline_is_the_quoted_24_7_nats():
    # the notebooks' reference: per-pixel Bernoulli probabilities fitted on the training images
    x_train, x_test, _, _ = load_digits()
    p = (x_train.numpy().sum(0) + 0.5) / (len(x_train) + 1)  # add-one-half smoothing
    nats = -stats.bernoulli(p).logpmf(x_test.numpy()).sum(1).mean()
    assert nats == pytest.approx(24.65, abs=0.01)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=fraction)


def test_edge_energy_by_hand():
    stripes = torch.zeros(8, 8)
    stripes[:, ::2] = 1.0  # 7 jumps of 1 across each of 8 rows, none down
    flat = torch.full((8, 8), 0.3)
    assert edge_energy(torch.stack([stripes, flat]).reshape(2, 64)) == pytest.approx(56 / 2)
    with pytest.raises(ValueError, match="images"):
        edge_energy(torch.zeros(3, 63))

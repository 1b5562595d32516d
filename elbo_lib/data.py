"""The data of the VAE notebooks: the 1797 real 8×8 handwritten digits bundled with scikit-learn
(no network needed), as float32 torch tensors of shape (n, 64)."""

import torch
from sklearn import datasets, model_selection

from elbo_lib._arrays import integer, number

IMAGE_SHAPE = (8, 8)


def load_digits(binarize=True, test_fraction=0.2, seed=0):
    """The digits scaled to [0, 1] (and thresholded at 0.5 when ``binarize``), split by image with
    scikit-learn's ``train_test_split(random_state=seed)``: ``ceil(test_fraction · 1797)`` images
    for the test set (1437/360 by default).

    Returns ``(x_train, x_test, y_train, y_test)``: float32 tensors (n, 64) and int64 labels (n,).
    """
    if not isinstance(binarize, bool):
        raise ValueError(f"binarize must be True or False, got {binarize!r}")
    if number(test_fraction, "test_fraction", low=0.0) >= 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    seed = integer(seed, "seed")
    digits = datasets.load_digits()
    x = digits.data / 16.0
    if binarize:
        x = (x > 0.5).astype(float)
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, digits.target, test_size=test_fraction, random_state=seed
    )
    return (
        torch.as_tensor(x_train, dtype=torch.float32),
        torch.as_tensor(x_test, dtype=torch.float32),
        torch.as_tensor(y_train, dtype=torch.int64),
        torch.as_tensor(y_test, dtype=torch.int64),
    )

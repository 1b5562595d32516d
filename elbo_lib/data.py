"""The data of the VAE notebooks: the 1797 real 8×8 handwritten digits bundled with scikit-learn
(no network needed), as float32 torch tensors of shape (n, 64), and a sharpness score of such
images."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch

from elbo_lib.validation import anything, count, flag, fraction, optional, text, validate

IMAGE_SHAPE = (8, 8)
# scikit-learn's copy of the UCI digits, the file its load_digits reads: one row per image,
# 64 pixel counts 0–16, then the label. Read directly, since importing scikit-learn costs a
# notebook over a second (tests/test_data.py checks both give the same arrays).
DIGITS_CSV = ("datasets", "data", "digits.csv.gz")


@validate(binarize=flag, test_fraction=fraction, seed=count(0, 2**32 - 1))
def load_digits(binarize=True, test_fraction=0.2, seed=0):
    """The digits scaled to [0, 1] (and thresholded at 0.5 when ``binarize``), split by image as
    scikit-learn's ``train_test_split(random_state=seed)`` splits them: ``ceil(test_fraction ·
    1797)`` images for the test set (1437/360 by default).

    Returns ``(x_train, x_test, y_train, y_test)``: float32 tensors (n, 64) and int64 labels (n,).
    """
    table = np.loadtxt(
        Path(importlib.util.find_spec("sklearn").origin).parent.joinpath(*DIGITS_CSV), delimiter=","
    )
    x, y = table[:, :-1] / 16.0, table[:, -1]
    if binarize:
        x = (x > 0.5).astype(float)
    # train_test_split's shuffle: the first ceil(fraction · n) of a seeded permutation are the test
    order = np.random.RandomState(seed).permutation(len(x))
    test, train = np.split(order, [math.ceil(test_fraction * len(x))])
    return (
        torch.as_tensor(x[train], dtype=torch.float32),
        torch.as_tensor(x[test], dtype=torch.float32),
        torch.as_tensor(y[train], dtype=torch.int64),
        torch.as_tensor(y[test], dtype=torch.int64),
    )


@validate(images=anything)
def edge_energy(images):
    r"""A sharpness score of 8×8 images (rows of 64 pixels): the squared differences between
    horizontally and vertically adjacent pixels, summed over the image and averaged over images,
    :math:`\frac1N\sum_n \sum_{i,j} (x_{i,j+1} - x_{i,j})^2 + (x_{i+1,j} - x_{i,j})^2`.
    Blurring lowers it."""
    check_images(images, "images", 64)
    im = images.reshape(-1, *IMAGE_SHAPE)
    across = (im[:, :, 1:] - im[:, :, :-1]).pow(2).sum((1, 2))
    down = (im[:, 1:, :] - im[:, :-1, :]).pow(2).sum((1, 2))
    return (across + down).mean().item()


@validate(x=anything, name=text, x_dim=optional(count(limit=2**14)), unit_interval=flag)
def check_images(x, name="x", x_dim=None, *, unit_interval=False):
    """Raise a ValueError naming ``name`` unless x is a finite floating-point torch tensor
    (n, ``x_dim``) with n ≥ 1, in [0, 1] if ``unit_interval``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch tensor, got {type(x).__name__}")
    width = "x_dim" if x_dim is None else x_dim
    if x.ndim != 2 or (x_dim is not None and x.shape[1] != x_dim):
        raise ValueError(f"{name} must have shape (n, {width}), got {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: it must hold at least one image")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    if unit_interval and bool(((x < 0) | (x > 1)).any()):
        raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli decoder")

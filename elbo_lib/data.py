"""The data of the VAE notebooks: the 1797 real 8×8 handwritten digits bundled with scikit-learn
(no network needed), as float32 torch tensors of shape (n, 64), and a sharpness score of such
images."""

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

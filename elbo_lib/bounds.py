r"""Bounds on :math:`\log p(x)` built from log importance weights
:math:`\log r_k = \log p(x, z_k) - \log q(z_k \mid x)`, :math:`z_k \sim q(z \mid x)`.

Functions accept numpy arrays or torch tensors and reduce over ``axis`` (the samples).
"""

import math

import numpy as np

from elbo_lib.validation import index, log_weights, namespace, numpy_finite, validate


def _axis(name):
    """A relation: ``axis`` is an axis of ``name``, with at least one sample along it."""

    def check(values):
        a, axis = values[name], values["axis"]
        if not -a.ndim <= axis < a.ndim:
            raise ValueError(f"axis {axis!r} is out of range for {name} of shape {tuple(a.shape)}")
        if a.shape[axis] == 0:
            raise ValueError(f"{name} needs at least one sample along axis {axis}")

    return check


@validate(_axis("a"), a=log_weights, axis=index)
def log_mean_exp(a, axis=-1):
    r""":math:`\log \frac1K \sum_k e^{a_k} = m + \log \frac1K \sum_k e^{a_k - m}`, with
    :math:`m = \max_k a_k` so that nothing overflows."""
    return _log_mean_exp(namespace(a), a, axis)


@validate(_axis("log_w"), log_w=log_weights, axis=index)
def iwae_bound(log_w, axis=-1):
    r"""The importance-weighted bound :math:`\mathcal L_K = \log \frac1K \sum_{k=1}^K r_k
    \le \log p(x)`. With K = 1 it is the (single-sample) ELBO; it rises with K towards
    :math:`\log p(x)` (Burda et al. 2016)."""
    return _log_mean_exp(namespace(log_w), log_w, axis)


@validate(_axis("log_w"), log_w=log_weights, axis=index)
def jensen_gap(log_w, axis=-1):
    r""":math:`\log \frac1K\sum_k r_k - \frac1K\sum_k \log r_k \ge 0`, the gap between
    :math:`\log \mathbb E[r]` and :math:`\mathbb E[\log r]`. For weights from q(z|x) it estimates
    :math:`\mathrm{KL}(q(z|x)\,\|\,p(z|x)) = \log p(x) - \mathrm{ELBO}`.

    Computed from :math:`\log r_k - \max_j \log r_j`, in which the gap is the same and
    nothing overflows; rounding cannot take it below 0 (constant weights give exactly 0).
    """
    xp = namespace(log_w)
    top = xp.max(log_w, axis=axis, keepdims=True)
    if not bool(xp.all(xp.isfinite(top))):
        raise ValueError("log_w is -inf everywhere along axis: zero weights have no gap")
    shifted = log_w - top
    gap = _log_mean_exp(xp, shifted, axis) - xp.mean(shifted, axis=axis)
    return xp.maximum(gap, xp.zeros_like(gap))


def _log_mean_exp(xp, a, axis):
    m = xp.max(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    mean = xp.mean(xp.exp(a - m), axis=axis, keepdims=True)
    out = m + xp.log(xp.where(mean > 0, mean, xp.ones_like(mean)))
    out = xp.where(mean > 0, out, xp.full_like(out, -math.inf))  # every weight zero: log 0
    return xp.squeeze(out, axis=axis)


@validate(log_y=numpy_finite)
def jensen_gap_standard_error(log_y):
    r"""The standard error of the Jensen-gap estimate :math:`\log \bar Y - \overline{\log Y}` from
    n draws of log Y, by the delta method: :math:`\mathrm{sd}(Y_i / \bar Y - \log Y_i)/\sqrt n`.
    For a log-normal :math:`Y = e^{-\tau^2/2 + \tau\varepsilon}` it tends to
    :math:`\sqrt{(e^{\tau^2} - 1 - \tau^2)/n}`."""
    if log_y.ndim != 1 or log_y.size < 2:
        raise ValueError(f"log_y must be a 1-D array of at least two finite draws, got {log_y!r}")
    shifted = log_y - log_y.max()
    ratio = np.exp(shifted - np.log(np.mean(np.exp(shifted))))  # Y_i / mean Y, without overflow
    return float(np.std(ratio - log_y, ddof=1) / math.sqrt(log_y.size))

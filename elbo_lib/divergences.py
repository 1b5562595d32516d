r"""Fitting a Gaussian q to a target density p under the two directions of the KL.

* reverse, :math:`\mathrm{KL}(q\,\|\,p)` (what the ELBO minimises): mode-seeking;
* forward, :math:`\mathrm{KL}(p\,\|\,q)`: mass-covering, solved by matching moments.
"""

import numpy as np
from scipy import ndimage, optimize

from elbo_lib.densities import log_normal
from elbo_lib.validation import (
    anything,
    as_numpy,
    choice,
    fraction,
    numpy_covariance,
    numpy_finite,
    positive_values,
    real,
    validate,
)

OBJECTIVES = ("reverse", "forward")
_BASINS = 4  # local minima of the lattice that are polished
_CHUNK = 2**21  # lattice points × grid points scored at once: a few 16 MB temporaries


@validate(log_p=anything, grid=anything, objective=choice(*OBJECTIVES))
def fit_gaussian(log_p, grid, objective="reverse"):
    r"""The Gaussian :math:`q = \mathcal N(\mu, s^2)` closest to p, a density given by unnormalised
    log values ``log_p`` on the increasing 1-D ``grid``. Returns (mean, std).

    * ``"forward"`` minimises :math:`\mathrm{KL}(p\,\|\,q)`, whose optimum matches the mean and
      variance of p.
    * ``"reverse"`` minimises :math:`\mathrm{KL}(q\,\|\,p) = \int q \log q - \int q \log p`
      (up to p's constant) over the grid. The global minimum is found by scanning a lattice of
      (μ, log s) and polishing the best point, so a fit to well-separated modes sits on one mode
      rather than a local optimum between them. s is kept between one grid step and half the
      grid's span.
    """
    grid, log_p = _check_density(log_p, grid)
    weights = _trapezoid_weights(grid)
    p = np.exp(log_p - log_p.max()) * weights
    p /= p.sum()
    if objective == "forward":
        mean = p @ grid
        return float(mean), float(np.sqrt(p @ (grid - mean) ** 2))
    return _reverse_fit(log_p, grid, weights)


@validate(mean=numpy_finite, std=positive_values, log_p=anything, grid=anything)
def reverse_kl(mean, std, log_p, grid):
    r""":math:`\mathrm{KL}(q\,\|\,p)` on the grid for :math:`q = \mathcal N(\mu, s^2)`, with p
    normalised on the grid; ``mean`` and ``std`` broadcast, so a lattice is scored at once."""
    grid, log_p = _check_density(log_p, grid)
    return _reverse_kl(mean, std, log_p, grid, _trapezoid_weights(grid))


def _reverse_kl(mean, std, log_p, grid, weights):
    """The KL for each (mean, std) pair, scored in chunks of about _CHUNK grid values."""
    mean, std = np.broadcast_arrays(mean, std)
    rows = max(1, _CHUNK // grid.size)
    flat = [
        _reverse_kl_chunk(m, s, log_p, grid, weights)
        for m, s in zip(
            np.array_split(mean.ravel(), max(1, -(-mean.size // rows))),
            np.array_split(std.ravel(), max(1, -(-std.size // rows))),
            strict=True,
        )
    ]
    return np.concatenate(flat).reshape(mean.shape)


def _reverse_kl_chunk(mean, std, log_p, grid, weights):
    log_p = np.maximum(log_p, log_p.max() - 1e4)  # where p vanishes, a finite, huge penalty
    log_p = log_p - (log_p.max() + np.log(np.exp(log_p - log_p.max()) @ weights))
    with np.errstate(over="ignore"):  # a q far narrower than the grid's steps: -inf, correctly
        log_q = -0.5 * ((grid - mean[..., None]) / std[..., None]) ** 2
    top = log_q.max(axis=-1, keepdims=True)
    if not np.all(np.isfinite(top)):
        raise ValueError("mean and std put no mass of q on any point of grid")
    log_q = log_q - (top + np.log(np.exp(log_q - top) @ weights)[..., None])  # normalised
    with np.errstate(invalid="ignore"):  # 0 · (-inf) where q vanishes: 0 log 0 = 0
        terms = np.where(log_q > -np.inf, np.exp(log_q) * (log_q - log_p), 0.0)
    return terms @ weights


def _reverse_fit(log_p, grid, weights):
    step, span = np.min(np.diff(grid)), grid[-1] - grid[0]
    log_std_bounds = (np.log(step), np.log(span / 2))
    means = np.linspace(grid[0], grid[-1], 81)
    log_stds = np.linspace(*log_std_bounds, 25)
    kl = _reverse_kl(means[:, None], np.exp(log_stds)[None, :], log_p, grid, weights)
    # Polish every basin the lattice shows (its local minima, best first): two basins can be
    # within the lattice's resolution of each other.
    is_local_min = kl == ndimage.minimum_filter(kl, size=3, mode="nearest")
    starts = sorted(zip(kl[is_local_min], *np.nonzero(is_local_min), strict=True))[:_BASINS]

    def objective(theta):
        return float(
            _reverse_kl(np.array(theta[0]), np.exp(np.array(theta[1])), log_p, grid, weights)
        )

    fits = [
        optimize.minimize(
            objective,
            x0=[means[i], log_stds[j]],
            method="L-BFGS-B",
            bounds=[(grid[0], grid[-1]), log_std_bounds],
        )
        for _, i, j in starts
    ]
    best = min(fits, key=lambda fit: fit.fun)
    return float(best.x[0]), float(np.exp(best.x[1]))


def _trapezoid_weights(grid):
    dz = np.diff(grid)
    return np.concatenate([[dz[0]], dz[:-1] + dz[1:], [dz[-1]]]) / 2


def _check_density(log_p, grid):
    grid = as_numpy(grid, "grid")
    log_p = as_numpy(log_p, "log_p", finite=False)
    if np.any(log_p == np.inf):
        raise ValueError("log_p contains +inf")
    if grid.ndim != 1 or grid.size < 3:
        raise ValueError(f"grid must be a 1-D array of at least 3 points, got shape {grid.shape}")
    if not np.all(np.diff(grid) > 0):
        raise ValueError("grid must be strictly increasing")
    if log_p.shape != grid.shape:
        raise ValueError(f"log_p has shape {log_p.shape} but grid has shape {grid.shape}")
    if not np.any(np.isfinite(log_p)):
        raise ValueError("log_p is -inf everywhere: the density has no mass on the grid")
    return grid, log_p


@validate(grid=numpy_finite, separation=real(0.0, 1e150, strict=False), weight=fraction)
def mixture_log_density(grid, separation, weight=0.5):
    r""":math:`\log\big(\pi\,\mathcal N(z; -\Delta/2, 1) + (1-\pi)\,\mathcal N(z; \Delta/2, 1)\big)`
    at each z of ``grid``: two unit-variance modes a separation Δ apart, the left one of weight
    π."""
    return np.logaddexp(
        np.log(weight) + log_normal(grid, -separation / 2),
        np.log1p(-weight) + log_normal(grid, separation / 2),
    )


@validate(mean=numpy_finite, cov=numpy_covariance, objective=choice(*OBJECTIVES))
def factorised_fit(mean, cov, objective="reverse"):
    r"""The factorised (mean-field) Gaussian :math:`q = \prod_i \mathcal N(\mu_i, s_i^2)` closest
    to :math:`p = \mathcal N(m, \Sigma)`, m = ``mean``. Returns (μ, s²) with :math:`\mu = m` and

    * ``"reverse"``, :math:`\min \mathrm{KL}(q\,\|\,p)`: :math:`s_i^2 = 1/\Lambda_{ii}`, with the
      precision :math:`\Lambda = \Sigma^{-1}`: the spread *given the other coordinates*, which
      under-estimates the marginal spread;
    * ``"forward"``, :math:`\min \mathrm{KL}(p\,\|\,q)`: :math:`s_i^2 = \Sigma_{ii}`, the marginal
      variances (moment matching).
    """
    if mean.ndim != 1 or cov.shape != (mean.size, mean.size):
        raise ValueError(
            f"mean must be (k,) and cov (k, k), got mean {mean.shape} and cov {cov.shape}"
        )
    if objective == "forward":
        return mean.copy(), np.diag(cov).copy()
    return mean.copy(), 1 / np.diag(np.linalg.inv(cov))

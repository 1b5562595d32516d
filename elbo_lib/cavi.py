r"""Coordinate-ascent variational inference (CAVI) for the Bayesian mixture of unit-variance
Gaussians (Blei, Kucukelbir & McAuliffe 2017, §3; Bishop 2006, ch. 10), and its exact posterior
by enumeration of every assignment, the reference CAVI is measured against (notebook 16).

The model, for N points :math:`x_i \in \mathbb R` and C components:

.. math:: \mu_c \sim \mathcal N(0, \sigma^2), \qquad c_i \sim \mathrm{Cat}(1/C, \dots, 1/C),
          \qquad x_i \mid c_i, \mu \sim \mathcal N(\mu_{c_i}, 1).

The mean-field family is :math:`q(\mu, c) = \prod_c \mathcal N(\mu_c; m_c, s_c^2)\,
\prod_i \mathrm{Cat}(c_i; \varphi_i)`. Each factor's optimum, the others fixed, is
:math:`q_j^*(\cdot) \propto \exp \mathbb E_{-j}[\log p(x, c, \mu)]`, which gives the updates

.. math:: \varphi_{ic} \propto \exp\big(m_c x_i - \tfrac12 (s_c^2 + m_c^2)\big), \qquad
          s_c^2 = \frac{1}{1/\sigma^2 + \sum_i \varphi_{ic}}, \qquad
          m_c = s_c^2 \sum_i \varphi_{ic} x_i .
"""

import math

import numpy as np
from scipy.special import logsumexp, xlogy

from elbo_lib.validation import (
    Kind,
    anything,
    as_numpy,
    axes,
    count,
    numpy_finite,
    optional,
    positive_array,
    positive_real,
    positive_values,
    real_number,
    seed,
    skip_validation,
    validate,
)

MAX_ASSIGNMENTS = 2**20  # C^N assignments at most: about a second and 300 MB to enumerate
_LOG_2PI = math.log(2 * math.pi)
COMPONENTS = count(limit=64)  # C
ITERATIONS = count(0, 10**6)


def _points(x, name="x", xp=None):
    x = as_numpy(x, name)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a 1-D array of at least one point, got shape {x.shape}")
    return x


POINTS = Kind("numpy_finite", _points)


def _q_shapes(values):
    x, m, s2, phi = values["x"], values["m"], values["s2"], values["phi"]
    k = len(m) if m.ndim == 1 else 0
    if m.ndim != 1 or k == 0 or s2.shape != m.shape:
        raise ValueError(f"m and s2 must have shape (C,) with C ≥ 1, got {m.shape}, {s2.shape}")
    if phi.shape != (len(x), k):
        raise ValueError(f"phi must have shape (N, C) = {(len(x), k)}, got {phi.shape}")
    if np.any(phi < 0) or not np.allclose(phi.sum(1), 1.0, atol=1e-8):
        raise ValueError("phi's rows must be probabilities that sum to 1")


@validate(x=POINTS, k=COMPONENTS, sigma2=positive_real, iters=ITERATIONS, seed=seed)
def cavi_gmm(x, k, sigma2=1.0, *, iters=100, seed=0):
    r"""CAVI on the points ``x`` (shape (N,)). ``k``: the number of components C; ``sigma2``:
    the prior variance :math:`\sigma^2` of the component means.

    Start: :math:`m_c` at C points of ``x`` drawn without replacement (with replacement when
    N < C) by ``numpy.random.default_rng(seed)``, :math:`s_c^2 = 1`, :math:`\varphi_{ic} = 1/C`.
    Each of the ``iters`` iterations then sets every :math:`\varphi_i` (the :math:`\mu` factors
    fixed) and then every :math:`(m_c, s_c^2)` (the :math:`\varphi` fixed) to its optimum

    .. math:: \varphi_{ic} \propto \exp\big(m_c x_i - \tfrac12 (s_c^2 + m_c^2)\big), \quad
              s_c^2 = \Big(\frac1{\sigma^2} + \sum_i \varphi_{ic}\Big)^{-1}, \quad
              m_c = s_c^2 \sum_i \varphi_{ic} x_i ,

    so the ELBO never decreases. Returns a dict: ``m`` (C,), ``s2`` (C,), ``phi`` (N, C) after
    the last iteration, and ``elbo`` (``iters`` + 1,): :func:`gmm_elbo` at the start and after
    each iteration, every constant kept (nats; it is a lower bound on log p(x)).
    """
    rng = np.random.default_rng(seed)
    m = rng.choice(x, size=k, replace=len(x) < k).astype(float)
    s2 = np.ones(k)
    phi = np.full((len(x), k), 1.0 / k)
    with skip_validation():  # the iterates are the updates' own
        elbo = [gmm_elbo(x, m, s2, phi, sigma2)]
    for _ in range(iters):
        logits = np.outer(x, m) - 0.5 * (s2 + m**2)
        phi = np.exp(logits - logits.max(1, keepdims=True))
        phi /= phi.sum(1, keepdims=True)
        s2 = 1.0 / (1.0 / sigma2 + phi.sum(0))
        m = s2 * (phi.T @ x)
        with skip_validation():
            elbo.append(gmm_elbo(x, m, s2, phi, sigma2))
    return {"m": m, "s2": s2, "phi": phi, "elbo": np.array(elbo)}


@validate(
    _q_shapes,
    x=POINTS,
    m=numpy_finite,
    s2=positive_values,
    phi=numpy_finite,
    sigma2=positive_real,
)
def gmm_elbo(x, m, s2, phi, sigma2=1.0):
    r""":math:`\mathbb E_q[\log p(x, c, \mu) - \log q(c, \mu)]` in nats, every constant kept:

    .. math:: \sum_c \Big[-\tfrac12\log(2\pi\sigma^2) - \frac{s_c^2 + m_c^2}{2\sigma^2}
              + \tfrac12 \log(2\pi e\, s_c^2)\Big] - N \log C
              + \sum_{i,c} \varphi_{ic}\Big[-\tfrac12\log 2\pi
              - \tfrac12\big((x_i - m_c)^2 + s_c^2\big) - \log\varphi_{ic}\Big]

    for :math:`q = \prod_c \mathcal N(\mu_c; m_c, s_c^2) \prod_i \mathrm{Cat}(c_i; \varphi_i)`:
    ``m`` and ``s2`` of shape (C,), ``phi`` (N, C) with rows on the simplex."""
    k = len(m)
    prior = -0.5 * (math.log(2 * math.pi * sigma2) + (s2 + m**2) / sigma2)
    entropy_mu = 0.5 * (np.log(s2) + _LOG_2PI + 1.0)
    likelihood = -0.5 * (_LOG_2PI + (x[:, None] - m) ** 2 + s2)
    return float(
        np.sum(prior + entropy_mu)
        - len(x) * math.log(k)
        + np.sum(phi * likelihood)
        - np.sum(xlogy(phi, phi))
    )


@validate(x=POINTS, k=COMPONENTS, sigma2=positive_real)
def exact_posterior(x, k, sigma2=1.0):
    r"""The exact posterior of the mixture by enumerating all :math:`C^N` assignments a.

    Given a, the components are independent conjugate normals: with :math:`n_c` points of sum
    :math:`S_c` and squares :math:`Q_c`, :math:`p(\mu_c \mid x, a) = \mathcal N(S_c/\lambda_c,
    1/\lambda_c)`, :math:`\lambda_c = 1/\sigma^2 + n_c`, and

    .. math:: \log p(x \mid a) = \sum_c \Big[-\frac{n_c}2 \log 2\pi - \tfrac12\log(1 + \sigma^2 n_c)
              - \tfrac12\Big(Q_c - \frac{\sigma^2 S_c^2}{1 + \sigma^2 n_c}\Big)\Big],
              \qquad \log p(x) = \log \sum_a p(x \mid a) - N \log C .

    The posterior is symmetric under relabelling, so every :math:`\mu_c` has the same marginal;
    here each assignment's components are ordered by their posterior means (the c-th column is
    the c-th smallest), the labelling a fit sorted by ``m`` is compared with.

    Returns a dict: ``log_px``; ``weights`` (:math:`C^N`,) the posterior probabilities
    :math:`p(a \mid x)`; ``means`` and ``variances`` (:math:`C^N`, C) of the ordered
    components given each a; ``mean`` and ``var`` (C,) the moments of their marginals (mixtures
    of Gaussians): :math:`\sum_a w_a m_{ac}` and :math:`\sum_a w_a (v_{ac} + m_{ac}^2)
    - \text{mean}_c^2`.
    """
    if k ** len(x) > MAX_ASSIGNMENTS:
        raise ValueError(
            f"x has too many points to enumerate with k = {k}: {k}^{len(x)} assignments, "
            f"over {MAX_ASSIGNMENTS}"
        )
    assignments = np.indices((k,) * len(x)).reshape(len(x), -1).T  # (C^N, N)
    log_lik = np.zeros(len(assignments))
    means, variances = [], []
    for c in range(k):
        member = assignments == c
        n_c, s_c, q_c = member.sum(1), member @ x, member @ x**2
        shrink = 1.0 + sigma2 * n_c
        log_lik -= 0.5 * (n_c * _LOG_2PI + np.log(shrink) + q_c - sigma2 * s_c**2 / shrink)
        precision = 1.0 / sigma2 + n_c
        means.append(s_c / precision)
        variances.append(1.0 / precision)
    means, variances = np.stack(means, 1), np.stack(variances, 1)
    order = np.argsort(means, axis=1, kind="stable")
    means = np.take_along_axis(means, order, 1)
    variances = np.take_along_axis(variances, order, 1)
    log_px = float(logsumexp(log_lik) - len(x) * math.log(k))
    weights = np.exp(log_lik - log_lik.max())
    weights /= weights.sum()  # exactly a distribution, also where log p(x | a) is ~1e11
    mean = weights @ means
    var = weights @ (variances + means**2) - mean**2
    return {
        "log_px": log_px,
        "weights": weights,
        "means": means,
        "variances": variances,
        "mean": mean,
        "var": var,
    }


@validate(posterior=anything, mu=numpy_finite)
def marginal_density(posterior, mu):
    r"""The exact marginal densities of the ordered components at the points ``mu``, an array
    (C, len(mu)): :math:`p(\mu_c \mid x) = \sum_a w_a\, \mathcal N(\mu; m_{ac}, v_{ac})` from an
    :func:`exact_posterior`."""
    weights, means, variances = _posterior(posterior)
    mu = mu.ravel()
    density = np.empty((means.shape[1], len(mu)))
    for c in range(means.shape[1]):
        # assignments that give component c the same points give it the same Gaussian: one term
        pairs, group = np.unique(
            np.stack([means[:, c], variances[:, c]], 1), axis=0, return_inverse=True
        )
        w = np.bincount(group.ravel(), weights=weights, minlength=len(pairs))
        m, v = pairs[:, :1], pairs[:, 1:]
        density[c] = w @ (np.exp(-0.5 * (mu - m) ** 2 / v) / np.sqrt(2 * np.pi * v))
    return density


@validate(ax=axes, x=POINTS, fit=anything, marginals=anything, top=optional(positive_real))
def plot_fit(ax, x, fit, marginals=None, *, top=None):
    r"""The points ``x`` (a rug, coloured by their most probable component under ``fit``'s
    :math:`\varphi`) and each factor :math:`q(\mu_c) = \mathcal N(m_c, s_c^2)` of ``fit`` (from
    :func:`cavi_gmm`); given ``marginals = (mu, density)``, the exact marginal densities (C,
    len(mu)) of the ordered components at the points ``mu`` (:func:`marginal_density`), dashed,
    each in the colour of the factor of the same rank in :math:`m_c`. ``top``: the upper limit
    of the density axis (by default what is drawn sets it)."""
    if not isinstance(fit, dict) or not {"m", "s2", "phi"} <= fit.keys():
        raise ValueError("fit must be a dict from cavi_gmm, with m, s2 and phi")
    m, s2, phi = (as_numpy(fit[key], "fit") for key in ("m", "s2", "phi"))
    if m.ndim != 1 or s2.shape != m.shape or phi.shape != (len(x), len(m)) or np.any(s2 <= 0):
        raise ValueError(f"fit must be a fit of cavi_gmm to these {len(x)} points")
    if marginals is None:
        grid = _grid(x)
    else:
        if not (isinstance(marginals, tuple | list) and len(marginals) == 2):
            raise ValueError("marginals must be a pair (mu, density) from marginal_density")
        grid, exact = as_numpy(marginals[0], "marginals"), as_numpy(marginals[1], "marginals")
        if grid.ndim != 1 or exact.shape != (len(m), len(grid)):
            raise ValueError("marginals must be (mu, density) with density of shape (C, len(mu))")
    colours = [f"C{c % 10}" for c in range(len(m))]
    for c in range(len(m)):
        density = np.exp(-0.5 * (grid - m[c]) ** 2 / s2[c]) / np.sqrt(2 * np.pi * s2[c])
        ax.plot(grid, density, color=colours[c], lw=2, label=f"$q(\\mu_{{{c + 1}}})$")
    if marginals is not None:
        for rank, c in enumerate(np.argsort(m, kind="stable")):
            label = "exact, ordered" if rank == 0 else None
            ax.plot(grid, exact[rank], color=colours[c], ls="--", lw=1.2, label=label)
    top = ax.get_ylim()[1] if top is None else top
    ax.scatter(x, np.full_like(x, -0.04 * top), c=[colours[c] for c in phi.argmax(1)], marker="|")
    ax.set(xlabel="μ, and the points x", ylabel="density", ylim=(-0.08 * top, top))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


@validate(
    ax=axes,
    elbo=numpy_finite,
    log_px=real_number,
    current=optional(count(0, 2**62)),
    floor=optional(positive_real),
)
def plot_gap(ax, elbo, log_px, current=None, *, floor=None):
    r"""The gap :math:`\log p(x) - \mathrm{ELBO}` (nats, log scale) against the iteration, for
    the ELBO after each iteration ``elbo`` (:func:`cavi_gmm`), with the iteration ``current``
    marked and, if given, a line at ``floor`` (e.g. :math:`\log C!`, the part of the gap that
    label switching costs a unimodal q). A gap under 1e-9 nats (C = 1, where q is exact) is
    drawn at 1e-9."""
    if elbo.ndim != 1 or elbo.size == 0:
        raise ValueError(f"elbo must be a 1-D array of at least one value, got shape {elbo.shape}")
    gap = log_px - elbo
    if np.any(gap < -1e-9 * (1 + abs(log_px))):
        raise ValueError(f"log_px must lie above every ELBO, got {log_px} below {elbo.max()}")
    gap = np.maximum(gap, 1e-9)
    ax.plot(np.arange(len(elbo)), gap, color="C0", marker=".", label="log p(x) − ELBO")
    if floor is not None:
        ax.axhline(floor, color="k", ls="--", lw=1, label=f"log C! = {floor:.2f}")
    if current is not None:
        t = min(current, len(elbo) - 1)
        ax.plot([t], [gap[t]], "o", color="C3", ms=8, label=f"iteration {t}: {gap[t]:.2f} nats")
    ax.set_yscale("log")
    ax.set(xlabel="iteration", ylabel="log p(x) − ELBO (nats)")
    ax.legend(fontsize=8, loc="upper right")


@validate(
    x=POINTS,
    k=COMPONENTS,
    sigma2=positive_real,
    iters=count(limit=10**4),
    seeds=count(limit=10**3),
)
def cavi_explorer(x, k, sigma2=1.0, *, iters=30, seeds=10):
    r"""Sliders for the iteration t and the seed of the start (a restart): the factors
    :math:`q(\mu_c)` after t iterations of :func:`cavi_gmm` beside the exact marginals
    (:func:`plot_fit`), and the gap :math:`\log p(x) - \mathrm{ELBO}` closing down to about
    :math:`\log C!` (:func:`plot_gap`)."""
    import ipywidgets  # here, so that the formulas load without the widgets

    from elbo_lib.widgets import LAYOUT, STYLE, SliderFigure

    posterior = exact_posterior(x, k, sigma2)
    grid = _grid(x)
    marginals = (grid, marginal_density(posterior, grid))
    runs = [cavi_gmm(x, k, sigma2, iters=iters, seed=seed) for seed in range(seeds)]
    # fixed axes for every frame, so that only the curves are redrawn
    top = 1.15 * max(marginals[1].max(), *((2 * np.pi * run["s2"].min()) ** -0.5 for run in runs))
    gaps = np.concatenate([posterior["log_px"] - run["elbo"] for run in runs])
    gap_limits = (0.7 * max(min(gaps.min(), math.lgamma(k + 1)), 1e-9), 1.5 * max(gaps.max(), 1e-9))
    sliders = {
        name: ipywidgets.IntSlider(
            value=value, min=0, max=high, description=label, style=STYLE, layout=LAYOUT
        )
        for name, label, value, high in (
            ("t", "iteration t", iters, iters),
            ("seed", "seed of the start", 0, seeds - 1),
        )
    }

    def draw(ax_fit, ax_gap, t, seed):
        plot_fit(ax_fit, x, cavi_gmm(x, k, sigma2, iters=t, seed=seed), marginals, top=top)
        ax_fit.set_title(f"q after {t} iteration{'' if t == 1 else 's'} (seed {seed})")
        floor = math.lgamma(k + 1) if k > 1 else None
        plot_gap(ax_gap, runs[seed]["elbo"], posterior["log_px"], current=t, floor=floor)
        ax_gap.set_ylim(gap_limits)
        ax_gap.set_title("The gap to the exact log p(x)")

    return SliderFigure(draw, sliders, ncols=2, width_ratios=(3, 2), figsize=(11, 3.8))


def _grid(x):
    """400 points over the data and a margin of 15 % of its range on each side."""
    span = max(float(np.ptp(x)), 1.0)
    return np.linspace(x.min() - 0.15 * span, x.max() + 0.15 * span, 400)


def _posterior(posterior):
    if not isinstance(posterior, dict) or not {"weights", "means", "variances"} <= posterior.keys():
        raise ValueError("posterior must be a dict from exact_posterior")
    weights = as_numpy(posterior["weights"], "posterior")
    means = as_numpy(posterior["means"], "posterior")
    variances = positive_array(np, as_numpy(posterior["variances"], "posterior"), "posterior")
    if means.ndim != 2 or means.shape != variances.shape or weights.shape != means.shape[:1]:
        raise ValueError("posterior must be a dict from exact_posterior (shapes disagree)")
    return weights, means, variances

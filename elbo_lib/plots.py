r"""The notebooks' figures. Each function takes numbers or arrays and a matplotlib Axes, draws
on it (axes labelled, log-quantities in nats) and returns nothing; :mod:`elbo_lib.widgets`
redraws them when a slider moves and the notebooks call them once for a static copy.
"""

import numpy as np
from matplotlib import ticker
from matplotlib.colors import LogNorm

from elbo_lib.densities import log_normal
from elbo_lib.kl import kl_normal
from elbo_lib.validation import (
    anything,
    as_numpy,
    axes,
    finite_values,
    linear_gaussian_model,
    numpy_finite,
    optional,
    positive_array,
    positive_number,
    positive_real,
    positive_values,
    real_number,
    validate,
)

PRIOR, Q, POSTERIOR, TARGET = "0.45", "C0", "C3", "0.25"


@validate(ax=axes, sigma=finite_values, eps=finite_values)
def jensen_chord(ax, sigma, eps):
    r"""The concave :math:`\log u` with samples :math:`Y = e^{-\tau^2/2 + \tau\varepsilon}`
    (so :math:`\mathbb E[Y] = 1`; τ = ``sigma``) on it: their average :math:`(\mathbb E[Y],
    \mathbb E[\log Y]) = (1, -\tau^2/2)` lies below the curve's value
    :math:`\log\mathbb E[Y] = 0`."""
    u = np.linspace(0.02, 4.0, 300)
    y = np.exp(-(sigma**2) / 2 + sigma * np.asarray(eps))
    ax.plot(u, np.log(u), color="k", lw=1.5, label=r"$\log u$")
    ax.scatter(y, np.log(y), s=10, color=Q, alpha=0.35, label=r"samples $(Y, \log Y)$")
    gap = sigma**2 / 2
    ax.plot([1], [0], "o", color=POSTERIOR, ms=5, label=r"$\log \mathbb{E}[Y] = 0$")
    ax.plot([1], [-gap], "s", color=Q, ms=5, label=r"$\mathbb{E}[\log Y]$")
    # the gap drawn beside the two points, so that neither marker hides it
    ax.hlines([0, -gap], 1, 1.35, color="0.4", lw=0.8, ls=":")
    ax.annotate(
        "",
        xy=(1.35, 0),
        xytext=(1.35, -gap),
        arrowprops={"arrowstyle": "<->", "color": POSTERIOR, "shrinkA": 0, "shrinkB": 0},
    )
    ax.text(
        1.45,
        -gap / 2,
        f"gap = τ²/2 = {gap:.3f} nats",
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 2},
    )
    ax.set(xlim=(0, 4), ylim=(-4, 1.6), xlabel="u", ylabel="log u (nats)")
    ax.set_title(f"Jensen: log E[Y] ≥ E[log Y]   (τ = {sigma:.2f})")
    ax.legend(loc="lower right", fontsize=8)


@validate(ax=axes, sigma=finite_values, sigma_max=positive_real)
def jensen_gap_curve(ax, sigma, sigma_max=2.5):
    r"""The Jensen gap :math:`\log\mathbb E[Y] - \mathbb E[\log Y] = \tau^2/2` of a log-normal
    Y against its spread τ, with the current τ (``sigma``) marked."""
    s = np.linspace(0, sigma_max, 200)
    ax.plot(s, s**2 / 2, color="k", label=r"gap $= \tau^2/2$")
    ax.plot([sigma], [sigma**2 / 2], "o", color=POSTERIOR, ms=8, label="current τ")
    ax.set(xlabel="spread τ of log Y", ylabel="gap (nats)", title="The gap grows with the spread")
    ax.legend(loc="upper left", fontsize=8)


def _normal_pdf(z, mu, s2):
    return np.exp(log_normal(z, mu, s2))


@validate(
    ax=axes, model=linear_gaussian_model, x=finite_values, qs=anything, z=optional(finite_values)
)
def log_weights(ax, model, x, qs, z=None):
    r"""The log-weights :math:`\log r(z) = \log p(x, z) - \log q(z)` of each q in ``qs``
    (label → (μ, s²)) against z, with :math:`\log p(x)`: the ELBO is their q-average, and
    they are constant, equal to :math:`\log p(x)`, exactly when q is the posterior."""
    z = np.linspace(-4, 4, 300) if z is None else z
    for colour, (label, (mu, s2)) in zip(("C1", Q, POSTERIOR), qs.items(), strict=False):
        ax.plot(z, model.log_joint(x, z) - log_normal(z, mu, s2), color=colour, label=label)
    ax.axhline(model.log_evidence(x), color="k", ls="--", lw=1, label=r"$\log p(x)$")
    top = max(float(np.max(line.get_ydata())) for line in ax.lines)
    ax.set(
        xlabel="z",
        ylabel="log r(z) (nats)",
        title=f"Log-weights at x = {x:g}",
        ylim=(model.log_evidence(x) - 10, top + 1),
    )
    ax.legend(fontsize=8)


@validate(
    ax=axes,
    model=linear_gaussian_model,
    x=finite_values,
    mu=finite_values,
    s2=finite_values,
    z=optional(finite_values),
)
def prior_q_posterior(ax, model, x, mu, s2, z=None):
    r"""Densities of the prior :math:`\mathcal N(0, 1)`, the exact posterior
    :math:`p(z \mid x)` and :math:`q = \mathcal N(\mu, s^2)`."""
    z = np.linspace(-4, 4, 400) if z is None else z
    post_mean, post_var = model.posterior(x)
    ax.plot(z, _normal_pdf(z, 0, 1), color=PRIOR, ls=":", label="prior p(z)")
    ax.plot(z, _normal_pdf(z, post_mean, post_var), color=POSTERIOR, label="posterior p(z|x)")
    ax.fill_between(z, _normal_pdf(z, mu, s2), color=Q, alpha=0.3, label="q(z)")
    ax.set(xlabel="z", ylabel="density", title=f"q = N({mu:.2f}, {s2:.3g}) at x = {x:g}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, log_evidence=finite_values, elbo=finite_values)
def elbo_gap_bar(ax, log_evidence, elbo):
    r"""The identity as bars: the ELBO, plus the gap :math:`\mathrm{KL}(q\,\|\,p(z\mid x)) \ge 0`
    stacked on top of it, reaches exactly :math:`\log p(x)` (dashed line)."""
    gap = log_evidence - elbo
    ax.bar([0], [elbo], width=0.6, color=Q)
    ax.bar([1], [gap], bottom=[elbo], width=0.6, color=POSTERIOR, alpha=0.7)
    ax.bar([2], [log_evidence], width=0.6, color="0.5")
    ax.axhline(log_evidence, color="k", ls="--", lw=1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(
        [0, 1, 2],
        labels=[
            f"ELBO\n{elbo:.3f}",
            f"+ KL\n{gap:.3f}",
            f"= log p(x)\n{log_evidence:.3f}",
        ],
        fontsize=8,
    )
    low = min(elbo, log_evidence, 0.0)
    ax.set(
        xlim=(-0.5, 2.5), ylim=(low * 1.1 - 0.3, 0.3), ylabel="nats", title="log p(x) = ELBO + KL"
    )


@validate(
    ax=axes, model=linear_gaussian_model, x=finite_values, s2=finite_values, mus=finite_values
)
def elbo_and_kl_against_mean(ax, model, x, s2, mus):
    r"""ELBO and :math:`\mathrm{KL}(q\,\|\,p(z\mid x))` for :math:`q = \mathcal N(\mu, s^2)` as μ
    runs over ``mus``: they add up to :math:`\log p(x)`, so the ELBO's maximum is the KL's
    minimum."""
    elbo, kl = model.elbo(x, mus, s2), model.kl_to_posterior(x, mus, s2)
    ax.plot(mus, elbo, color=Q, label="ELBO")
    ax.plot(mus, kl, color=POSTERIOR, label="KL(q ‖ p(z|x))")
    ax.plot(mus, elbo + kl, color="k", ls="--", label="ELBO + KL = log p(x)")
    ax.axvline(model.posterior(x)[0], color="0.5", lw=0.8, label="posterior mean")
    ax.set(xlabel="mean μ of q", ylabel="nats", title=f"Both as q's mean μ moves (s² = {s2:.3g})")
    ax.legend(fontsize=8)


@validate(
    ax=axes,
    n_samples=finite_values,
    estimates=finite_values,
    std_errors=finite_values,
    exact=finite_values,
)
def mc_convergence(ax, n_samples, estimates, std_errors, exact):
    r"""Monte Carlo error :math:`|\hat{\mathrm{KL}}_S - \mathrm{KL}|` against the number of samples
    S (log-log), with the two-standard-error band, which shrinks like :math:`1/\sqrt S`."""
    n_samples = np.asarray(n_samples)
    ax.loglog(
        n_samples,
        np.abs(np.asarray(estimates) - exact),
        "o-",
        color=Q,
        label="|Monte Carlo − closed form|",
    )
    ax.loglog(
        n_samples,
        2 * np.asarray(std_errors),
        color="0.4",
        ls="--",
        label="2 standard errors ∝ 1/√S",
    )
    ax.set(
        xlabel="number of samples S",
        ylabel="absolute error (nats)",
        title="Monte Carlo KL converges to the closed form",
    )
    ax.legend(fontsize=8)


@validate(ax=axes, mu=finite_values, s2=finite_values, path=optional(finite_values))
def kl_map(ax, mu, s2, path=None):
    r"""The map of :math:`\mathrm{KL}(\mathcal N(\mu, s^2)\,\|\,\mathcal N(0, 1))` over
    (μ, s²) with the point (``mu``, ``s2``) and, if given, a path of (μ, s²) iterates (e.g.
    gradient descent on the KL: the pull toward μ = 0, s² = 1)."""
    grid_mu, grid_log_s2 = np.meshgrid(
        np.linspace(-3, 3, 121), np.linspace(np.log(0.01), np.log(10), 121)
    )
    grid_s2 = np.exp(grid_log_s2)
    kl = kl_normal(grid_mu, grid_s2)
    contours = ax.contour(
        grid_mu, grid_s2, kl, levels=[0.1, 0.25, 0.5, 1, 2, 3, 4.5], cmap="viridis"
    )
    ax.clabel(contours, fontsize=7, fmt="%g", colors="k")
    if path is not None:
        _path(ax, path, "0.4", "gradient descent on the KL")
    ax.plot([0], [1], "*", color="k", ms=12, label="minimum: μ = 0, s² = 1")
    ax.plot(
        [mu],
        [s2],
        "o",
        color=POSTERIOR,
        ms=9,
        label=f"q: KL = {float(kl_normal(mu, s2)):.3f} nats",
    )
    _log_y(ax)
    ax.set(
        xlabel="mean μ", ylabel="variance s² (log scale)", title="KL(N(μ, s²) ‖ N(0, 1)) in nats"
    )
    ax.legend(fontsize=8, loc="lower left")


def _path(ax, path, color, label):
    """Iterates (rows of ``path``) as small dots joined by a line."""
    ax.plot(path[:, 0], path[:, 1], ".-", color=color, ms=3, lw=1, label=label)


def _log_y(ax):
    ax.set_yscale("log")
    ax.minorticks_off()  # a log axis's minor ticks cost more to lay out than the rest of a frame


@validate(ax=axes, mu=finite_values, s2=finite_values, z=optional(finite_values))
def q_and_prior(ax, mu, s2, z=None):
    r"""The densities of :math:`q = \mathcal N(\mu, s^2)` and the prior
    :math:`\mathcal N(0, 1)` that the KL term pulls it toward."""
    z = np.linspace(-5, 5, 400) if z is None else z
    ax.plot(z, _normal_pdf(z, 0, 1), color=PRIOR, ls=":", lw=2, label="prior N(0, 1)")
    ax.fill_between(
        z, _normal_pdf(z, mu, s2), color=Q, alpha=0.35, label=f"q = N({mu:.2f}, {s2:.3g})"
    )
    ax.set(
        xlabel="z",
        ylabel="density",
        title="q against the prior",
        ylim=(0, max(0.5, 1.1 / np.sqrt(2 * np.pi * s2))),
    )
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, model=linear_gaussian_model, x=finite_values, path=optional(finite_values))
def elbo_landscape(ax, model, x, path=None):
    r"""Contours of the closed-form ELBO over q's (μ, s²) (s² on a log axis) for one data point,
    the optimum :math:`\mu^* = \frac{wx}{w^2+\sigma^2}, s^{2*} = \frac{\sigma^2}{w^2+\sigma^2}`
    and, if given, a path of (μ, s²) iterates."""
    post_mean, post_var = model.posterior(x)
    mu = np.linspace(min(-1.0, post_mean - 1.5), max(1.0, post_mean + 1.5), 120)
    s2 = np.exp(np.linspace(np.log(min(post_var, 0.02) / 2), np.log(2.5), 120))
    elbo = model.elbo(x, mu[None, :], s2[:, None])
    best = model.log_evidence(x)
    contours = ax.contour(
        mu,
        s2,
        best - elbo,
        levels=[0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30],
        norm=LogNorm(),
        linewidths=0.8,
    )
    ax.clabel(contours, fontsize=7, fmt="%g", colors="k")
    if path is not None:
        _path(ax, path, Q, f"gradient ascent, {len(path) - 1} steps")
        ax.plot(path[:1, 0], path[:1, 1], "s", color=Q, ms=6, label="start: q = prior")
    ax.plot(
        [post_mean],
        [post_var],
        "*",
        color=POSTERIOR,
        ms=13,
        label=f"μ* = {post_mean:.3f}, s²* = {post_var:.3f}",
    )
    _log_y(ax)
    ax.set(
        xlabel="mean μ of q",
        ylabel="variance s² of q (log scale)",
        title="log p(x) − ELBO(μ, s²), contours in nats",
    )
    ax.legend(fontsize=7, loc="upper right")


@validate(ax=axes, model=linear_gaussian_model, x=finite_values, z=optional(finite_values))
def prior_likelihood_posterior(ax, model, x, z=None):
    r"""As densities of z: the prior :math:`\mathcal N(0,1)`, the likelihood
    :math:`p(x\mid z) \propto \mathcal N(z;\, x/w,\, \sigma^2/w^2)` and the posterior, whose
    mean is their precision-weighted average."""
    z = np.linspace(-5, 5, 500) if z is None else z
    post_mean, post_var = model.posterior(x)
    likelihood = np.exp(-0.5 * (x - model.w * z) ** 2 / model.sigma2)
    likelihood = likelihood / (likelihood.sum() * (z[1] - z[0]))
    ax.plot(z, _normal_pdf(z, 0, 1), color=PRIOR, ls=":", lw=2, label="prior (precision 1)")
    ax.plot(
        z,
        likelihood,
        color="C1",
        ls="--",
        label=f"likelihood in z (precision w²/σ² = {model.w**2 / model.sigma2:.3g})",
    )
    ax.fill_between(
        z,
        _normal_pdf(z, post_mean, post_var),
        color=POSTERIOR,
        alpha=0.35,
        label=f"posterior (precision {1 + model.w**2 / model.sigma2:.3g})",
    )
    ax.set(
        xlabel="z",
        ylabel="density (normalised in z)",
        ylim=(0, None),
        title=f"x = {x:.2f}, w = {model.w:.2f}, σ² = {model.sigma2:.3g}",
    )
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, z=finite_values, labels=finite_values)
def latent_scatter(ax, z, labels):
    r"""Points in a 2-D latent space (e.g. posterior means), coloured by class label."""
    scatter = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=6, alpha=0.7)
    ax.legend(
        *scatter.legend_elements(),
        title="digit",
        fontsize=7,
        loc="center left",
        bbox_to_anchor=(1, 0.5),
    )
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title="Posterior means of the digits")


@validate(ax=axes, grid=finite_values, log_p=anything, fits=anything)
def mixture_fits(ax, grid, log_p, fits):
    r"""A target density (unnormalised log values ``log_p`` on ``grid``) and the Gaussian fits
    in ``fits`` (label → (mean, std))."""
    as_numpy(log_p, "log_p", finite=False)
    p = np.exp(log_p - log_p.max())
    p = p / np.trapezoid(p, grid)
    ax.fill_between(grid, p, color=TARGET, alpha=0.3, label="target p")
    for (label, (mean, std)), colour in zip(fits.items(), (Q, "C1"), strict=False):
        ax.plot(
            grid,
            _normal_pdf(grid, mean, std**2),
            color=colour,
            lw=2,
            label=f"{label}: N({mean:.2f}, {std:.2f}²)",
        )
    ax.set(xlabel="z", ylabel="density", ylim=(0, None))
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, separations=numpy_finite, fits=anything)
def fits_against_separation(ax, separations, fits):
    r"""Fitted means (lines) ± one standard deviation (bands) of each fit in ``fits``
    (label → array of (mean, std) rows) as the modes of a mixture move apart."""
    for (label, rows), colour in zip(fits.items(), (Q, "C1"), strict=False):
        rows = np.asarray(rows)
        ax.plot(separations, rows[:, 0], color=colour, lw=2, label=f"{label}: mean")
        ax.fill_between(
            separations,
            rows[:, 0] - rows[:, 1],
            rows[:, 0] + rows[:, 1],
            color=colour,
            alpha=0.2,
            label=f"{label}: mean ± std",
        )
    ax.plot(separations, separations / 2, color="k", ls=":", lw=1, label="mode positions")
    ax.plot(separations, -separations / 2, color="k", ls=":", lw=1)
    ax.set(
        xlabel="separation Δ of the modes",
        ylabel="z",
        title="Reverse KL snaps to a mode; forward KL spans both",
    )
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, mean=finite_values, covs=anything, n_std=positive_real)
def gaussian_ellipses(ax, mean, covs, n_std=2.0):
    r"""The ``n_std``-standard-deviation ellipse of each 2-D Gaussian
    :math:`\mathcal N(\text{mean}, \Sigma)` in ``covs`` (label → Σ)."""
    angle = np.linspace(0, 2 * np.pi, 200)
    circle = n_std * np.stack([np.cos(angle), np.sin(angle)])
    for (label, cov), (colour, style) in zip(
        covs.items(), ((TARGET, "-"), (Q, "-"), ("C1", "--")), strict=False
    ):
        ellipse = np.linalg.cholesky(cov) @ circle + np.asarray(mean)[:, None]
        ax.plot(*ellipse, color=colour, ls=style, lw=2, label=label)
    ax.set(
        xlabel="$z_1$",
        ylabel="$z_2$",
        aspect="equal",
        title=f"{n_std:g}-standard-deviation ellipses",
    )
    ax.legend(fontsize=8, loc="upper left")


@validate(ax=axes, estimates=anything, exact=real_number, bins=anything)
def estimate_histograms(ax, estimates, exact, bins):
    r"""One row per estimator in ``estimates`` (label → repeated estimates of
    :math:`\partial/\partial\mu\ \mathbb E_q[f]`): the histogram of its estimates on the common
    bin edges ``bins``, each scaled to its row's height, with the exact gradient across all rows
    and each row's mean and standard deviation."""
    for values in _labelled(estimates, "estimates").values():
        if as_numpy(values, "estimates").ndim != 1 or len(values) < 2:
            raise ValueError("estimates must hold at least two estimates per estimator")
    if as_numpy(bins, "bins").ndim != 1 or len(bins) < 2 or not np.all(np.diff(bins) > 0):
        raise ValueError(f"bins must be at least two increasing edges, got {bins!r}")
    edges = np.asarray(bins, float)
    colours = (Q, "C2", "C1")  # the colours of estimator_spread: score function, baseline, pathwise
    for row, (values, colour) in enumerate(zip(estimates.values(), colours, strict=False)):
        values = np.asarray(values, float)
        counts, _ = np.histogram(values, bins=edges)
        top = len(estimates) - 1 - row  # the first estimator on top
        height = 0.85 * counts / max(counts.max(), 1)
        ax.fill_between(  # a step fill: cheaper to draw than a StepPatch's Bézier extents
            edges, top, np.append(height, height[-1]) + top, step="post", color=colour, alpha=0.6
        )
        outside = np.mean((values < edges[0]) | (values > edges[-1]))
        summary = f"mean {values.mean():.3f}, std {values.std(ddof=1):.3f}"
        if outside > 0:
            summary += f", {outside:.0%} off the axis"
        ax.text(edges[-1], top + 0.9, summary, ha="right", va="top", fontsize=8)
    ax.axvline(exact, color="k", lw=1.5, ls="--", label=f"exact gradient {exact:.3g}")
    ax.set_yticks(np.arange(len(estimates))[::-1], labels=list(estimates), fontsize=8)
    ax.set(
        xlim=(edges[0], edges[-1]),
        ylim=(0, len(estimates) + 0.1),
        xlabel="estimate of ∂E[f]/∂μ",
        ylabel="estimator",
        title=f"{len(next(iter(estimates.values())))} estimates per estimator",
    )
    ax.legend(fontsize=8, loc="lower left")


@validate(ax=axes, n_samples=positive_values, spreads=anything, per_sample_variances=anything)
def estimator_spread(ax, n_samples, spreads, per_sample_variances):
    r"""Measured standard deviation of an S-sample gradient estimate against S (log-log), for
    each estimator in ``spreads`` (label → one value per S), beside the law
    :math:`\sqrt{v_1 / S}` from its exact single-sample variance :math:`v_1`
    (``per_sample_variances``, label → number)."""
    shape = n_samples.shape
    if len(shape) != 1 or shape[0] == 0:
        raise ValueError(f"n_samples must be a non-empty 1-D array, got shape {shape}")
    for label, spread in _labelled(spreads, "spreads").items():
        if positive_array(np, as_numpy(spread, "spreads"), "spreads").shape != shape:
            raise ValueError(f"spreads[{label!r}] must hold one value per entry of n_samples")
        if not isinstance(per_sample_variances, dict) or label not in per_sample_variances:
            raise ValueError(f"per_sample_variances must give the variance of {label!r}")
        positive_number(per_sample_variances[label], "per_sample_variances")
    for (label, spread), colour in zip(spreads.items(), (Q, "C1", POSTERIOR), strict=False):
        variance = per_sample_variances[label]
        ax.loglog(n_samples, spread, "o", color=colour, label=f"{label}: measured")
        ax.loglog(
            n_samples,
            np.sqrt(variance / n_samples),
            color=colour,
            lw=1,
            ls="--",
            label=f"√({variance:g}/S), exact",
        )
    ax.set_xticks(n_samples, labels=[f"{n:g}" for n in n_samples])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set(
        xlabel="number of samples S per estimate",
        ylabel="std of the ∂μ estimate",
        title="Both estimators' errors shrink like 1/√S",
    )
    ax.legend(fontsize=8)


@validate(ax=axes, means=numpy_finite, kl=numpy_finite, costs=anything)
def mode_costs(ax, means, kl, costs):
    r""":math:`\mathrm{KL}(q\,\|\,p)` of :math:`q = \mathcal N(\mu, 1)` against its mean μ (``kl``
    at ``means``), with the cost of sitting on each mode, :math:`-\log \pi_c` for a mode of weight
    :math:`\pi_c` (``costs``: label → nats), as a dashed level."""
    if means.ndim != 1 or kl.shape != means.shape:
        raise ValueError("means and kl must be 1-D arrays of the same length")
    for cost in _labelled(costs, "costs").values():
        positive_number(cost, "costs")
    ax.plot(means, kl, color=Q, lw=2, label="KL(q‖p), q = N(μ, 1)")
    for (label, cost), colour in zip(costs.items(), ("C1", "C2", "C4"), strict=False):
        ax.axhline(cost, color=colour, ls="--", lw=1.2, label=f"{label} = {cost:.2f} nats")
    ax.set(
        xlabel="mean μ of q",
        ylabel="KL(q‖p) in nats",
        ylim=(0, 3 * max(costs.values())),
        title="the cost of sitting on one mode",
    )
    ax.legend(fontsize=8, loc="upper center")


def _labelled(values, name):
    """``values`` if it is a non-empty dict (label → values), else a ValueError naming ``name``."""
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{name} must be a non-empty dict of label → values, got {values!r}")
    return values

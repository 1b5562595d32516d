import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import optimize, stats
from scipy.special import logsumexp

from elbo_lib.cavi import (
    cavi_explorer,
    cavi_gmm,
    exact_posterior,
    gmm_elbo,
    marginal_density,
    plot_fit,
    plot_gap,
)

X = np.array([-2.1, -1.7, 0.2, 2.4, 3.0])


def three_clusters(n_per=3, seed=1):
    rng = np.random.default_rng(seed)
    return np.repeat([-3.0, 0.0, 3.0], n_per) + rng.standard_normal(3 * n_per)


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.floats(-10, 10), min_size=1, max_size=15),
    st.integers(1, 4),
    st.floats(0.05, 100),
    st.integers(0, 2**16),
)
def test_the_elbo_never_decreases(x, k, sigma2, seed):
    elbo = cavi_gmm(np.array(x), k, sigma2, iters=30, seed=seed)["elbo"]
    assert elbo.shape == (31,)
    assert np.all(np.diff(elbo) >= -1e-9 * (1 + np.abs(elbo[1:])))


@settings(deadline=None, max_examples=40)
@given(
    st.lists(st.floats(-6, 6), min_size=1, max_size=7),
    st.integers(1, 3),
    st.floats(0.1, 30),
    st.integers(0, 2**16),
)
def test_the_final_elbo_is_below_the_exact_log_evidence(x, k, sigma2, seed):
    x = np.array(x)
    fit = cavi_gmm(x, k, sigma2, iters=50, seed=seed)
    assert fit["elbo"][-1] <= exact_posterior(x, k, sigma2)["log_px"] + 1e-9


def log_joint_given_means(x, mus, sigma2):
    """log p(x | μ) + log p(μ) for a grid of mean vectors ``mus`` (..., C), by the mixture
    likelihood summed over each point's component (no assignments enumerated)."""
    k = mus.shape[-1]
    points = x.reshape((-1,) + (1,) * mus.ndim)
    per_point = stats.norm.logpdf(points, loc=mus[None], scale=1.0)  # (N, ..., C)
    log_lik = (logsumexp(per_point, axis=-1) - math.log(k)).sum(0)
    return log_lik + stats.norm.logpdf(mus, scale=math.sqrt(sigma2)).sum(-1)


@pytest.mark.parametrize("sigma2", [0.5, 4.0])
def test_log_evidence_against_quadrature_over_the_means(sigma2):
    """p(x) = ∫∫ p(x | μ) p(μ) dμ₁ dμ₂ on a grid (the integrand is smooth and decays like a
    Gaussian, so the grid sum converges fast: the step is checked by halving it)."""
    x = np.array([-1.3, 0.4, 2.2])
    bound = 8 * math.sqrt(sigma2) + 4

    def log_px(points):
        grid = np.linspace(-bound, bound, points)
        mus = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1)
        return logsumexp(log_joint_given_means(x, mus, sigma2)) + 2 * math.log(grid[1] - grid[0])

    coarse, fine = log_px(401), log_px(801)
    assert abs(coarse - fine) < 1e-9
    assert exact_posterior(x, 2, sigma2)["log_px"] == pytest.approx(fine, abs=1e-8)


def test_one_component_is_the_closed_form_and_cavi_is_exact():
    sigma2 = 3.0
    cov = np.eye(len(X)) + sigma2 * np.ones((len(X), len(X)))
    log_px = stats.multivariate_normal(np.zeros(len(X)), cov).logpdf(X)
    exact = exact_posterior(X, 1, sigma2)
    assert exact["log_px"] == pytest.approx(log_px, abs=1e-10)
    precision = 1 / sigma2 + len(X)
    assert exact["mean"] == pytest.approx([X.sum() / precision], abs=1e-12)
    assert exact["var"] == pytest.approx([1 / precision], abs=1e-12)
    fit = cavi_gmm(X, 1, sigma2, iters=3)
    assert fit["elbo"][-1] == pytest.approx(log_px, abs=1e-10)  # q(μ) is the posterior
    assert fit["s2"] == pytest.approx([1 / precision], abs=1e-12)


def test_ordered_marginals_against_quadrature():
    """The ordered marginal of μ_c (by the assignments' posterior means) against a grid
    over (μ₁, μ₂): for two well-separated clusters, sorting the means given the assignment and
    sorting μ itself agree to the mass of the overlap."""
    x, sigma2 = np.array([-3.2, -2.5, 2.7, 3.4]), 4.0
    exact = exact_posterior(x, 2, sigma2)
    grid = np.linspace(-9, 9, 721)
    mu1, mu2 = np.meshgrid(grid, grid, indexing="ij")
    log_p = log_joint_given_means(x, np.stack([mu1, mu2], -1), sigma2)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    lower, upper = np.minimum(mu1, mu2), np.maximum(mu1, mu2)
    for c, values in enumerate((lower, upper)):
        mean = (p * values).sum()
        assert exact["mean"][c] == pytest.approx(mean, abs=1e-3)
        assert exact["var"][c] == pytest.approx((p * (values - mean) ** 2).sum(), rel=1e-3)
    dmu = grid[1] - grid[0]
    density = marginal_density(exact, grid)
    assert density.sum(1) * dmu == pytest.approx([1, 1], abs=1e-6)
    # the unordered marginal of μ₁: the average of the two ordered ones
    assert density.mean(0) == pytest.approx(p.sum(1) / dmu, abs=2e-3)


def test_weights_are_the_posterior_over_assignments_by_brute_force():
    x, k, sigma2 = np.array([-1.0, 0.5, 2.0]), 2, 2.0
    exact = exact_posterior(x, k, sigma2)
    rows = []
    for a in itertools.product(range(k), repeat=len(x)):
        cov = np.eye(len(x)) + sigma2 * (np.equal.outer(a, a))
        rows.append(stats.multivariate_normal(np.zeros(len(x)), cov).logpdf(x))
    rows = np.array(rows) - len(x) * math.log(k)
    assert exact["log_px"] == pytest.approx(logsumexp(rows), abs=1e-10)
    assert exact["weights"] == pytest.approx(np.exp(rows - logsumexp(rows)), abs=1e-12)


def test_elbo_against_monte_carlo():
    x, sigma2, s = three_clusters(), 10.0, 200_000
    fit = cavi_gmm(x, 3, sigma2, iters=2, seed=3)
    m, s2, phi = fit["m"], fit["s2"], fit["phi"]
    rng = np.random.default_rng(0)
    mu = m + np.sqrt(s2) * rng.standard_normal((s, 3))
    c = (rng.random((s, len(x), 1)) > phi.cumsum(1)).sum(-1)  # c_i ~ Cat(φ_i)
    mu_c = np.take_along_axis(mu, c, 1)
    log_p = stats.norm.logpdf(mu, scale=math.sqrt(sigma2)).sum(1) + (
        stats.norm.logpdf(x, loc=mu_c) - math.log(3)
    ).sum(1)
    log_q = stats.norm.logpdf(mu, m, np.sqrt(s2)).sum(1) + np.log(phi[np.arange(len(x)), c]).sum(1)
    draws = log_p - log_q
    standard_error = draws.std(ddof=1) / math.sqrt(s)
    assert abs(draws.mean() - fit["elbo"][-1]) < 4 * standard_error
    assert gmm_elbo(x, m, s2, phi, sigma2) == fit["elbo"][-1]
    assert standard_error < 0.02  # the test can tell a constant of 0.1 nats


def test_one_iteration_is_a_brute_force_coordinate_maximisation():
    """From the start (iters = 0), maximise the ELBO numerically over each φ_i, then over each
    (m_c, s²_c): the result is one CAVI iteration."""
    x, k, sigma2 = np.array([-1.5, -0.2, 0.9, 2.5]), 2, 3.0
    start, one = cavi_gmm(x, k, sigma2, iters=0, seed=4), cavi_gmm(x, k, sigma2, iters=1, seed=4)
    m, s2, phi = start["m"].copy(), start["s2"].copy(), start["phi"].copy()
    for i in range(len(x)):

        def minus_elbo_phi(p, i=i):
            trial = phi.copy()
            trial[i] = [p, 1 - p]
            return -gmm_elbo(x, m, s2, trial, sigma2)

        best = optimize.minimize_scalar(
            minus_elbo_phi, bounds=(0, 1), method="bounded", options={"xatol": 1e-10}
        )
        phi[i] = [best.x, 1 - best.x]
    assert phi == pytest.approx(one["phi"], abs=1e-6)
    for c in range(k):

        def minus_elbo_mu(v, c=c):
            trial_m, trial_s2 = m.copy(), s2.copy()
            trial_m[c], trial_s2[c] = v[0], math.exp(v[1])
            return -gmm_elbo(x, trial_m, trial_s2, phi, sigma2)

        best = optimize.minimize(
            minus_elbo_mu,
            [0.0, 0.0],
            method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000},
        )
        m[c], s2[c] = best.x[0], math.exp(best.x[1])
    assert m == pytest.approx(one["m"], abs=1e-6)
    assert s2 == pytest.approx(one["s2"], abs=1e-6)


def test_the_start_and_its_seed():
    fit = cavi_gmm(X, 3, iters=0, seed=7)
    assert set(fit["m"]) <= set(X) and len(set(fit["m"])) == 3  # distinct points of x
    assert fit["s2"] == pytest.approx([1, 1, 1]) and fit["phi"] == pytest.approx(
        np.full((5, 3), 1 / 3)
    )
    again = cavi_gmm(X, 3, iters=10, seed=7)
    assert again["elbo"] == pytest.approx(cavi_gmm(X, 3, iters=10, seed=7)["elbo"], abs=0)
    assert again["elbo"][:6] == pytest.approx(cavi_gmm(X, 3, iters=5, seed=7)["elbo"], abs=0)


def test_mean_field_under_estimates_the_posterior_variance():
    x, sigma2 = three_clusters(), 10.0
    fit = cavi_gmm(x, 3, sigma2, iters=100)
    exact = exact_posterior(x, 3, sigma2)
    order = np.argsort(fit["m"])
    assert np.all(fit["s2"][order] < exact["var"])
    assert fit["m"][order] == pytest.approx(exact["mean"], abs=0.4)  # 0.31 at the middle
    gap = exact["log_px"] - fit["elbo"][-1]
    assert math.log(6) < gap < math.log(6) + 1  # three labellings the Gaussian q cannot cover


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: cavi_gmm([], 2), "x"),
        (lambda: cavi_gmm([[1.0, 2.0]], 2), "x"),
        (lambda: cavi_gmm([1.0, math.nan], 2), "x"),
        (lambda: cavi_gmm(X, 0), "k"),
        (lambda: cavi_gmm(X, 2.0), "k"),
        (lambda: cavi_gmm(X, 2, 0.0), "sigma2"),
        (lambda: cavi_gmm(X, 2, iters=-1), "iters"),
        (lambda: cavi_gmm(X, 2, seed=1.5), "seed"),
        (lambda: exact_posterior(np.zeros(21), 2), "x"),
        (lambda: gmm_elbo(X, [0.0, 1.0], [1.0, 1.0], np.full((5, 3), 1 / 3)), "phi"),
        (lambda: gmm_elbo(X, [0.0, 1.0], [1.0, 1.0], np.full((5, 2), 0.6)), "phi"),
        (lambda: gmm_elbo(X, [0.0, 1.0], [1.0, -1.0], np.full((5, 2), 0.5)), "s2"),
        (lambda: marginal_density({}, [0.0]), "posterior"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_figures_and_explorer():
    x = three_clusters(2)
    fit, exact = cavi_gmm(x, 3, 10.0, iters=5), exact_posterior(x, 3, 10.0)
    ax_fit, ax_elbo = Figure().subplots(1, 2)
    grid = np.linspace(-6, 6, 50)
    plot_fit(ax_fit, x, fit, (grid, marginal_density(exact, grid)))
    plot_gap(ax_elbo, fit["elbo"], exact["log_px"], current=2, floor=math.log(6))
    assert len(ax_fit.lines) == 6 and ax_elbo.get_ylabel() == "log p(x) − ELBO (nats)"
    gap = ax_elbo.lines[0].get_ydata()
    assert gap == pytest.approx(exact["log_px"] - fit["elbo"]) and np.all(gap > math.log(6))
    explorer = cavi_explorer(x, 3, 10.0, iters=5, seeds=3)
    first = explorer.image.value
    explorer.sliders["t"].value = 1
    assert explorer.image.value != first
    one = cavi_explorer(x, 1, 10.0, iters=2, seeds=1)  # q exact: a gap of 0 is drawn at 1e-9
    assert one.image.value[:4] == b"\x89PNG"

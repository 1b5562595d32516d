"""The checks of notebook 21: each honest answer passes, each planted mistake fails with its own
hint, a delegating answer is refused, and the inputs change with the grading seed."""

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from elbo_lib import harness
from elbo_lib import problems_gaps as gaps
from elbo_lib.adam import Adam
from elbo_lib.flows import FlowPosterior

# Honest answers, written as a student would --------------------------------------------------


def _iwae_terms(x, mu, log_s, w, sigma2, eps):
    s = np.exp(log_s)
    z = mu + s * eps
    log_r = (
        -0.5 * z**2
        - 0.5 * (x - w * z) ** 2 / sigma2
        - 0.5 * np.log(2 * np.pi * sigma2)
        + np.log(s)
        + 0.5 * eps**2
    )
    g = -z + w * (x - w * z) / sigma2
    per_draw = np.stack([g, g * s * eps + 1, (x - w * z) * z / sigma2], axis=-1)
    return log_r, per_draw


def iwae_gradient(x, mu, log_s, w, sigma2, eps):
    log_r, per_draw = _iwae_terms(x, mu, log_s, w, sigma2, eps)
    weights = np.exp(log_r - log_r.max())
    weights /= weights.sum()
    return weights, weights @ per_draw


def cavi_normal_gamma(x, mu0, nu0, kappa0, eta0, half=False, plug_in=False, no_prior=False):
    n = len(x)
    m = (nu0 * mu0 + x.sum()) / (nu0 + n)
    a = kappa0 + (n if half else n + 1) / 2
    e_tau = kappa0 / eta0
    for _ in range(10_000):
        s2 = 1 / ((n if no_prior else nu0 + n) * e_tau)
        spread = 0.0 if plug_in else s2
        b = eta0 + 0.5 * (np.sum((x - m) ** 2) + n * spread + nu0 * ((m - mu0) ** 2 + spread))
        if abs(a / b - e_tau) < 1e-14 * e_tau:
            break
        e_tau = a / b
    return m, s2, a, b


def largest_drop(m, k):
    return math.log(k / m), np.concatenate([np.zeros(m), np.full(k - m, -50.0)])


def radial_flow(z, z0, alpha, gamma, power=None, sign=-1.0, constrain=True, radial_term=True):
    gamma_hat = -alpha + torch.nn.functional.softplus(gamma) if constrain else gamma
    r = (z - z0).norm(dim=-1, keepdim=True)
    h = 1 / (alpha + r)
    one = 1 + gamma_hat * h
    d = z.shape[-1] if power is None else power
    last = one + sign * gamma_hat * h**2 * r if radial_term else one
    log_det = (d - 1) * one.log() + last.log()
    return z + gamma_hat * h * (z - z0), log_det.squeeze(-1)


def fit_flow_posterior(x, seed, layers=8, steps=1500):
    torch.manual_seed(seed)
    q = FlowPosterior(torch.zeros(1, 2), torch.zeros(1, 2), layers)
    optimizer = Adam(list(q.parameters()), lr=0.02)
    for t in range(steps):
        z, log_q = q.sample(torch.randn(64, 1, 2))
        z1, z2 = z[:, 0, 0], z[:, 0, 1]
        log_joint = -0.5 * (z1**2 + z2**2) - 0.5 * (x - z2 - z1**2) ** 2 / 0.1
        loss = -(min(1.0, (t + 1) / 500) * log_joint - log_q[:, 0]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    flow = q.flow
    return tuple(
        p.detach().double().numpy()
        for p in (q.mu[0], q.logvar[0], flow.u[:, 0], flow.w[:, 0], flow.b[:, 0])
    )


HONEST = [
    (gaps.check_iwae_gradient, iwae_gradient),
    (gaps.check_cavi_normal_gamma, cavi_normal_gamma),
    (gaps.check_largest_drop, largest_drop),
    (gaps.check_radial_flow, radial_flow),
]


def verdict(check, fn, capsys):
    result = check(fn)
    return result, capsys.readouterr().out


@pytest.mark.parametrize("check, answer", HONEST, ids=lambda v: getattr(v, "__name__", ""))
def test_an_honest_answer_passes(check, answer, capsys):
    result, out = verdict(check, answer, capsys)
    assert result is True, out
    assert out.startswith("✓") and "correct!" in out


@pytest.mark.parametrize("check, _", HONEST, ids=lambda v: getattr(v, "__name__", ""))
def test_a_stub_is_not_done_yet(check, _, capsys):
    def stub(*args):
        raise NotImplementedError()

    result, out = verdict(check, stub, capsys)
    assert result is False and out.startswith("…") and "not done yet" in out


# The references the checks compare against -----------------------------------------------------


def test_the_iwae_reference_is_autograd_of_the_log_mean_weight():
    """The check's weights and gradient against a finite difference of log (1/K) Σ r_k."""
    x, mu, log_s, w, sigma2 = 0.7, -0.2, -0.3, 1.4, 0.8
    eps = np.array([0.3, -1.2, 2.0, 0.1])
    weights, gradient, log_r, _ = gaps._iwae_reference(x, mu, log_s, w, sigma2, eps)

    def bound(p):
        log_r, _ = _iwae_terms(x, *p[:2], p[2], sigma2, eps)
        return special.logsumexp(log_r) - math.log(len(eps))

    point, h = np.array([mu, log_s, w]), 1e-6
    numeric = [(bound(point + h * e) - bound(point - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-7)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-12)
    # log r_k = log p(x, z_k) − log q(z_k) with scipy's densities
    z = mu + math.exp(log_s) * eps
    by_scipy = (
        stats.norm.logpdf(z)
        + stats.norm.logpdf(x, w * z, math.sqrt(sigma2))
        - stats.norm.logpdf(z, mu, math.exp(log_s))
    )
    np.testing.assert_allclose(log_r, by_scipy, rtol=1e-12)


@pytest.mark.parametrize(
    "x, mu0, nu0, kappa0, eta0",
    [(np.array([2.5]), 0.0, 1.0, 2.0, 1.0), (np.array([0.3, -1.0, 2.2, 0.9]), 1.0, 0.5, 1.2, 3.0)],
)
def test_the_quadrature_optimum_is_the_coordinate_ascent_fixed_point(x, mu0, nu0, kappa0, eta0):
    """BFGS on the quadrature ELBO lands on the CAVI fixed point (Bishop 2006, §10.1.3), and the
    quadrature ELBO equals its closed form there."""
    m, s2, a, b = cavi_normal_gamma(x, mu0, nu0, kappa0, eta0)
    np.testing.assert_allclose(
        gaps._mean_field_optimum(x, mu0, nu0, kappa0, eta0), [m, s2, a, b], rtol=1e-5
    )
    n, e_tau, e_log_tau = len(x), a / b, special.digamma(a) - math.log(b)
    sq = np.sum((x - m) ** 2) + n * s2 + nu0 * ((m - mu0) ** 2 + s2)
    closed = (
        (n + 1) / 2 * (e_log_tau - math.log(2 * math.pi))
        + 0.5 * math.log(nu0)
        - 0.5 * e_tau * sq
        + kappa0 * math.log(eta0)
        - special.gammaln(kappa0)
        + (kappa0 - 1) * e_log_tau
        - eta0 * e_tau
        + 0.5 * math.log(2 * math.pi * math.e * s2)
        + a
        - math.log(b)
        + special.gammaln(a)
        + (1 - a) * special.digamma(a)
    )
    assert gaps._mean_field_elbo(x, mu0, nu0, kappa0, eta0, m, s2, a, b) == pytest.approx(closed)
    # the mean of q(μ) is the exact posterior mean, its variance (a_N − 1)/a_N of the exact one
    lam_n, a_n = nu0 + n, kappa0 + n / 2
    b_n = eta0 + 0.5 * np.sum((x - x.mean()) ** 2) + nu0 * n * (x.mean() - mu0) ** 2 / (2 * lam_n)
    assert m == pytest.approx((nu0 * mu0 + x.sum()) / lam_n)
    assert s2 == pytest.approx(b_n / (lam_n * (a_n - 1)) * (a_n - 1) / a_n)


# Planted mistakes, each with its own hint -----------------------------------------------------


def uniform_weights(x, mu, log_s, w, sigma2, eps):
    _, per_draw = _iwae_terms(x, mu, log_s, w, sigma2, eps)
    return np.full(len(eps), 1 / len(eps)), per_draw.mean(0)


def raw_weights(x, mu, log_s, w, sigma2, eps):
    log_r, per_draw = _iwae_terms(x, mu, log_s, w, sigma2, eps)
    weights = np.exp(log_r)
    return weights, (weights / weights.sum()) @ per_draw


def unstable_weights(x, mu, log_s, w, sigma2, eps):
    log_r, per_draw = _iwae_terms(x, mu, log_s, w, sigma2, eps)
    weights = np.exp(log_r) / np.exp(log_r).sum()
    return weights, weights @ per_draw


def no_entropy(x, mu, log_s, w, sigma2, eps):
    weights, gradient = iwae_gradient(x, mu, log_s, w, sigma2, eps)
    return weights, gradient - np.array([0.0, 1.0, 0.0])


def no_path_in_q(x, mu, log_s, w, sigma2, eps):
    """−log q(z_k) differentiated at a fixed z_k: (−ε/s, 1 − ε²) in place of (0, 1)."""
    weights, gradient = iwae_gradient(x, mu, log_s, w, sigma2, eps)
    s = np.exp(log_s)
    extra = np.stack([-eps / s, -(eps**2), 0 * eps], axis=-1)
    return weights, gradient + weights @ extra


def no_density_in_q(x, mu, log_s, w, sigma2, eps):
    """−log q(z_k) differentiated through z_k alone: (ε/s, ε²) in place of (0, 1)."""
    weights, gradient = iwae_gradient(x, mu, log_s, w, sigma2, eps)
    s = np.exp(log_s)
    extra = np.stack([eps / s, eps**2 - 1, 0 * eps], axis=-1)
    return weights, gradient + weights @ extra


def without_w(x, mu, log_s, w, sigma2, eps):
    weights, gradient = iwae_gradient(x, mu, log_s, w, sigma2, eps)
    return weights, gradient[:2]


def with_torch_distributions(x, mu, log_s, w, sigma2, eps):
    z = mu + np.exp(log_s) * torch.as_tensor(eps)
    torch.distributions.Normal(0.0, 1.0).log_prob(z)
    return iwae_gradient(x, mu, log_s, w, sigma2, eps)


def scale_not_rate(x, mu0, nu0, kappa0, eta0):
    m, s2, a, b = cavi_normal_gamma(x, mu0, nu0, kappa0, eta0)
    return m, s2, a, 1 / b


def with_scipy_stats(x, mu0, nu0, kappa0, eta0):
    stats.gamma(kappa0, scale=1 / eta0).mean()
    return cavi_normal_gamma(x, mu0, nu0, kappa0, eta0)


def with_the_checks_optimum(x, mu0, nu0, kappa0, eta0):
    return tuple(gaps._mean_field_optimum(x, mu0, nu0, kappa0, eta0))


def three_numbers(x, mu0, nu0, kappa0, eta0):
    return cavi_normal_gamma(x, mu0, nu0, kappa0, eta0)[:3]


def never_falls(m, k):
    return 0.0, np.zeros(k)


def always_log_2(m, k):
    return math.log(2), largest_drop(m, k)[1]


def log_k(m, k):
    return math.log(k), largest_drop(m, k)[1]


def weak_example(m, k):
    return math.log(k / m), np.concatenate([np.zeros(m), np.full(k - m, -2.0)])


def infinite_example(m, k):
    return math.log(k / m), np.concatenate([np.zeros(m), np.full(k - m, -np.inf)])


PLANTED = [
    (gaps.check_iwae_gradient, uniform_weights, "uniform weights 1/K give the ELBO's gradient"),
    (gaps.check_iwae_gradient, raw_weights, "these are the weights r_k themselves"),
    (gaps.check_iwae_gradient, unstable_weights, "subtract the largest log-weight"),
    (gaps.check_iwae_gradient, no_entropy, "the log s entry misses +1"),
    (gaps.check_iwae_gradient, no_path_in_q, "you held z_k fixed inside log q(z_k)"),
    (gaps.check_iwae_gradient, no_density_in_q, "you let log q(z_k) change only through z_k"),
    (gaps.check_iwae_gradient, without_w, "the decoder's weight w included"),
    (gaps.check_iwae_gradient, with_torch_distributions, "compute it yourself, not with torch"),
    (
        gaps.check_cavi_normal_gamma,
        lambda *a: cavi_normal_gamma(*a, half=True),
        "κ = κ₀ + N/2 forgets that μ's prior also carries τ",
    ),
    (
        gaps.check_cavi_normal_gamma,
        lambda *a: cavi_normal_gamma(*a, plug_in=True),
        "where E_q[(x_i − μ)²] = (x_i − m)² + s² belongs",
    ),
    (
        gaps.check_cavi_normal_gamma,
        lambda *a: cavi_normal_gamma(*a, no_prior=True),
        "the prior's ν₀ is missing",
    ),
    (gaps.check_cavi_normal_gamma, scale_not_rate, "η is the rate of the Gamma"),
    (gaps.check_cavi_normal_gamma, with_scipy_stats, "compute it yourself, not with scipy.stats"),
    (
        gaps.check_cavi_normal_gamma,
        with_the_checks_optimum,
        "compute it yourself, not with elbo_lib.problems_gaps._mean_field_optimum",
    ),
    (gaps.check_cavi_normal_gamma, three_numbers, "return the four numbers (m, s2, kappa, eta)"),
    (gaps.check_largest_drop, never_falls, "a single draw can fall"),
    (gaps.check_largest_drop, always_log_2, "log 2 is the largest fall from K = 2 to m = 1 only"),
    (gaps.check_largest_drop, log_k, "the largest fall depends on m as well as K"),
    (gaps.check_largest_drop, weak_example, "more than 0.01 below the largest drop"),
    (gaps.check_largest_drop, infinite_example, "give finite log-weights"),
    (
        gaps.check_radial_flow,
        lambda *a: radial_flow(*a, power=a[0].shape[-1] + 1),
        "the power of (1 + γ̂h) is d − 1, not d",
    ),
    (
        gaps.check_radial_flow,
        lambda *a: radial_flow(*a, radial_term=False),
        "the derivative of h along the radius is missing",
    ),
    (
        gaps.check_radial_flow,
        lambda *a: radial_flow(*a, sign=1.0),
        "the sign of the derivative is flipped",
    ),
    (
        gaps.check_radial_flow,
        lambda *a: radial_flow(*a, constrain=False),
        "use γ̂ = −α + log(1 + e^γ)",
    ),
]


@pytest.mark.parametrize(
    "check, mistake, hint",
    PLANTED,
    ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(PLANTED)],
)
def test_a_planted_mistake_gets_its_hint(check, mistake, hint, capsys):
    result, out = verdict(check, mistake, capsys)
    assert result is False, out
    assert out.startswith("✗") and hint in out, out


# The grading seed ---------------------------------------------------------------------------


def _seen(check, answer, seed, monkeypatch, capsys):
    """The arguments of every call of the answer when the checks' seed is ``seed``."""
    calls = []

    def spy(*args):
        calls.append([np.asarray(a, dtype=float).copy() for a in args])
        return answer(*args)

    monkeypatch.setattr(harness, "SEED", seed)
    check(spy)
    capsys.readouterr()
    return [a for args in calls for a in args]


@pytest.mark.parametrize("check, answer", HONEST, ids=lambda v: getattr(v, "__name__", ""))
def test_the_drawn_inputs_change_with_the_grading_seed(check, answer, monkeypatch, capsys):
    def same(a, b):
        return all(
            np.shape(u) == np.shape(v) and np.array_equal(u, v) for u, v in zip(a, b, strict=True)
        )

    first = _seen(check, answer, 0, monkeypatch, capsys)
    assert same(first, _seen(check, answer, 0, monkeypatch, capsys))
    assert not same(first, _seen(check, answer, 2027, monkeypatch, capsys))
    assert check(answer) is True  # and the honest answer passes at the other seed too


# The mini-project ---------------------------------------------------------------------------


def test_the_mini_project_passes_a_fitted_flow(capsys):
    result, out = verdict(gaps.check_fit_flow_posterior, fit_flow_posterior, capsys)
    assert result is True, out
    assert "for the best diagonal Gaussian" in out


def test_the_baseline_is_the_best_diagonal_gaussian():
    """At x = 0 the best diagonal Gaussian's KL by quadrature is not beaten by a grid of other
    diagonal Gaussians, each KL by Monte Carlo through the flow's own evaluation (0 layers)."""
    best = gaps._best_gaussian_kl(0.0)
    assert 0.2 < best < 1.0
    z = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, log_px = gaps._banana_grid(0.0)
    for m2 in (-0.6, -0.3, 0.0):
        for log_s1, log_s2 in ((-0.4, -1.2), (-0.2, -1.0), (0.0, -0.8)):
            points = torch.stack([math.exp(log_s1) * z[:, 0], m2 + math.exp(log_s2) * z[:, 1]], -1)
            log_q = stats.norm.logpdf(points[:, 0], 0, math.exp(log_s1)) + stats.norm.logpdf(
                points[:, 1], m2, math.exp(log_s2)
            )
            kl = log_px - np.mean(gaps._banana_log_joint(0.0, points).numpy() - log_q)
            assert kl > best - 0.01


def _gaussian_only(x, seed):
    """The best diagonal Gaussian found by a fit with the flow's layers switched off."""
    mu, logvar, u, w, b = fit_flow_posterior(x, seed, layers=1, steps=600)
    return mu, logvar, np.zeros_like(u), w, b


def _nan_flow(x, seed):
    mu, logvar, u, w, b = fit_flow_posterior(x, seed, layers=2, steps=1)
    return mu, logvar, u * np.nan, w, b


def _too_long(x, seed):
    mu, logvar, u, w, b = fit_flow_posterior(x, seed, layers=17, steps=1)
    return mu, logvar, u, w, b


def _delegating(x, seed):
    gaps._best_gaussian_kl(x)
    return fit_flow_posterior(x, seed, layers=1, steps=1)


@pytest.mark.parametrize(
    "answer, hint",
    [
        (_gaussian_only, "reach"),
        (lambda x, seed: fit_flow_posterior(x, seed)[:4], "return the five arrays"),
        (lambda x, seed: fit_flow_posterior(x, seed, 2, 1)[::-1], "has shape"),
        (_nan_flow, "train with a smaller step size"),
        (_too_long, "use between 1 and 16"),
        (_delegating, "compute it yourself, not with elbo_lib.problems_gaps._best_gaussian_kl"),
    ],
    ids=["gaussian", "four arrays", "shapes", "nan", "17 layers", "delegation"],
)
def test_the_mini_project_refuses(answer, hint, capsys):
    result, out = verdict(gaps.check_fit_flow_posterior, answer, capsys)
    assert result is False, out
    assert out.startswith("✗") and hint in out, out


def test_the_mini_project_is_not_done_and_its_x_changes_with_the_seed(monkeypatch, capsys):
    seen = []

    def stub(x, seed):
        seen.append((x, seed))
        raise NotImplementedError()

    for seed in (0, 0, 2027):
        monkeypatch.setattr(harness, "SEED", seed)
        assert gaps.check_fit_flow_posterior(stub) is False
        assert capsys.readouterr().out.startswith("… Exercise 6, the mini-project: not done yet")
    assert seen[0] == seen[1] != seen[2]
    assert all(0.5 <= x <= 2.0 for x, _ in seen)

"""The Gaussian KLs against torch.distributions, numerical integration and their properties."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from elbo_lib.kl import kl_mvn, kl_normal, kl_to_standard_normal

means = st.floats(-50, 50)
variances = st.floats(1e-6, 1e6)


def test_kl_normal_matches_torch_distributions():
    rng = np.random.default_rng(0)
    mu_q, mu_p = rng.normal(size=(2, 5, 3))
    var_q, var_p = rng.gamma(2.0, size=(2, 5, 3))
    expected = kl_divergence(
        Normal(torch.tensor(mu_q), torch.tensor(var_q).sqrt()),
        Normal(torch.tensor(mu_p), torch.tensor(var_p).sqrt()),
    ).numpy()
    np.testing.assert_allclose(kl_normal(mu_q, var_q, mu_p, var_p), expected, rtol=1e-12)


def test_kl_normal_matches_numerical_integration():
    q, p = stats.norm(0.3, 0.7), stats.norm(-1.2, 1.9)
    expected, _ = integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)), -15, 15)
    assert kl_normal(0.3, 0.7**2, -1.2, 1.9**2) == pytest.approx(expected, rel=1e-9)


def test_kl_normal_log_variance_form_equals_variance_form():
    got = kl_normal(0.4, logvar_q=np.log(0.2), mu_p=1.0, logvar_p=np.log(3.0))
    assert got == pytest.approx(kl_normal(0.4, 0.2, 1.0, 3.0), rel=1e-12)


@given(means, variances, means, variances)
def test_kl_normal_is_non_negative_and_zero_only_when_equal(mu_q, var_q, mu_p, var_p):
    kl = kl_normal(mu_q, var_q, mu_p, var_p)
    assert kl >= 0
    assert kl_normal(mu_q, var_q, mu_q, var_q) == 0
    if abs(mu_q - mu_p) > 1e-3 * np.sqrt(var_p) or abs(np.log(var_q / var_p)) > 1e-3:
        assert kl > 0


@pytest.mark.parametrize(
    ("var_q", "expected"),
    # closed form ½(var - log var - 1) at the extremes, worked by hand
    [(1e-30, 0.5 * (1e-30 + 30 * np.log(10) - 1)), (1e30, 0.5 * (1e30 - 30 * np.log(10) - 1))],
)
def test_kl_normal_stays_finite_and_exact_for_extreme_variances(var_q, expected):
    assert kl_normal(0.0, var_q) == pytest.approx(expected, rel=1e-12)


def test_kl_to_standard_normal_sums_elementwise_kls_over_last_axis():
    rng = np.random.default_rng(1)
    mu, var = rng.normal(size=(4, 6)), rng.gamma(2.0, size=(4, 6))
    expected = 0.5 * (mu**2 + var - np.log(var) - 1).sum(axis=-1)
    np.testing.assert_allclose(kl_to_standard_normal(mu, var), expected, rtol=1e-12)
    np.testing.assert_allclose(kl_to_standard_normal(mu, logvar=np.log(var)), expected, rtol=1e-12)
    np.testing.assert_allclose(kl_normal(mu, var).sum(-1), expected, rtol=1e-12)


def test_kl_to_standard_normal_gradients_match_torch_distributions():
    mu = torch.tensor([[0.3, -1.0, 2.0]], requires_grad=True)
    logvar = torch.tensor([[0.1, -2.0, 1.5]], requires_grad=True)
    kl_to_standard_normal(mu, logvar=logvar).sum().backward()
    ours = mu.grad.clone(), logvar.grad.clone()
    mu.grad = logvar.grad = None
    prior = Normal(torch.zeros(3), torch.ones(3))
    kl_divergence(Normal(mu, (0.5 * logvar).exp()), prior).sum().backward()
    torch.testing.assert_close(ours[0], mu.grad)
    torch.testing.assert_close(ours[1], logvar.grad)


def test_kl_to_standard_normal_with_tiny_log_variance_is_finite():
    kl = kl_to_standard_normal(torch.zeros(1, 2), logvar=torch.full((1, 2), -200.0))
    assert torch.isfinite(kl).all() and kl.item() == pytest.approx(199.0, rel=1e-6)


def _random_spd(rng, k):
    a = rng.normal(size=(k, k))
    return a @ a.T + 0.5 * np.eye(k)


def test_kl_mvn_matches_torch_distributions():
    rng = np.random.default_rng(2)
    mu_q, mu_p = rng.normal(size=(2, 4))
    cov_q, cov_p = _random_spd(rng, 4), _random_spd(rng, 4)
    expected = kl_divergence(
        MultivariateNormal(torch.tensor(mu_q), torch.tensor(cov_q)),
        MultivariateNormal(torch.tensor(mu_p), torch.tensor(cov_p)),
    ).item()
    assert kl_mvn(mu_q, cov_q, mu_p, cov_p) == pytest.approx(expected, rel=1e-10)


def test_kl_mvn_with_diagonal_covariances_equals_sum_of_univariate_kls():
    mu_q, mu_p, var_q, var_p = [0.1, 2.0], [-1.0, 0.5], np.array([0.3, 4.0]), np.array([2.0, 1.0])
    expected = kl_normal(np.array(mu_q), var_q, np.array(mu_p), var_p).sum()
    assert kl_mvn(mu_q, np.diag(var_q), mu_p, np.diag(var_p)) == pytest.approx(expected, rel=1e-12)


def test_kl_mvn_is_differentiable_in_torch():
    mu = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    kl = kl_mvn(
        mu,
        torch.eye(2, dtype=torch.float64),
        torch.ones(2, dtype=torch.float64),
        torch.eye(2, dtype=torch.float64),
    )
    kl.backward()
    torch.testing.assert_close(mu.grad, -torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kl_normal(0.0, -1.0), "var_q must be positive"),
        (lambda: kl_normal(0.0, 1.0, 0.0, 0.0), "var_p must be positive"),
        (lambda: kl_normal(np.nan, 1.0), "mu_q contains NaN"),
        (lambda: kl_normal(0.0, np.nan), "var_q contains NaN"),
        (lambda: kl_normal(np.zeros(3), np.ones(2)), "do not broadcast"),
        (lambda: kl_normal(0.0, 1.0, logvar_q=0.0), "exactly one of var_q"),
        (lambda: kl_to_standard_normal(np.zeros(3), np.ones(4)), "var has shape"),
        (lambda: kl_to_standard_normal(np.zeros(2), -np.ones(2)), "var must be positive"),
        (lambda: kl_to_standard_normal(np.zeros(2), logvar=[0.0, np.inf]), "logvar must be finite"),
        (lambda: kl_mvn(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)), "last axis of the mean"),
        (lambda: kl_mvn(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)), "positive definite"),
        (lambda: kl_mvn(np.zeros(2), [[1, 0.5], [0, 1]], np.zeros(2), np.eye(2)), "symmetric"),
        (lambda: kl_mvn(np.zeros(2), np.ones(2), np.zeros(2), np.eye(2)), "square matrix"),
    ],
)
def test_bad_input_raises_a_value_error_that_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""The linear-Gaussian model and probabilistic PCA against scipy, Monte Carlo and scikit-learn."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from elbo_lib.linear_gaussian import (
    LinearGaussian,
    fit_ppca,
    ppca_elbo,
    ppca_log_likelihood,
    ppca_posterior,
)

models = st.builds(LinearGaussian, st.floats(-5, 5), st.floats(0.01, 10))
points = st.floats(-10, 10)


def test_log_evidence_matches_the_marginal_normal_and_the_integral_of_the_joint():
    model, x = LinearGaussian(w=1.7, sigma2=0.4), np.array([-2.0, 0.3, 3.1])
    expected = stats.norm(0, np.sqrt(1.7**2 + 0.4)).logpdf(x)
    np.testing.assert_allclose(model.log_evidence(x), expected, rtol=1e-12)
    integral, _ = integrate.quad(lambda z: np.exp(model.log_joint(0.3, z)), -np.inf, np.inf)
    assert np.log(integral) == pytest.approx(expected[1], rel=1e-9)


def test_posterior_matches_the_normalised_joint_by_quadrature():
    model, x = LinearGaussian(w=-0.8, sigma2=0.6), 1.4
    evidence = np.exp(model.log_evidence(x))

    def moment(k):
        return integrate.quad(
            lambda z: z**k * np.exp(model.log_joint(x, z)) / evidence, -np.inf, np.inf
        )[0]

    mean, var = model.posterior(x)
    assert mean == pytest.approx(moment(1), rel=1e-9)
    assert var == pytest.approx(moment(2) - moment(1) ** 2, rel=1e-9)
    assert mean == pytest.approx(-0.8 * 1.4 / (0.64 + 0.6)) and var == pytest.approx(0.6 / 1.24)


def test_elbo_closed_form_matches_monte_carlo():
    model, x, mu, s2 = LinearGaussian(w=1.2, sigma2=0.5), 0.8, -0.3, 0.7
    n, rng = 400_000, np.random.default_rng(0)
    z = mu + np.sqrt(s2) * rng.standard_normal(n)
    terms = model.log_joint(x, z) - stats.norm(mu, np.sqrt(s2)).logpdf(z)
    assert model.elbo(x, mu, s2) == pytest.approx(terms.mean(), abs=4 * terms.std() / np.sqrt(n))


@given(models, points, st.floats(-10, 10), st.floats(1e-4, 100))
def test_log_evidence_equals_elbo_plus_kl_to_posterior_for_any_q(model, x, mu, s2):
    lhs = model.log_evidence(x)
    rhs = model.elbo(x, mu, s2) + model.kl_to_posterior(x, mu, s2)
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@given(models, points, st.floats(-10, 10), st.floats(1e-4, 100))
def test_elbo_is_below_log_evidence_with_equality_at_the_posterior(model, x, mu, s2):
    assert model.elbo(x, mu, s2) <= model.log_evidence(x) + 1e-9
    assert model.elbo(x, *model.posterior(x)) == pytest.approx(model.log_evidence(x), abs=1e-9)


def test_gradient_of_the_elbo_vanishes_at_the_posterior():
    model, x = LinearGaussian(w=0.9, sigma2=0.3), torch.tensor(1.1, dtype=torch.float64)
    mean, var = model.posterior(x)
    mu, s2 = mean.clone().requires_grad_(), var.clone().requires_grad_()
    model.elbo(x, mu, s2).backward()
    assert abs(mu.grad.item()) < 1e-12 and abs(s2.grad.item()) < 1e-12


def test_sample_has_the_model_moments():
    model, n = LinearGaussian(w=2.0, sigma2=0.5), 200_000
    x, z = model.sample(n, seed=1)
    se = 4 / np.sqrt(n)
    assert z.mean() == pytest.approx(0, abs=se) and x.var() == pytest.approx(4.5, rel=4 * se)
    assert np.cov(x, z)[0, 1] == pytest.approx(2.0, rel=4 * se)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


def test_fit_ppca_covariance_matches_scikit_learn_probabilistic_pca(digits):
    n = len(digits)
    W, mean, sigma2 = fit_ppca(digits, z_dim=10)
    # scikit-learn divides the covariance by n - 1; rescale the data so it fits the ML estimate
    rescaled = digits.mean(0) + (digits - digits.mean(0)) * np.sqrt((n - 1) / n)
    pca = PCA(n_components=10).fit(rescaled)
    np.testing.assert_allclose(W @ W.T + sigma2 * np.eye(64), pca.get_covariance(), atol=1e-10)
    np.testing.assert_allclose(mean, pca.mean_, atol=1e-12)
    assert sigma2 == pytest.approx(pca.noise_variance_, rel=1e-10)


def test_ppca_log_likelihood_matches_scikit_learn_score(digits):
    pca = PCA(n_components=5).fit(digits)
    W = pca.components_.T * np.sqrt(pca.explained_variance_ - pca.noise_variance_)
    ours = ppca_log_likelihood(digits, W, pca.mean_, pca.noise_variance_)
    np.testing.assert_allclose(ours, pca.score_samples(digits), rtol=1e-10)
    np.testing.assert_allclose(
        ours[:3],
        stats.multivariate_normal(pca.mean_, pca.get_covariance()).logpdf(digits[:3]),
        rtol=1e-10,
    )


def test_fit_ppca_is_the_maximum_likelihood_fit(digits):
    W, mean, sigma2 = fit_ppca(digits, z_dim=4)
    best = ppca_log_likelihood(digits, W, mean, sigma2).mean()
    rng = np.random.default_rng(2)
    for _ in range(5):
        nudged = W + 0.01 * rng.standard_normal(W.shape)
        assert ppca_log_likelihood(digits, nudged, mean, sigma2).mean() < best
    assert ppca_log_likelihood(digits, W, mean, 1.05 * sigma2).mean() < best
    assert ppca_log_likelihood(digits, W, mean, 0.95 * sigma2).mean() < best


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: LinearGaussian(1.0, -0.5), "sigma2 must be a positive"),
        (lambda: LinearGaussian(np.nan, 0.5), "w must be a finite"),
        (lambda: LinearGaussian(1.0, 1.0).elbo(0.0, 0.0, 0.0), "s2 must be positive"),
        (lambda: LinearGaussian(1.0, 1.0).elbo(np.nan, 0.0, 1.0), "x contains NaN"),
        (
            lambda: LinearGaussian(1.0, 1.0).kl_to_posterior(0.0, 0.0, -1.0),
            "s2 must be positive",
        ),
        (lambda: LinearGaussian(1.0, 1.0).sample(0), "n must be"),
        (lambda: fit_ppca(np.zeros(5), 1), "2-D array"),
        (lambda: fit_ppca(np.ones((5, 3)), 3), r"z_dim must be an integer in \[1, 2\]"),
        (lambda: fit_ppca([[0.0, np.nan], [1.0, 2.0]], 1), "NaN"),
        (
            lambda: ppca_log_likelihood(np.zeros((2, 3)), np.zeros((2, 1)), np.zeros(3), 1.0),
            "W must",
        ),
        (
            lambda: ppca_log_likelihood(np.zeros((2, 3)), np.zeros((3, 1)), np.zeros(3), 0.0),
            "sigma2",
        ),
    ],
)
def test_bad_input_raises_a_value_error_that_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.fixture(scope="module")
def digits_ppca():
    X = load_digits().data[:300]
    return X, *fit_ppca(X, 5)


def test_ppca_posterior_matches_gaussian_conditioning_of_the_joint(digits_ppca):
    X, W, mean, sigma2 = digits_ppca
    d, q = W.shape
    # joint of (z, x): cov [[I, W^T], [W, W W^T + σ² I]]; condition z on x by the Schur complement
    cov_xx = W @ W.T + sigma2 * np.eye(d)
    gain = np.linalg.solve(cov_xx, W).T  # W^T (W W^T + σ² I)^{-1}
    means, cov = ppca_posterior(X[:10], W, mean, sigma2)
    np.testing.assert_allclose(means, (X[:10] - mean) @ gain.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov, np.eye(q) - gain @ W, rtol=1e-8, atol=1e-12)


def test_ppca_elbo_of_the_exact_posterior_is_the_log_likelihood(digits_ppca):
    X, W, mean, sigma2 = digits_ppca
    means, cov = ppca_posterior(X, W, mean, sigma2)
    np.testing.assert_allclose(
        ppca_elbo(X, W, mean, sigma2, means, cov),
        ppca_log_likelihood(X, W, mean, sigma2),
        rtol=1e-10,
    )
    assert np.all(
        ppca_elbo(X, W, mean, sigma2, means, np.eye(W.shape[1]))
        < ppca_log_likelihood(X, W, mean, sigma2)
    )


def test_ppca_elbo_matches_a_monte_carlo_average_of_log_weights(digits_ppca):
    X, W, mean, sigma2 = digits_ppca
    x, q_mean, q_cov = X[:1], np.full((1, W.shape[1]), 0.3), 0.5 * np.eye(W.shape[1])
    z = stats.multivariate_normal(q_mean[0], q_cov).rvs(20_000, random_state=0)
    log_w = (
        stats.norm(z @ W.T + mean, np.sqrt(sigma2)).logpdf(x).sum(axis=1)
        + stats.multivariate_normal(np.zeros(W.shape[1])).logpdf(z)
        - stats.multivariate_normal(q_mean[0], q_cov).logpdf(z)
    )
    tolerance = 4 * log_w.std() / np.sqrt(log_w.size)
    assert ppca_elbo(x, W, mean, sigma2, q_mean, q_cov)[0] == pytest.approx(
        log_w.mean(), abs=tolerance
    )


def test_ppca_elbo_refuses_mismatched_q(digits_ppca):
    X, W, mean, sigma2 = digits_ppca
    with pytest.raises(ValueError, match="q_means must be"):
        ppca_elbo(X[:3], W, mean, sigma2, np.zeros((2, W.shape[1])), np.eye(W.shape[1]))


X_20 = load_digits().data[:20]  # loaded once, outside the hypothesis loop
PPCA_20 = fit_ppca(X_20, 3)


@settings(deadline=None)
@given(st.floats(-2, 2), st.floats(0.05, 3))
def test_ppca_elbo_never_exceeds_the_log_likelihood(shift, scale):
    X, (W, mean, sigma2) = X_20, PPCA_20
    means, cov = ppca_posterior(X, W, mean, sigma2)
    elbo = ppca_elbo(X, W, mean, sigma2, means + shift, scale * cov)
    assert np.all(elbo <= ppca_log_likelihood(X, W, mean, sigma2) + 1e-8)


@given(
    st.floats(0.001, 5).flatmap(lambda w: st.sampled_from([w, -w])),
    st.floats(0.01, 100),
    st.floats(-10, 10),
)
def test_posterior_precisions_add_and_its_mean_weighs_prior_and_data(w, sigma2, x):
    mean, var = LinearGaussian(w, sigma2).posterior(x)
    data_precision = w**2 / sigma2
    assert 1 / var == pytest.approx(1 + data_precision, rel=1e-9)
    assert mean == pytest.approx(
        data_precision * (x / w) / (1 + data_precision), rel=1e-9, abs=1e-12
    )
    assert var < 1  # observing x never widens the posterior of this model

"""log-mean-exp, the IWAE bound and the Jensen gap, against scipy and the linear-Gaussian truth."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp

from elbo_lib.bounds import iwae_bound, jensen_gap, log_mean_exp
from elbo_lib.linear_gaussian import LinearGaussian


@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e4, 1e4)))
def test_log_mean_exp_matches_scipy_logsumexp(a):
    expected = logsumexp(a) - np.log(a.size)
    assert log_mean_exp(a) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def test_log_mean_exp_is_stable_at_extreme_log_weights():
    assert log_mean_exp(np.array([1e4, 1e4 - np.log(3.0)])) == pytest.approx(
        1e4 + np.log(2 / 3), rel=1e-14
    )
    assert log_mean_exp(np.array([-1e4, -1e4])) == pytest.approx(-1e4)
    assert log_mean_exp(np.array([-np.inf, 0.0])) == pytest.approx(-np.log(2))
    assert log_mean_exp(np.array([-np.inf, -np.inf])) == -np.inf


def test_log_mean_exp_reduces_the_given_axis_in_numpy_and_torch():
    a = np.random.default_rng(0).normal(size=(3, 5))
    np.testing.assert_allclose(log_mean_exp(a, axis=0), logsumexp(a, axis=0) - np.log(3))
    t = torch.tensor(a, requires_grad=True)
    out = log_mean_exp(t, axis=1)
    torch.testing.assert_close(out, torch.logsumexp(t, 1) - np.log(5))
    out.sum().backward()
    torch.testing.assert_close(t.grad, torch.softmax(t, 1).detach())


def _log_weights(model, x, mu, s2, shape, rng):
    z = mu + np.sqrt(s2) * rng.standard_normal(shape)
    log_q = -0.5 * (np.log(2 * np.pi * s2) + (z - mu) ** 2 / s2)
    return model.log_joint(x, z) - log_q


def test_iwae_bound_rises_with_k_towards_the_log_evidence():
    model, x, rng = LinearGaussian(w=2.0, sigma2=0.3), 1.5, np.random.default_rng(1)
    mu, s2 = 0.0, 1.0  # the prior as proposal: a poor q, so the bound has room to rise
    replicates = 4000
    estimates = {}
    for k in (1, 4, 16, 64, 256):
        bounds = iwae_bound(_log_weights(model, x, mu, s2, (replicates, k), rng))
        estimates[k] = (bounds.mean(), bounds.std(ddof=1) / np.sqrt(replicates))
    # K = 1 is the ELBO: its expectation has a closed form
    assert estimates[1][0] == pytest.approx(model.elbo(x, mu, s2), abs=5 * estimates[1][1])
    ks = sorted(estimates)
    for small, large in itertools.pairwise(ks):
        (m1, se1), (m2, se2) = estimates[small], estimates[large]
        assert m2 > m1 - 3 * np.hypot(se1, se2)
    assert estimates[256][0] <= model.log_evidence(x) + 3 * estimates[256][1]
    assert estimates[256][0] == pytest.approx(model.log_evidence(x), abs=0.05)


def test_jensen_gap_of_elbo_weights_estimates_the_kl_to_the_posterior():
    model, x, rng = LinearGaussian(w=1.0, sigma2=0.5), -0.7, np.random.default_rng(2)
    mu, s2 = 0.2, 0.6
    log_w = _log_weights(model, x, mu, s2, 200_000, rng)
    # with many samples, log mean w -> log p(x) and mean log w -> ELBO
    assert jensen_gap(log_w) == pytest.approx(model.kl_to_posterior(x, mu, s2), abs=0.01)


def test_jensen_gap_vanishes_when_q_is_the_posterior():
    model, x = LinearGaussian(w=1.3, sigma2=0.4), 0.9
    mean, var = model.posterior(x)
    log_w = _log_weights(model, x, mean, var, 1000, np.random.default_rng(3))
    np.testing.assert_allclose(log_w, model.log_evidence(x), rtol=1e-12)
    assert jensen_gap(log_w) == pytest.approx(0.0, abs=1e-12)


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e3, 1e3)))
def test_jensen_gap_is_non_negative(log_w):
    assert jensen_gap(log_w) >= -1e-9


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: log_mean_exp(np.array([0.0, np.nan])), "a contains NaN"),
        (lambda: log_mean_exp(np.array([0.0, np.inf])), r"\+inf"),
        (lambda: log_mean_exp(np.zeros((2, 0))), "at least one sample"),
        (lambda: log_mean_exp(np.zeros(3), axis=1), "axis 1 is out of range"),
        (lambda: iwae_bound(np.array([np.nan])), "contains NaN"),
        (lambda: jensen_gap(np.array([np.nan])), "log_w contains NaN"),
    ],
)
def test_bad_input_raises_a_value_error_that_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()

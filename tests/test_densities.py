"""The Gaussian log-density against scipy.stats and torch.distributions."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from torch.distributions import Normal

from elbo_lib.densities import log_normal


@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(1e-6, 1e6))
def test_log_normal_matches_scipy(x, mean, var):
    expected = stats.norm(mean, np.sqrt(var)).logpdf(x)
    assert log_normal(x, mean, var) == pytest.approx(expected, rel=1e-10, abs=1e-10)
    assert log_normal(x, mean, logvar=np.log(var)) == pytest.approx(expected, rel=1e-10, abs=1e-10)


def test_log_normal_defaults_to_the_standard_normal_and_broadcasts():
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(log_normal(z), stats.norm.logpdf(z), rtol=1e-14)
    means, var = np.array([[0.0], [1.0]]), 2.0
    np.testing.assert_allclose(
        log_normal(z, means, var), stats.norm(means, np.sqrt(var)).logpdf(z), rtol=1e-14
    )


def test_log_normal_matches_torch_distributions_with_gradients():
    mean = torch.tensor([0.3, -1.0], requires_grad=True)
    logvar = torch.tensor([0.2, -3.0], requires_grad=True)
    x = torch.tensor([1.0, -1.2])
    log_normal(x, mean, logvar=logvar).sum().backward()
    ours = mean.grad.clone(), logvar.grad.clone()
    mean.grad = logvar.grad = None
    expected = Normal(mean, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(log_normal(x, mean, logvar=logvar), expected)
    expected.sum().backward()
    torch.testing.assert_close(ours, (mean.grad, logvar.grad))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: log_normal(0.0, 0.0, -1.0), "var must be positive"),
        (lambda: log_normal(np.nan), "x contains NaN"),
        (lambda: log_normal(0.0, np.nan, 1.0), "mu contains NaN"),
        (lambda: log_normal(np.zeros(3), np.zeros(2)), "do not broadcast"),
        (lambda: log_normal(0.0, 0.0, 1.0, logvar=0.0), "exactly one of var and logvar"),
    ],
)
def test_bad_input_raises_a_value_error_that_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()

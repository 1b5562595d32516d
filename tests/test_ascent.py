"""Gradient paths in (m, log v) against closed-form optima and a hand-computed step."""

import numpy as np
import pytest

from elbo_lib.ascent import elbo_ascent, gradient_path, kl_descent
from elbo_lib.linear_gaussian import LinearGaussian


def test_gradient_path_climbs_the_linear_gaussian_elbo_to_the_exact_posterior():
    model, x = LinearGaussian(w=1.5, sigma2=0.5), 2.0
    path = gradient_path(lambda m, v: model.elbo(x, m, v), 0.0, 1.0, lr=0.1, steps=400)
    assert path.shape == (401, 2) and tuple(path[0]) == (0.0, 1.0)
    np.testing.assert_allclose(path[-1], model.posterior(x), atol=1e-8)
    elbos = model.elbo(x, path[:, 0], path[:, 1])
    assert np.all(np.diff(elbos) >= -1e-12)  # a small enough step never goes downhill


def test_gradient_path_takes_steps_of_lr_times_the_gradient_in_mean_and_log_variance():
    # objective -(m - 3)² - (log v)²: gradient (-2(m - 3), -2 log v) in (m, log v)
    path = gradient_path(lambda m, v: -((m - 3) ** 2) - v.log() ** 2, 1.0, 10.0, lr=0.1, steps=1)
    assert path[1, 0] == pytest.approx(1.0 + 0.1 * 4.0)
    assert np.log(path[1, 1]) == pytest.approx(np.log(10.0) * (1 - 0.2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean": 0.0, "var": 0.0, "lr": 0.1, "steps": 3}, "var must be a positive"),
        ({"mean": 0.0, "var": 1.0, "lr": -0.1, "steps": 3}, "lr must be"),
        ({"mean": 0.0, "var": 1.0, "lr": 0.1, "steps": 2.5}, "steps must be"),
    ],
)
def test_gradient_path_refuses_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradient_path(lambda m, v: -(m**2), **kwargs)


def test_elbo_ascent_moves_toward_the_posterior_and_lands_on_it_when_well_conditioned():
    model = LinearGaussian(1.5, 0.5)
    path = elbo_ascent(model, 2.0, steps=200)
    np.testing.assert_allclose(path[-1], model.posterior(2.0), atol=1e-6)
    assert path[1, 0] == pytest.approx(model.posterior(2.0)[0])  # one Newton step in μ
    # ill-conditioned (L = 1 + 9/0.05 = 181): the step 1/L is stable, the ELBO never drops
    model = LinearGaussian(3.0, 0.05)
    elbo = model.elbo(-4.0, *elbo_ascent(model, -4.0).T)
    assert np.all(np.isfinite(elbo)) and np.all(np.diff(elbo) >= -1e-9)


def test_kl_descent_heads_for_the_standard_normal():
    path = kl_descent(2.0, 0.05, steps=400)
    np.testing.assert_allclose(path[-1], (0.0, 1.0), atol=1e-6)

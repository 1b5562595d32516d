"""Gaussian fits under the reverse and forward KL against closed forms and brute force."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, stats

from elbo_lib.divergences import (
    factorised_fit,
    fit_gaussian,
    mixture_log_density,
    reverse_kl,
)
from elbo_lib.kl import kl_mvn

GRID = np.linspace(-12, 12, 2401)


def scipy_mixture(separation, weight=0.5, std=1.0):
    return np.logaddexp(
        np.log(weight) + stats.norm(-separation / 2, std).logpdf(GRID),
        np.log(1 - weight) + stats.norm(separation / 2, std).logpdf(GRID),
    )


@pytest.mark.parametrize("objective", ["reverse", "forward"])
def test_both_fits_recover_a_gaussian_target_exactly(objective):
    mean, std = fit_gaussian(stats.norm(1.3, 0.8).logpdf(GRID) + 7.0, GRID, objective)
    assert mean == pytest.approx(1.3, abs=1e-4) and std == pytest.approx(0.8, rel=1e-3)


@pytest.mark.parametrize(("separation", "weight"), [(2.0, 0.5), (6.0, 0.3), (8.0, 0.5)])
def test_forward_fit_matches_the_mixture_moments(separation, weight):
    a, b = -separation / 2, separation / 2
    mean = weight * a + (1 - weight) * b
    var = 1.0 + weight * a**2 + (1 - weight) * b**2 - mean**2
    got = fit_gaussian(scipy_mixture(separation, weight), GRID, "forward")
    assert got == pytest.approx((mean, np.sqrt(var)), abs=1e-6)


def test_reverse_fit_sits_on_one_of_two_separated_modes():
    mean, std = fit_gaussian(scipy_mixture(8.0), GRID, "reverse")
    assert abs(mean) == pytest.approx(4.0, abs=1e-3) and std == pytest.approx(1.0, rel=1e-3)


def test_reverse_fit_prefers_the_heavier_mode():
    mean, _ = fit_gaussian(scipy_mixture(8.0, weight=0.3), GRID, "reverse")
    assert mean == pytest.approx(4.0, abs=1e-3)


@pytest.mark.parametrize("separation", [1.0, 2.5, 3.5, 4.5, 5.0, 5.5, 7.0])
def test_reverse_fit_is_the_global_minimum_found_by_brute_force(separation):
    log_p = scipy_mixture(separation, weight=0.4)
    mean, std = fit_gaussian(log_p, GRID, "reverse")
    means, stds = np.meshgrid(np.linspace(-6, 6, 241), np.exp(np.linspace(-2, 1.5, 141)))
    brute = reverse_kl(means, stds, log_p, GRID).min()
    assert reverse_kl(mean, std, log_p, GRID) <= brute + 1e-9


def test_reverse_kl_on_the_grid_matches_the_closed_form_between_gaussians():
    log_p = stats.norm(0.5, 1.5).logpdf(GRID)
    closed = np.log(1.5 / 0.7) + (0.7**2 + 1.0**2) / (2 * 1.5**2) - 0.5
    assert reverse_kl(1.5, 0.7, log_p, GRID) == pytest.approx(closed, rel=1e-6)


def test_a_density_that_vanishes_on_part_of_the_grid_is_fitted_inside_its_support():
    log_p = np.where(GRID > 0, -GRID, -np.inf)  # an exponential density
    mean, std = fit_gaussian(log_p, GRID, "reverse")
    assert mean > 0 and np.isfinite(std)
    # the jump at 0 costs O(grid step) = 0.01 in the trapezoid rule
    assert fit_gaussian(log_p, GRID, "forward") == pytest.approx((1.0, 1.0), abs=0.01)


@pytest.mark.parametrize(
    ("log_p", "grid", "objective", "message"),
    [
        (np.zeros(5), np.array([0, 1, 1, 2, 3.0]), "reverse", "strictly increasing"),
        (np.zeros(4), np.linspace(0, 1, 5), "reverse", "log_p has shape"),
        (np.zeros(5), np.linspace(0, 1, 5), "sideways", "objective must be one of"),
        (np.full(5, np.nan), np.linspace(0, 1, 5), "forward", "NaN"),
        (np.full(5, -np.inf), np.linspace(0, 1, 5), "forward", "no mass"),
        (np.zeros(2), np.linspace(0, 1, 2), "forward", "at least 3 points"),
    ],
)
def test_bad_input_raises_a_value_error_that_names_the_problem(log_p, grid, objective, message):
    with pytest.raises(ValueError, match=message):
        fit_gaussian(log_p, grid, objective)


def random_covariance(seed, k=3):
    a = np.random.default_rng(seed).standard_normal((k, k))
    return a @ a.T + 0.3 * np.eye(k)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("objective", ["reverse", "forward"])
def test_factorised_fit_is_the_minimum_of_the_kl_over_diagonal_gaussians(seed, objective):
    mean, cov = np.array([0.5, -1.0, 2.0]), random_covariance(seed)

    def kl(theta):
        q_mean, q_cov = theta[:3], np.diag(np.exp(theta[3:]))
        if objective == "reverse":
            return kl_mvn(q_mean, q_cov, mean, cov)
        return kl_mvn(mean, cov, q_mean, q_cov)

    brute = optimize.minimize(kl, np.zeros(6), method="BFGS", options={"gtol": 1e-10})
    got_mean, got_var = factorised_fit(mean, cov, objective)
    np.testing.assert_allclose(got_mean, brute.x[:3], atol=1e-5)
    np.testing.assert_allclose(got_var, np.exp(brute.x[3:]), rtol=1e-5)


@pytest.mark.parametrize("rho", [-0.95, -0.3, 0.0, 0.6, 0.99])
def test_factorised_reverse_fit_is_narrower_than_the_forward_fit(rho):
    cov = np.array([[2.0, rho * np.sqrt(2.0)], [rho * np.sqrt(2.0), 1.0]])
    _, reverse = factorised_fit(np.zeros(2), cov, "reverse")
    _, forward = factorised_fit(np.zeros(2), cov, "forward")
    np.testing.assert_allclose(reverse, (1 - rho**2) * np.diag(cov), rtol=1e-12)
    np.testing.assert_allclose(forward, np.diag(cov))


@pytest.mark.parametrize(
    ("mean", "cov", "objective", "message"),
    [
        (np.zeros(2), np.eye(3), "reverse", "mean must be"),
        (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), "reverse", "positive definite"),
        (np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), "forward", "symmetric"),
        (np.zeros(2), np.eye(2), "sideways", "objective must be one of"),
        (np.array([np.nan, 0.0]), np.eye(2), "forward", "mean contains NaN"),
    ],
)
def test_factorised_fit_refuses_bad_input(mean, cov, objective, message):
    with pytest.raises(ValueError, match=message):
        factorised_fit(mean, cov, objective)


@pytest.mark.parametrize(("separation", "weight"), [(0.0, 0.5), (3.0, 0.2), (9.0, 0.9)])
def test_mixture_log_density_matches_scipy(separation, weight):
    np.testing.assert_allclose(
        mixture_log_density(GRID, separation, weight), scipy_mixture(separation, weight), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("separation", "weight", "message"), [(-1.0, 0.5, "separation"), (2.0, 1.0, "weight")]
)
def test_mixture_log_density_refuses_bad_parameters(separation, weight, message):
    with pytest.raises(ValueError, match=message):
        mixture_log_density(GRID, separation, weight)


@given(st.lists(st.floats(-3, 3), min_size=9, max_size=9), st.floats(0.01, 2))
def test_factorised_reverse_variances_never_exceed_the_marginal_ones(entries, ridge):
    a = np.array(entries).reshape(3, 3)
    cov = a @ a.T + ridge * np.eye(3)
    _, reverse = factorised_fit(np.zeros(3), cov, "reverse")
    _, forward = factorised_fit(np.zeros(3), cov, "forward")
    assert np.all(reverse <= forward * (1 + 1e-9))  # 1/Λ_ii ≤ Σ_ii (Cauchy–Schwarz)


def test_forward_fit_on_a_non_uniform_grid_weighs_each_point_by_its_quadrature_weight():
    grid = 1.5 * np.sinh(np.linspace(-3.2, 3.2, 1601))  # dense at 0, sparse in the tails
    mean, std = fit_gaussian(stats.norm(0.7, 1.1).logpdf(grid), grid, "forward")
    assert (mean, std) == pytest.approx((0.7, 1.1), rel=1e-4)

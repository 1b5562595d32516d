"""The score-function and pathwise estimators against exact gradients (closed forms, autograd of a
closed-form ELBO) and exact variances (Gauss–Hermite quadrature), with standard-error
tolerances."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial.hermite_e import hermegauss
from scipy import stats

from elbo_lib.checks import mean_and_standard_error, variance_and_standard_error
from elbo_lib.estimators import optimal_baseline, pathwise_gradients, score_function_gradients
from elbo_lib.linear_gaussian import LinearGaussian

N = 20_000
Z_SCORE = 4.0  # |mean - exact| < 4 standard errors: fails by chance with probability 6e-5


def square(z):
    return z**2


def exact_square(mu, var):
    """E[z²] = μ² + σ²: (∂/∂μ, ∂/∂log σ²) = (2μ, σ²)."""
    return np.array([2 * mu, var])


def exact_sin(mu, var):
    """E[sin z] = sin μ e^{-σ²/2}: (cos μ e^{-σ²/2}, -½ σ² sin μ e^{-σ²/2})."""
    damping = math.exp(-var / 2)
    return np.array([math.cos(mu) * damping, -0.5 * var * math.sin(mu) * damping])


CASES = {
    "square": (square, exact_square, lambda z: 2 * z),
    "sin": (torch.sin, exact_sin, np.cos),
}
PARAMETERS = [(0.0, 1.0), (1.0, 0.25), (-1.5, 2.0)]


def assert_unbiased(rows, exact):
    """Both components' means within Z_SCORE standard errors of the exact gradient."""
    std_error = rows.std(axis=0, ddof=1) / math.sqrt(len(rows))
    assert np.all(np.abs(rows.mean(axis=0) - exact) < Z_SCORE * std_error), (
        rows.mean(axis=0),
        exact,
        std_error,
    )


def quadrature_moments(estimate, order=80):
    """Exact mean and variance of estimate(ε) (an (n, 2) array) for ε ~ N(0, 1), and the
    standard error of a sample variance from N draws, by Gauss–Hermite quadrature."""
    nodes, weights = hermegauss(order)
    weights = weights / math.sqrt(2 * math.pi)
    values = estimate(nodes)
    mean = weights @ values
    var = weights @ (values - mean) ** 2
    fourth = weights @ (values - mean) ** 4
    return mean, var, np.sqrt((fourth - var**2) / N)


def score_on_nodes(f, mu, var, baseline=0.0):
    sigma = math.sqrt(var)
    b_mu, b_logvar = np.broadcast_to(baseline, 2)

    def estimate(eps):
        fz = f(torch.from_numpy(mu + sigma * eps)).numpy()
        return np.column_stack([(fz - b_mu) * eps / sigma, (fz - b_logvar) * 0.5 * (eps**2 - 1)])

    return estimate


def pathwise_on_nodes(derivative, mu, var):
    sigma = math.sqrt(var)

    def estimate(eps):
        slope = derivative(mu + sigma * eps)
        return np.column_stack([slope, slope * 0.5 * sigma * eps])

    return estimate


@pytest.mark.parametrize(("mu", "var"), PARAMETERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_both_estimators_are_unbiased(case, mu, var):
    f, exact, _ = CASES[case]
    assert_unbiased(score_function_gradients(f, mu, var, N), exact(mu, var))
    assert_unbiased(pathwise_gradients(f, mu, var, N), exact(mu, var))


@pytest.mark.parametrize(("mu", "var"), PARAMETERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_references_are_the_quadrature_means_of_the_estimators(case, mu, var):
    f, exact, derivative = CASES[case]
    np.testing.assert_allclose(
        quadrature_moments(score_on_nodes(f, mu, var))[0], exact(mu, var), atol=1e-10
    )
    np.testing.assert_allclose(
        quadrature_moments(pathwise_on_nodes(derivative, mu, var))[0], exact(mu, var), atol=1e-10
    )


@pytest.mark.parametrize(("mu", "var"), PARAMETERS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_variances_match_the_exact_variances(case, mu, var):
    f, _, derivative = CASES[case]
    for rows, estimate in (
        (score_function_gradients(f, mu, var, N), score_on_nodes(f, mu, var)),
        (score_function_gradients(f, mu, var, N, baseline=0.7), score_on_nodes(f, mu, var, 0.7)),
        (pathwise_gradients(f, mu, var, N), pathwise_on_nodes(derivative, mu, var)),
    ):
        _, exact_var, std_error = quadrature_moments(estimate)
        assert np.all(np.abs(rows.var(axis=0, ddof=1) - exact_var) < Z_SCORE * std_error)


def test_pathwise_variance_for_the_square_is_four_sigma_squared():
    mu, var = 1.0, 0.5
    rows = pathwise_gradients(square, mu, var, N)
    # Var[2z] = 4σ² and Var[z σ ε] = σ²(μ² + 2σ²)
    exact = np.array([4 * var, var * (mu**2 + 2 * var)])
    _, quadrature_var, std_error = quadrature_moments(pathwise_on_nodes(lambda z: 2 * z, mu, var))
    np.testing.assert_allclose(quadrature_var, exact, rtol=1e-12)
    assert np.all(np.abs(rows.var(axis=0, ddof=1) - exact) < Z_SCORE * std_error)


def test_a_baseline_keeps_the_mean_and_cuts_the_variance():
    mu, var = 1.0, 1.0
    expected_f = mu**2 + var
    plain = score_function_gradients(square, mu, var, N)
    centred = score_function_gradients(square, mu, var, N, baseline=expected_f)
    assert_unbiased(centred, exact_square(mu, var))
    # exact variances (μ = σ = 1): without a baseline 30 and 34, with b = E[f] = 2: 18 and 24
    _, var_plain, _ = quadrature_moments(score_on_nodes(square, mu, var))
    _, var_centred, _ = quadrature_moments(score_on_nodes(square, mu, var, expected_f))
    np.testing.assert_allclose(var_plain, [30.0, 34.0], rtol=1e-12)
    np.testing.assert_allclose(var_centred, [18.0, 24.0], rtol=1e-12)
    assert np.all(centred.var(axis=0) < 0.8 * plain.var(axis=0))


def optimal_square_baseline(mu, var):
    """For f = z² = (μ + sε)²: b*_μ = E[z² ε²]/E[ε²] = μ² + 3s² and
    b*_log s² = E[z² (ε² - 1)²]/E[(ε² - 1)²] = (2μ² + 10s²)/2 = μ² + 5s²."""
    return np.array([mu**2 + 3 * var, mu**2 + 5 * var])


@pytest.mark.parametrize(("mu", "var"), PARAMETERS)
def test_the_optimal_baseline_is_the_closed_form_and_minimises_the_variance(mu, var):
    exact = optimal_square_baseline(mu, var)
    # by quadrature: E[f · score²] / E[score²], the scores being the rows of f = 1
    nodes, weights = hermegauss(80)
    scores = score_on_nodes(torch.ones_like, mu, var)(nodes)
    weighted = score_on_nodes(lambda z: z**2, mu, var)(nodes)
    np.testing.assert_allclose(weights @ (weighted * scores) / (weights @ scores**2), exact)
    # the Monte Carlo estimate, within 4 standard errors of a ratio (delta method)
    scores = score_function_gradients(torch.ones_like, mu, var, N, seed=5)
    weighted = score_function_gradients(square, mu, var, N, seed=5)
    linear = (weighted * scores - exact * scores**2) / (scores**2).mean(axis=0)
    std_error = linear.std(axis=0, ddof=1) / math.sqrt(N)
    assert np.all(
        np.abs(optimal_baseline(square, mu, var, N, seed=5) - exact) < Z_SCORE * std_error
    )
    # no other baseline does better, component by component
    lowest = quadrature_moments(score_on_nodes(square, mu, var, exact))[1]
    for shift in (-0.3, 0.3):
        assert np.all(
            lowest < quadrature_moments(score_on_nodes(square, mu, var, exact + shift))[1]
        )


def test_the_optimal_baseline_beats_the_mean_of_f_which_can_do_harm():
    # f = z², q = N(1, 1): variances 30 and 34 without a baseline, 18 and 24 with b = E[f] = 2,
    # 14 and 16 with b* = (4, 6)
    np.testing.assert_allclose(optimal_square_baseline(1.0, 1.0), [4.0, 6.0])
    _, variance, _ = quadrature_moments(score_on_nodes(square, 1.0, 1.0, [4.0, 6.0]))
    np.testing.assert_allclose(variance, [14.0, 16.0], rtol=1e-12)
    rows = score_function_gradients(square, 1.0, 1.0, N, baseline=(4.0, 6.0))
    _, _, std_error = quadrature_moments(score_on_nodes(square, 1.0, 1.0, [4.0, 6.0]))
    assert np.all(np.abs(rows.var(axis=0, ddof=1) - [14.0, 16.0]) < Z_SCORE * std_error)

    # f = 2 - z², q = N(0, 1), ∂μ (score ε): E[(2 - ε²)² ε²] = 7 without a baseline, 10 with
    # b = E[f] = 1, and 6 with b* = E[(2 - ε²) ε²] = -1
    def f(z):
        return 2 - z**2

    variances = [quadrature_moments(score_on_nodes(f, 0.0, 1.0, b))[1][0] for b in (0.0, 1.0, -1.0)]
    np.testing.assert_allclose(variances, [7.0, 10.0, 6.0], rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(0.01, 10), st.floats(-3, 3), st.floats(-3, 3))
def test_a_pair_of_baselines_applies_one_to_each_component(mu, var, b_mu, b_logvar):
    pair = score_function_gradients(torch.sin, mu, var, 20, baseline=(b_mu, b_logvar), seed=2)
    first = score_function_gradients(torch.sin, mu, var, 20, baseline=b_mu, seed=2)
    second = score_function_gradients(torch.sin, mu, var, 20, baseline=b_logvar, seed=2)
    np.testing.assert_array_equal(pair, np.column_stack([first[:, 0], second[:, 1]]))


def test_the_pathwise_variance_is_lower_than_the_score_functions_for_the_square():
    score, path = score_function_gradients(square, 1.0, 1.0, N), pathwise_gradients(square, 1, 1, N)
    ratio = score.var(axis=0) / path.var(axis=0)
    # exact ratios 30/4 = 7.5 and 34/3
    assert ratio == pytest.approx([7.5, 34 / 3], rel=0.15)


@pytest.mark.parametrize(("x", "mu", "var"), [(2.0, 0.3, 0.7), (-1.0, 1.0, 0.2)])
def test_linear_gaussian_elbo_gradient_from_the_expected_log_joint(x, mu, var):
    r"""ELBO = E_q[log p(x, z)] + ½ log(2πe s²): the estimators give the first gradient, the
    entropy adds (0, ½)."""
    model = LinearGaussian(1.5, 0.5)
    mu_t = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    logvar_t = torch.tensor(math.log(var), dtype=torch.float64, requires_grad=True)
    model.elbo(torch.tensor(x, dtype=torch.float64), mu_t, logvar_t.exp()).backward()
    exact = np.array([mu_t.grad.item(), logvar_t.grad.item()])
    w, sigma2 = model.w, model.sigma2
    closed_form = [w * (x - w * mu) / sigma2 - mu, 0.5 - 0.5 * var * (w**2 / sigma2 + 1)]
    np.testing.assert_allclose(exact, closed_form, atol=1e-12)
    entropy = np.array([0.0, 0.5])

    def log_joint(z):
        return model.log_joint(x, z)

    assert_unbiased(score_function_gradients(log_joint, mu, var, N) + entropy, exact)
    assert_unbiased(pathwise_gradients(log_joint, mu, var, N) + entropy, exact)
    # log p(x, z) is quadratic in z, so f' is linear and the pathwise ∂/∂μ is exact on average
    # with a spread of only |f''| σ = (w²/σ² + 1) σ
    rows = pathwise_gradients(log_joint, mu, var, N)
    assert rows[:, 0].std() == pytest.approx((w**2 / sigma2 + 1) * math.sqrt(var), rel=0.03)


@pytest.mark.parametrize(("mu", "var"), [(0.0, 1.0), (0.8, 0.3), (-1.2, 2.0)])
def test_only_the_score_function_gets_the_step_function_right(mu, var):
    sigma = math.sqrt(var)
    # E[1(z > 0)] = Φ(μ/σ): ∂/∂μ = φ(μ/σ)/σ, ∂/∂log σ² = -½ (μ/σ) φ(μ/σ)
    exact = np.array([1 / sigma, -0.5 * mu / sigma]) * stats.norm.pdf(mu / sigma)
    assert_unbiased(score_function_gradients(lambda z: (z > 0).double(), mu, var, N), exact)
    # autograd differentiates the step to zero almost everywhere: the pathwise answer is 0
    path = pathwise_gradients(lambda z: 0.5 * (1 + torch.sign(z)), mu, var, N)
    assert np.all(path == 0) and np.abs(exact[0]) > 0.1
    with pytest.raises(ValueError, match="f must be differentiable"):
        pathwise_gradients(lambda z: (z > 0).double(), mu, var, 10)


def test_rows_are_float64_with_one_row_per_sample_and_seeded():
    for estimator in (score_function_gradients, pathwise_gradients):
        rows = estimator(torch.sin, 0.5, 1.0, 7, seed=3)
        assert rows.shape == (7, 2) and rows.dtype == np.float64
        np.testing.assert_array_equal(rows, estimator(torch.sin, 0.5, 1.0, 7, seed=3))
        assert not np.array_equal(rows, estimator(torch.sin, 0.5, 1.0, 7, seed=4))


def test_the_global_torch_random_state_is_left_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    score_function_gradients(torch.sin, 0.0, 1.0, 5)
    pathwise_gradients(torch.sin, 0.0, 1.0, 5)
    assert torch.equal(torch.rand(3), expected)


finite = st.floats(-3, 3)
variances = st.floats(0.01, 10)


@settings(max_examples=30, deadline=None)
@given(finite, variances, finite, st.integers(0, 1000))
def test_subtracting_the_baseline_from_f_is_the_same_as_passing_it(mu, var, baseline, seed):
    passed = score_function_gradients(torch.sin, mu, var, 50, baseline=baseline, seed=seed)
    shifted = score_function_gradients(lambda z: torch.sin(z) - baseline, mu, var, 50, seed=seed)
    np.testing.assert_allclose(passed, shifted, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(finite, variances, finite, finite)
def test_a_constant_f_equal_to_the_baseline_gives_zero_gradients(mu, var, constant, slope):
    rows = score_function_gradients(
        lambda z: torch.full_like(z, constant), mu, var, 50, baseline=constant
    )
    assert np.all(rows == 0)
    # for a linear f the pathwise ∂/∂μ is the slope in every sample, ∂/∂log σ² is ½ slope σ ε
    rows = pathwise_gradients(lambda z: slope * z + constant, mu, var, 50)
    np.testing.assert_allclose(rows[:, 0], slope, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(finite, variances, st.integers(0, 1000))
def test_the_score_function_estimator_is_the_closed_form_score_times_f(mu, var, seed):
    rows = score_function_gradients(torch.ones_like, mu, var, 50, seed=seed)
    path = pathwise_gradients(lambda z: z, mu, var, 50, seed=seed)
    # the pathwise rows of f(z) = z are (1, ½σε): the same ε recovers the score in closed form
    eps = 2 * path[:, 1] / math.sqrt(var)
    expected = np.column_stack([eps / math.sqrt(var), 0.5 * (eps**2 - 1)])
    np.testing.assert_allclose(rows, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("estimator", [score_function_gradients, pathwise_gradients])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mu": float("nan")}, "mu must be a finite number"),
        ({"mu": float("inf")}, "mu must be a finite number"),
        ({"mu": np.zeros(2)}, "mu must be a real number"),
        ({"mu": "1"}, "mu must be a real number"),
        ({"var": 0.0}, "var must be a positive finite number"),
        ({"var": -1.0}, "var must be a positive finite number"),
        ({"var": float("nan")}, "var must be a positive finite number"),
        ({"var": float("inf")}, "var must be a positive finite number"),
        ({"var": [1.0, 2.0]}, "var must be a real number"),
        ({"n_samples": 0}, "n_samples must be a positive integer"),
        ({"n_samples": 2.5}, "n_samples must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"f": lambda z: z.sum()}, r"f must return a tensor of the samples' shape \(10,\)"),
        ({"f": lambda z: z.detach().numpy()}, "f must return a tensor"),
        ({"f": lambda z: z / 0}, "f returned NaN or inf"),
        ({"f": lambda z: torch.log(z - 100)}, "f returned NaN or inf"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(estimator, arguments, message):
    call = {"f": torch.sin, "mu": 0.0, "var": 1.0, "n_samples": 10} | arguments
    with pytest.raises(ValueError, match=message):
        estimator(call.pop("f"), **call)


@pytest.mark.parametrize("baseline", [float("nan"), float("inf"), np.ones(3), (1.0, "b"), None])
def test_a_bad_baseline_raises_a_value_error(baseline):
    with pytest.raises(ValueError, match="baseline"):
        score_function_gradients(torch.sin, 0.0, 1.0, 10, baseline=baseline)


def test_an_overflowing_gradient_raises_instead_of_returning_inf():
    with pytest.raises(ValueError, match="not finite"):  # f is finite, f' = 1e310 cos(1e10 z)
        pathwise_gradients(lambda z: 1e300 * torch.sin(1e10 * z), 0.0, 1.0, 10)
    with pytest.raises(ValueError, match="not finite"):  # f = 1e300 times a score of 1e150
        score_function_gradients(lambda z: torch.full_like(z, 1e300), 0.0, 1e-300, 10)


def test_standard_errors_of_the_mean_and_the_variance_of_a_normal_sample():
    values = np.random.default_rng(0).normal(3.0, 2.0, size=(40_000, 2))
    mean, mean_error = mean_and_standard_error(values)
    var, var_error = variance_and_standard_error(values)
    # for N(3, 2²): s/√n = 0.01 and s²√(2/n) = 0.0283
    np.testing.assert_allclose(mean_error, 0.01, rtol=0.01)
    np.testing.assert_allclose(var_error, 4 * math.sqrt(2 / 40_000), rtol=0.05)
    assert np.all(np.abs(mean - 3.0) < Z_SCORE * mean_error)
    assert np.all(np.abs(var - 4.0) < Z_SCORE * var_error)
    np.testing.assert_allclose(var, values.var(axis=0, ddof=1))


@pytest.mark.parametrize("summary", [mean_and_standard_error, variance_and_standard_error])
@pytest.mark.parametrize(
    ("values", "message"),
    [(np.ones(1), "at least two rows"), (3.0, "at least two rows"), ([1.0, np.nan], "NaN")],
)
def test_summaries_refuse_too_few_or_non_finite_values(summary, values, message):
    with pytest.raises(ValueError, match=message):
        summary(values)

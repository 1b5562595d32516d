"""The checks of problem set 20: an honest answer passes, each planted mistake fails with its own
hint, a delegating answer is caught, and the inputs change with the harness's seed."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from elbo_lib import harness
from elbo_lib import problems_analysis as pa
from elbo_lib.kl import kl_normal
from elbo_lib.linear_gaussian import LinearGaussian

# Honest answers, written as a student would -----------------------------------------------------


def beta_vae_encoder(w, sigma2, beta):
    return w / (w**2 + beta * sigma2), beta * sigma2 / (w**2 + beta * sigma2)


def linear_vae_optimum(v, sigma2, beta):
    constant = 0.5 * math.log(2 * math.pi * sigma2)
    if v <= beta * sigma2:
        return 0.0, 0.0, constant + v / (2 * sigma2)
    return v - beta * sigma2, 0.5 * math.log(v / (beta * sigma2)), constant + beta / 2


def rate_split(A, s2, Sigma):
    C = A @ Sigma @ A.T + np.diag(s2)
    logdet = np.linalg.slogdet(C)[1]
    c = np.diag(C)
    info = 0.5 * (logdet - np.sum(np.log(s2)))
    tc = 0.5 * (np.sum(np.log(c)) - logdet)
    return info, tc, 0.5 * np.sum(c - 1 - np.log(c))


def mmd2_unbiased(z, y, lengthscale):
    def gram(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * lengthscale**2))

    n, m = len(z), len(y)
    kzz, kyy = gram(z, z), gram(y, y)
    return (
        (kzz.sum() - np.trace(kzz)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * gram(z, y).mean()
    )


def predicted_units():
    return 4


def collapse_plan(steps):
    warmup = round(0.3 * steps)
    return np.minimum(1.0, np.arange(steps) / warmup), 0.15


def verdict(check, answer, capsys):
    result = check(answer)
    return result, capsys.readouterr().out


HONEST = [
    (pa.check_beta_vae_encoder, beta_vae_encoder),
    (pa.check_linear_vae_optimum, linear_vae_optimum),
    (pa.check_rate_split, rate_split),
    (pa.check_mmd2_unbiased, mmd2_unbiased),
    (pa.check_units_prediction, predicted_units),
]


@pytest.mark.parametrize(("check", "answer"), HONEST, ids=lambda v: getattr(v, "__name__", ""))
def test_an_honest_answer_passes(check, answer, capsys):
    result, out = verdict(check, answer, capsys)
    assert result is True, out
    assert out.startswith("✓")


@pytest.mark.parametrize(("check", "answer"), HONEST, ids=lambda v: getattr(v, "__name__", ""))
def test_a_stub_is_not_done_yet(check, answer, capsys):
    def stub(*args):
        raise NotImplementedError()

    result, out = verdict(check, stub, capsys)
    assert result is False
    assert "not done yet" in out


# Planted mistakes: each fails with its own hint ----------------------------------------------


def _posterior_encoder(w, sigma2, beta):
    return w / (w**2 + sigma2), sigma2 / (w**2 + sigma2)


def _beta_on_likelihood(w, sigma2, beta):
    return beta * w / (beta * w**2 + sigma2), sigma2 / (beta * w**2 + sigma2)


def _variance_without_beta(w, sigma2, beta):
    return beta_vae_encoder(w, sigma2, beta)[0], sigma2 / (w**2 + beta * sigma2)


def _unclamped(v, sigma2, beta):
    constant = 0.5 * math.log(2 * math.pi * sigma2)
    return v - beta * sigma2, 0.5 * math.log(v / (beta * sigma2)), constant + beta / 2


def _threshold_without_beta(v, sigma2, beta):
    return (max(0.0, v - sigma2), *linear_vae_optimum(v, sigma2, beta)[1:])


def _rate_without_half(v, sigma2, beta):
    w2, rate, distortion = linear_vae_optimum(v, sigma2, beta)
    return w2, 2 * rate, distortion


def _distortion_at_beta_one(v, sigma2, beta):
    w2, rate, _ = linear_vae_optimum(v, sigma2, beta)
    return w2, rate, 0.5 * math.log(2 * math.pi * sigma2) + 0.5


def _distortion_without_constant(v, sigma2, beta):
    w2, rate, distortion = linear_vae_optimum(v, sigma2, beta)
    return w2, rate, distortion - 0.5 * math.log(2 * math.pi * sigma2)


def _information_without_noise(A, s2, Sigma):
    _, tc, dimwise = rate_split(A, s2, Sigma)
    C = A @ Sigma @ A.T + np.diag(s2)
    return 0.5 * np.linalg.slogdet(C)[1], tc, dimwise


def _total_correlation_flipped(A, s2, Sigma):
    info, tc, dimwise = rate_split(A, s2, Sigma)
    return info, -tc, dimwise


def _no_total_correlation(A, s2, Sigma):
    info, _, dimwise = rate_split(A, s2, Sigma)
    return info, 0.0, dimwise


def _dimwise_reversed(A, s2, Sigma):
    info, tc, _ = rate_split(A, s2, Sigma)
    c = np.diag(A @ Sigma @ A.T + np.diag(s2))
    return info, tc, 0.5 * np.sum(1 / c - 1 + np.log(c))


def _terms_not_adding_up(A, s2, Sigma):
    info, tc, dimwise = rate_split(A, s2, Sigma)
    return info, tc, dimwise + 0.01


def _gram(a, b, scale):
    return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / scale)


def _v_statistic(z, y, lengthscale):
    scale = 2 * lengthscale**2
    return _gram(z, z, scale).mean() + _gram(y, y, scale).mean() - 2 * _gram(z, y, scale).mean()


def _kernel_without_two(z, y, lengthscale):
    return mmd2_unbiased(z, y, lengthscale / math.sqrt(2))


def _cross_term_once(z, y, lengthscale):
    return mmd2_unbiased(z, y, lengthscale) + _gram(z, y, 2 * lengthscale**2).mean()


def _kernel_matrix(z, y, lengthscale):
    return _gram(z, y, 2 * lengthscale**2)


MISTAKES = [
    (pa.check_beta_vae_encoder, _posterior_encoder, "exact posterior's slope"),
    (pa.check_beta_vae_encoder, _beta_on_likelihood, "β weighs the KL, not the likelihood"),
    (pa.check_beta_vae_encoder, _variance_without_beta, "set the derivative in s² to zero again"),
    (pa.check_linear_vae_optimum, _unclamped, "w² cannot be negative"),
    (pa.check_linear_vae_optimum, _threshold_without_beta, "the threshold is βσ², not σ²"),
    (pa.check_linear_vae_optimum, _rate_without_half, "the rate has a ½"),
    (pa.check_linear_vae_optimum, _distortion_at_beta_one, "that is the distortion at β = 1"),
    (pa.check_linear_vae_optimum, _distortion_without_constant, "keep the constant"),
    (pa.check_rate_split, _information_without_noise, "subtract the entropy of q(z|x)"),
    (pa.check_rate_split, _total_correlation_flipped, "wrong sign: TC"),
    (pa.check_rate_split, _no_total_correlation, "q̄ couples the units"),
    (pa.check_rate_split, _dimwise_reversed, "the other direction"),
    (pa.check_rate_split, _terms_not_adding_up, "wrong value for the dimension-wise KL"),
    (pa.check_mmd2_unbiased, _v_statistic, "biased V-statistic"),
    (pa.check_mmd2_unbiased, _kernel_without_two, "the 2 is missing"),
    (pa.check_mmd2_unbiased, _cross_term_once, "the cross term counts twice"),
    (pa.check_mmd2_unbiased, _kernel_matrix, "sum the kernel matrices to one number"),
    (pa.check_units_prediction, lambda: 8, "only the units whose information saves"),
    (pa.check_units_prediction, lambda: 0, "not yet the β = 8 of notebook 11"),
    (pa.check_units_prediction, lambda: 3.5, "one whole number of units"),
]


@pytest.mark.parametrize(
    ("check", "mistake", "hint"), MISTAKES, ids=lambda v: getattr(v, "__name__", None)
)
def test_a_planted_mistake_gets_its_hint(check, mistake, hint, capsys):
    result, out = verdict(check, mistake, capsys)
    assert result is False
    assert out.startswith("✗")
    assert hint in out, out


def test_the_rate_split_sums_to_the_rate_in_the_reference():
    """The check's reference (scipy entropies, torch KLs) is itself consistent: I + TC + KL_dim
    = R on a random encoder, and I > 0, TC > 0."""
    rng = np.random.default_rng(3)
    A, s2 = rng.normal(size=(3, 4)), rng.uniform(0.1, 2, 3)
    B = rng.normal(size=(4, 4))
    info, tc, dimwise, rate = pa._rate_split_reference(A, s2, B @ B.T + np.eye(4))
    assert info > 0 and tc > 0 and dimwise > 0
    assert info + tc + dimwise == pytest.approx(rate, rel=1e-10)


def test_the_exact_mmd_matches_a_large_sample():
    """The closed-form MMD² the unbiasedness test rests on, against the unbiased estimate from
    4000 draws on each side (its standard deviation is below 0.003 here)."""
    rng = np.random.default_rng(4)
    mean, cov = np.array([0.8, -0.3]), np.array([[1.5, 0.4], [0.4, 0.6]])
    z = rng.multivariate_normal(mean, cov, size=4000)
    y = rng.standard_normal((4000, 2))
    assert mmd2_unbiased(z, y, 1.2) == pytest.approx(pa.exact_mmd2(mean, cov, 1.2), abs=0.01)
    assert pa.exact_mmd2(np.zeros(2), np.eye(2), 1.2) == pytest.approx(0.0, abs=1e-12)


# Delegation and the grader's seed --------------------------------------------------------------


def test_delegating_the_entropies_to_scipy_is_caught(capsys):
    def delegating(A, s2, Sigma):
        C = A @ Sigma @ A.T + np.diag(s2)
        joint = stats.multivariate_normal(cov=C).entropy()
        own = sum(stats.norm(scale=math.sqrt(v)).entropy() for v in s2)
        return joint - own, *rate_split(A, s2, Sigma)[1:]

    result, out = verdict(pa.check_rate_split, delegating, capsys)
    assert result is False
    assert "compute it yourself, not with scipy.stats" in out


def test_a_numerical_optimum_built_on_the_librarys_elbo_terms_is_caught(capsys):
    """Minimising the library's own expected log-likelihood and KL numerically hands the asked-for
    quantity to elbo_lib."""

    def numerical(w, sigma2, beta):
        def objective(p):
            model = LinearGaussian(w, sigma2)
            s2 = math.exp(p[1])
            return -model.expected_log_likelihood(1.0, p[0], s2) + beta * kl_normal(p[0], s2)

        best = optimize.minimize(objective, [0.0, 0.0])
        return best.x[0], math.exp(best.x[1])

    result, out = verdict(pa.check_beta_vae_encoder, numerical, capsys)
    assert result is False
    assert "compute it yourself, not with elbo_lib" in out


def _inputs_seen(check, answer, seed, monkeypatch):
    seen = []

    def recording(*args):
        seen.append([np.asarray(a, dtype=float).copy() for a in args])
        return answer(*args)

    monkeypatch.setattr(harness, "SEED", seed)
    check(recording)
    return seen


@pytest.mark.parametrize(("check", "answer"), HONEST[:4], ids=lambda v: getattr(v, "__name__", ""))
def test_the_inputs_change_with_the_graders_seed(check, answer, monkeypatch, capsys):
    first = _inputs_seen(check, answer, 0, monkeypatch)
    again = _inputs_seen(check, answer, 0, monkeypatch)
    other = _inputs_seen(check, answer, 12345, monkeypatch)
    capsys.readouterr()
    assert len(first) == len(other) > 0

    def same(a, b):
        return all(
            x.shape == y.shape and np.array_equal(x, y)
            for u, v in zip(a, b, strict=True)
            for x, y in zip(u, v, strict=True)
        )

    assert same(first, again)
    assert not same(first, other)


def test_the_trained_checks_draw_their_seed_from_the_graders(monkeypatch):
    seeds = []
    for seed in (0, 12345):
        monkeypatch.setattr(harness, "SEED", seed)
        seeds.append(
            (int(harness.input_rng(205).integers(1000)), int(harness.input_rng(206).integers(1000)))
        )
    assert seeds[0][0] != seeds[1][0] and seeds[0][1] != seeds[1][1]


def test_the_numerical_optimum_is_linear_in_x():
    """The reference of exercise 1 reads a = μ*(x)/x at one x: the optimum is linear in x and its
    variance does not depend on x."""
    (mu1, var1), (mu2, var2) = (pa._best_q(x, 1.7, 0.4, 3.0) for x in (1.3, -2.1))
    assert mu1 / 1.3 == pytest.approx(mu2 / -2.1, rel=1e-6)
    assert var1 == pytest.approx(var2, rel=1e-6)


# The mini-project ------------------------------------------------------------------------------


def test_the_mini_projects_plan_passes_against_the_measured_baseline(capsys):
    result, out = verdict(pa.check_collapse_plan, collapse_plan, capsys)
    assert result is True, out
    assert "the baseline, constant β = 1" in out


def _three_quarters_at_zero(steps):
    return np.where(np.arange(steps) < 3 * steps // 4, 0.0, 1.0), 0.0


def _tiny_floor(steps):
    return np.ones(steps), 0.01


@pytest.mark.parametrize(
    ("plan", "hint"),
    [
        (_three_quarters_at_zero, "more than 0.5 nats worse than the baseline"),
        (_tiny_floor, "Keep at least 7"),
        (lambda steps: (np.ones(steps), 0.0), "that is the baseline itself"),
        (lambda steps: (np.linspace(0, 1, steps), 0.0), "β must be exactly 1 over the last"),
        (lambda steps: (np.ones(steps - 1), 0.2), "return one β per step"),
        (lambda steps: (np.full(steps, 1.5), 0.0), "every β must lie in [0, 1]"),
        (lambda steps: (np.ones(steps), 2.0), "free_bits is one number δ between 0 and 0.5"),
        (lambda steps: np.ones(steps), "return a pair (betas, free_bits)"),
    ],
    ids=[
        "beta 0 then 1",
        "tiny floor",
        "baseline",
        "never at 1",
        "short",
        "above 1",
        "big δ",
        "no δ",
    ],
)
def test_a_plan_that_falls_short_is_told_why(plan, hint, capsys):
    result, out = verdict(pa.check_collapse_plan, plan, capsys)
    assert result is False
    assert hint in out, out


def test_a_training_that_ignores_the_plan_is_caught(monkeypatch, capsys):
    """The check reads the β of every step from the training itself: a training that ran on
    anything but the plan cannot pass as the plan's."""
    original = pa.train_vae

    def ignoring_the_schedule(model, x, **options):
        return original(model, x, **{**options, "beta": 1.0})

    monkeypatch.setattr(pa, "train_vae", ignoring_the_schedule)
    result, out = verdict(pa.check_collapse_plan, collapse_plan, capsys)
    assert result is False
    assert "the training did not use your β at every step" in out

"""The exercise checks: a correct answer passes, a stub is "not done yet", every classic mistake
is recognised with its own hint, and hostile answers (endless loops, exit(), strings, complex
numbers, delegation to the library, answers that change what they are given) are told so, printed
rather than raised, with nothing left changed behind them."""

import itertools
import math
import signal
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from torch.nn import functional as F

from elbo_lib import bounds, harness, kl, vae
from elbo_lib import exercises as ex
from elbo_lib.linear_gaussian import LinearGaussian

# Correct answers, written as a student would -------------------------------------------------


def jensen_gap(x):
    return x**2 / 4 + 0.5 - 0.5 * np.log(2)


def linear_gaussian_elbo(x, mu, s2, w, sigma2):
    fit = -0.5 * np.log(2 * np.pi * sigma2) - ((x - w * mu) ** 2 + w**2 * s2) / (2 * sigma2)
    return fit - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def kl_diag_gaussian(mu, logvar):
    return 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1)


def log_gauss(z, mean, var):
    return -0.5 * (np.log(2 * np.pi * var) + (z - mean) ** 2 / var)


def mc_elbo(model, x, mu, s2, n_samples, rng):
    z = mu + np.sqrt(s2) * rng.standard_normal(n_samples)
    return np.mean(model.log_joint(x, z) - log_gauss(z, mu, s2))


def measure_spread(estimate, n_repeats, rng):
    return np.std([estimate(rng) for _ in range(n_repeats)])


def optimal_q(x1, x2, w1, w2, sigma2_1, sigma2_2):
    precision = 1 + w1**2 / sigma2_1 + w2**2 / sigma2_2
    return (w1 * x1 / sigma2_1 + w2 * x2 / sigma2_2) / precision, 1 / precision


def one_observation(x1, x2, w1, w2, sigma2_1, sigma2_2):
    """The posterior given x1 alone (the lecture's case)."""
    return optimal_q(x1, 0.0, w1, 0.0, sigma2_1, 1.0)


def no_prior(x1, x2, w1, w2, sigma2_1, sigma2_2):
    precision = w1**2 / sigma2_1 + w2**2 / sigma2_2
    return (w1 * x1 / sigma2_1 + w2 * x2 / sigma2_2) / precision, 1 / precision


def reverse_kl_on_grid(log_p, grid, mean, std):
    dz = grid[1] - grid[0]
    m = np.max(log_p)
    log_p = log_p - (m + np.log(np.sum(np.exp(log_p - m)) * dz))
    log_q = log_gauss(grid, mean, std**2)
    return np.sum(np.exp(log_q) * (log_q - log_p)) * dz


def predict_fits():
    return (-3.0, 1.0), (-1.2, 2.9)


def reparameterise(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def score_function_grad(f, mu, sigma, n_samples, rng):
    z = mu + sigma * rng.standard_normal(n_samples)
    return np.mean(f(z) * (z - mu) / sigma**2)


def predicted_ratio():
    return 825 / 64


def single_sample_elbo(x, mu, logvar, decode, eps):
    z = mu + torch.exp(0.5 * logvar) * eps
    log_px = -F.binary_cross_entropy_with_logits(decode(z), x, reduction="none").sum(-1)
    return log_px - 0.5 * (z**2).sum(-1) + 0.5 * (eps**2 + logvar).sum(-1)


def iwae_bound(log_w):
    m = np.max(log_w, axis=-1, keepdims=True)
    return np.squeeze(m, -1) + np.log(np.mean(np.exp(log_w - m), axis=-1))


def blur_optimum(p, sigma2):
    return p, 0.5 * np.log(2 * np.pi * sigma2) + p * (1 - p) / (2 * sigma2)


def _log_density(z, mean, logvar):
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mean) ** 2 / logvar.exp()).sum(-1)


def mutual_information(mu, logvar, eps):
    z = mu + torch.exp(0.5 * logvar) * eps
    every = _log_density(z[:, :, None, :], mu, logvar)
    aggregate = torch.logsumexp(every, dim=-1) - math.log(len(mu))
    return (_log_density(z, mu, logvar) - aggregate).mean()


def warmup_beta(step, warmup_steps, target):
    return target * min(1.0, step / warmup_steps)


def make_vae_loss(*, kl_sign=1, half=0.5, log_variance=True, pixel_sum=True, beta_on_kl=True):
    """A VAE loss with any of the five classic bugs planted."""

    def vae_loss(x, logits, mu, logvar, beta):
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        reconstruction = bce.sum(-1) if pixel_sum else bce.mean(-1)
        var, log_var = (logvar.exp(), logvar) if log_variance else (logvar, logvar.log())
        kl = kl_sign * half * torch.sum(mu**2 + var - log_var - 1, dim=-1)
        loss = reconstruction + beta * kl if beta_on_kl else beta * reconstruction + kl
        return loss.mean()

    return vae_loss


vae_loss = make_vae_loss()


def train_vae_with_warmup(x_train, seed, epochs=12):
    torch.manual_seed(seed)
    model = vae.VAE(x_dim=64, z_dim=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    warmup_steps, step = 3 * math.ceil(len(x_train) / 128), 0
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), 128):
            x = x_train[order[start : start + 128]]
            mu, logvar = model.encode(x)
            z = reparameterise(mu, logvar, torch.randn_like(mu))
            loss = vae_loss(x, model.decode(z), mu, logvar, warmup_beta(step, warmup_steps, 1.0))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    return model


CORRECT = [
    (ex.check_jensen_gap, jensen_gap),
    (ex.check_linear_gaussian_elbo, linear_gaussian_elbo),
    (ex.check_kl_diag_gaussian, kl_diag_gaussian),
    (ex.check_mc_elbo, mc_elbo),
    (ex.check_measure_spread, measure_spread),
    (ex.check_optimal_q, optimal_q),
    (ex.check_reverse_kl_on_grid, reverse_kl_on_grid),
    (ex.check_fit_prediction, predict_fits),
    (ex.check_reparameterise, reparameterise),
    (ex.check_score_function_grad, score_function_grad),
    (ex.check_variance_ratio_prediction, predicted_ratio),
    (ex.check_single_sample_elbo, single_sample_elbo),
    (ex.check_iwae_bound, iwae_bound),
    (ex.check_blur_optimum, blur_optimum),
    (ex.check_mutual_information, mutual_information),
    (ex.check_vae_loss, vae_loss),
    (ex.check_fixed_vae_loss, vae_loss),
    (ex.check_warmup_beta, warmup_beta),
]
CHECKS = [check for check, _ in CORRECT] + [ex.check_trained_vae]
ids = lambda c: getattr(c, "__name__", "")  # noqa: E731


def verdict(check, fn, capsys):
    """Run a check; return its result and what it printed."""
    result = check(fn)
    return result, capsys.readouterr().out


@pytest.fixture(autouse=True)
def short_time_limits(monkeypatch):
    """Endless answers are cut off after 0.5 s (2 s for the mini-project) instead of 10 s and 60 s:
    the limits are read when a check runs."""
    monkeypatch.setattr(harness, "TIME_LIMIT", 0.5)
    monkeypatch.setattr(ex, "PROJECT_TIME_LIMIT", 2.0)


@pytest.mark.parametrize(("check", "answer"), CORRECT, ids=ids)
def test_a_correct_answer_passes(check, answer, capsys, monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT", 10.0)
    result, out = verdict(check, answer, capsys)
    assert result is True, out
    assert "✓" in out and "correct!" in out and "✗" not in out


def test_the_mini_project_passes_when_trained_and_fails_untrained(capsys, monkeypatch):
    monkeypatch.setattr(ex, "PROJECT_TIME_LIMIT", 60.0)
    result, out = verdict(ex.check_trained_vae, train_vae_with_warmup, capsys)
    assert result is True, out
    nats = float(out.split("test −ELBO ")[1].split()[0])
    assert nats <= ex.PROJECT_MAX_NATS - 1.5  # the solution's margin
    result, out = verdict(
        ex.check_trained_vae, lambda x, seed: train_vae_with_warmup(x, seed, epochs=0), capsys
    )
    assert result is False and "reach 24 nats or less" in out, out


def stub_raising(*args):
    raise NotImplementedError()


def stub_ellipsis(*args):
    return ...


@pytest.mark.parametrize("stub", [stub_raising, stub_ellipsis])
@pytest.mark.parametrize("check", CHECKS, ids=ids)
def test_a_stub_is_not_done_yet(check, stub, capsys):
    result, out = verdict(check, stub, capsys)
    assert result is False
    assert "not done yet" in out and "✓" not in out


def raises_type_error(*args):
    return 1 + "one"


def returns_none(*args):
    pass


def loops_forever(*args):
    while True:
        pass


def loops_and_swallows_the_first_interrupt(*args):
    try:
        while True:
            pass
    except BaseException:
        while True:
            pass


def calls_exit(*args):
    sys.exit(0)


def raises_keyboard_interrupt(*args):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (raises_type_error, "your function raised TypeError"),
        (returns_none, "did you forget `return`?"),
        (lambda *args: "KL", "returned a str"),
        (loops_forever, "did not return within"),
        (loops_and_swallows_the_first_interrupt, "did not return within"),
        (calls_exit, "called exit()"),
        (raises_keyboard_interrupt, "raised KeyboardInterrupt"),
    ],
    ids=["type-error", "none", "str", "loop", "loop-swallowing", "exit", "keyboard-interrupt"],
)
@pytest.mark.parametrize("check", CHECKS, ids=ids)
def test_a_broken_or_hostile_answer_is_reported_not_raised(check, wrong, hint, capsys):
    result, out = verdict(check, wrong, capsys)
    assert result is False
    assert hint in out and "✗" in out, out
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no alarm left running
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler)
    assert sys.getprofile() is None


def _twisted(answer, twist):
    """``answer`` with ``twist`` applied to every number it returns (each item of a pair)."""

    def twisted(*args):
        out = answer(*args)
        return tuple(twist(o) for o in out) if isinstance(out, tuple) else twist(out)

    return twisted


NUMERIC = [(c, a) for c, a in CORRECT if c is not ex.check_fit_prediction]


def _plain(r):
    return r.detach().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)


@pytest.mark.parametrize(
    ("twist", "hint"),
    [
        (lambda r: r + 5j, "complex"),
        (lambda r: _plain(r) + 0j, "complex"),
        (lambda r: str(float(_plain(r).reshape(-1)[0])), "returned a str"),
        (lambda r: True, "True/False"),
    ],
    ids=["complex", "complex-zero-imaginary", "numeric-string", "bool"],
)
@pytest.mark.parametrize(("check", "answer"), NUMERIC, ids=ids)
def test_complex_string_and_boolean_answers_are_refused(check, answer, twist, hint, capsys):
    result, out = verdict(check, _twisted(answer, twist), capsys)
    assert result is False
    assert "✓" not in out.splitlines()[-1] and hint in out, out


# Planted mistakes, one per hint ----------------------------------------------------------------

MISTAKES = {
    ex.check_jensen_gap: [
        (lambda x: x**2 / 8 - 0.25 + 0.5 * np.log(2), "KL(p(z|x) ‖ q), the other direction"),
        (lambda x: -jensen_gap(x), "wrong sign"),
        (lambda x: x**2 / 4, "the variance terms are missing"),
        (lambda x: 2 * jensen_gap(x), "twice too large"),
        (lambda x: math.log(x), "your function raised ValueError"),
    ],
    ex.check_kl_diag_gaussian: [
        (lambda mu, lv: np.sum(mu**2 + np.exp(lv) - lv - 1, -1), "did you forget the ½?"),
        (lambda mu, lv: -kl_diag_gaussian(mu, lv), "wrong sign"),
        (lambda mu, lv: 0.5 * (mu**2 + np.exp(lv) - lv - 1), "sum over the last axis"),
        (lambda mu, lv: np.sum(0.5 * (mu**2 + np.exp(lv) - lv - 1)), "one number for the whole"),
        (lambda mu, lv: 0.5 * np.sum(mu**2 + np.exp(lv) - lv - 1, axis=0), "the batch axis"),
        (lambda mu, lv: 0.5 * np.sum(mu**2 + np.exp(lv) - lv, -1), "forget the −1"),
        (lambda mu, lv: 0.5 * np.sum(mu**2 + lv - np.log(lv) - 1, -1), "NaN for mu = (0.5"),
        (lambda mu, lv: 0.5 * np.sum(mu**2 + np.exp(lv / 2) - lv / 2 - 1, -1), "σ = exp(½·lo"),
        (lambda mu, lv: 0.5 * np.sum(np.exp(lv) - lv - 1, -1), "the μ² term is missing"),
        (lambda mu, lv: kl.kl_to_standard_normal(mu, logvar=lv), "compute it yourself, not with"),
    ],
    ex.check_linear_gaussian_elbo: [
        (
            lambda x, mu, s2, w, sigma2: (
                linear_gaussian_elbo(x, mu, s2, w, sigma2) + 2 * 0.5 * (mu**2 + s2 - np.log(s2) - 1)
            ),
            "wrong sign on the KL",
        ),
        (
            lambda x, mu, s2, w, sigma2: (
                linear_gaussian_elbo(x, mu, s2, w, sigma2) + w**2 * s2 / (2 * sigma2)
            ),
            "ignores the spread of q",
        ),
        (
            lambda x, mu, s2, w, sigma2: (
                linear_gaussian_elbo(x, mu, s2, w, sigma2) + 0.5 * np.log(2 * np.pi * sigma2)
            ),
            "½ log(2πσ²)",
        ),
        (
            lambda x, mu, s2, w, sigma2: linear_gaussian_elbo(x, mu, s2**2, w, sigma2),
            "not its standard deviation",
        ),
        (
            lambda x, mu, s2, w, sigma2: linear_gaussian_elbo(x, mu, s2, w, sigma2) + 5.0,
            "exceeds log p(x)",
        ),
        (lambda x, mu, s2, w, sigma2: 0.0 * mu, "wrong value for x = 1.5"),
        (
            lambda x, mu, s2, w, sigma2: LinearGaussian(w, sigma2).elbo(x, mu, s2),
            "not with elbo_lib.linear_gaussian.LinearGaussian",
        ),
    ],
    ex.check_optimal_q: [
        (lambda *a: optimal_q(*a)[::-1], "you returned (variance, mean)"),
        (lambda *a: optimal_q(*a)[0], "return a pair (mean, variance)"),
        (one_observation, "the posterior given x₁ alone"),
        (no_prior, "the prior is missing"),
        (lambda *a: (optimal_q(*a)[0], no_prior(*a)[1]), "the prior's precision 1 is missing"),
        (lambda *a: (optimal_q(*a)[0], one_observation(*a)[1]), "given x₁ alone: x₂ adds"),
        (lambda *a: (optimal_q(*a)[0], optimal_q(*a)[1] ** 0.5), "the standard deviation"),
        (
            lambda x1, x2, w1, w2, s1, s2: LinearGaussian(w1, s1).posterior(x1),
            "not with elbo_lib.linear_gaussian.LinearGaussian",
        ),
    ],
    ex.check_reparameterise: [
        (lambda mu, lv, eps: mu + lv.exp() * eps, "by the variance σ² = exp(logvar)"),
        (lambda mu, lv, eps: mu + lv * eps, "by logvar itself"),
        (lambda mu, lv, eps: mu + lv.sqrt() * eps, "NaN for mu, logvar of shape (3, 4)"),
        (lambda mu, lv, eps: mu + eps, "ε is not scaled"),
        (lambda mu, lv, eps: (0.5 * lv).exp() * eps, "μ is missing"),
        (lambda mu, lv, eps: reparameterise(mu, lv, eps).detach(), "carries no gradient"),
        (lambda mu, lv, eps: reparameterise(mu, lv, eps).detach().numpy(), "torch operations"),
        (
            lambda mu, lv, eps: mu + (0.5 * lv.detach()).exp() * eps,
            "gradient with respect to logvar",
        ),
        (lambda mu, lv, eps: vae.reparameterize(mu, lv, eps), "not with elbo_lib.vae.reparam"),
        (
            lambda mu, lv, eps: torch.distributions.Normal(mu, (0.5 * lv).exp()).rsample(),
            "compute it yourself, not with torch.distributions",
        ),
    ],
    ex.check_mc_elbo: [
        (
            lambda model, x, mu, s2, n, rng: (
                model.log_joint(x, mu + np.sqrt(s2) * rng.normal(size=n))
                - log_gauss(mu + 0 * rng.normal(size=n), mu, s2)
            ),
            "return their average",
        ),
        (
            lambda model, x, mu, s2, n, rng: mc_elbo(model, x, mu, s2, n, np.random.default_rng()),
            "draw every random number from the rng argument",
        ),
        (
            lambda model, x, mu, s2, n, rng: np.mean(
                model.log_joint(x, mu + np.sqrt(s2) * rng.standard_normal(n))
            ),
            "subtract log q(z)",
        ),
        (
            lambda model, x, mu, s2, n, rng: np.mean(
                model.log_joint(x, z := mu + np.sqrt(s2) * rng.standard_normal(n))
                - log_gauss(z, mu, s2**2)
            ),
            "standard deviation √s2",
        ),
        (
            lambda model, x, mu, s2, n, rng: np.mean(
                model.log_joint(x, z := mu + s2 * rng.standard_normal(n)) - log_gauss(z, mu, s2)
            ),
            "more than five standard errors",
        ),
        (
            lambda model, x, mu, s2, n, rng: (
                np.mean(
                    model.log_joint(x, z := mu + np.sqrt(s2) * rng.standard_normal(n))
                    - log_gauss(z, 0.0, 1.0)
                )
                - 0.5 * (mu**2 + s2 - np.log(s2) - 1)
            ),
            "a valid estimator, but not exact there",
        ),
        (  # the closed form written by hand: no sampling at all
            lambda model, x, mu, s2, n, rng: linear_gaussian_elbo(x, mu, s2, 2.0, 0.5),
            "for every seed: a Monte Carlo estimate changes",
        ),
        (
            lambda model, x, mu, s2, n, rng: model.elbo(x, mu, s2),
            "not with elbo_lib.linear_gaussian.LinearGaussian.elbo",
        ),
        (
            lambda model, x, mu, s2, n, rng: np.mean(
                model.log_joint(x, z := mu + np.sqrt(s2) * rng.standard_normal(n))
                - stats.norm(mu, np.sqrt(s2)).logpdf(z)
            ),
            "compute it yourself, not with scipy.stats",
        ),
        (lambda model, x, mu, s2, n, rng: math.nan, "NaN for q = N(0.3, 0.2)"),
    ],
    ex.check_measure_spread: [
        (lambda estimate, n, rng: np.var([estimate(rng) for _ in range(n)]), "the variance"),
        (
            lambda estimate, n, rng: np.std([estimate(np.random.default_rng(0)) for _ in range(n)]),
            "pass the rng you are given",
        ),
        (lambda estimate, n, rng: np.std([estimate(rng) for _ in range(10)]), "called estimate 10"),
        (lambda estimate, n, rng: 0.7, "the estimator's true spread"),
        (lambda estimate, n, rng: 1.0 / math.sqrt(n), "you never called estimate"),
    ],
    ex.check_reverse_kl_on_grid: [
        (
            lambda log_p, grid, m, s: reverse_kl_on_grid(log_p, grid, m, s) / (grid[1] - grid[0]),
            "multiply the sum by the grid step",
        ),
        (
            lambda log_p, grid, m, s: np.sum(
                np.exp(log_p) * (log_p - log_gauss(grid, m, s**2)) * (grid[1] - grid[0])
            ),
            "KL(p ‖ q), the forward direction",
        ),
        (
            lambda log_p, grid, m, s: (
                np.sum(np.exp(log_gauss(grid, m, s**2)) * (log_gauss(grid, m, s**2) - log_p))
                * (grid[1] - grid[0])
            ),
            "normalise p on the grid first",
        ),
        (lambda log_p, grid, m, s: -reverse_kl_on_grid(log_p, grid, m, s), "wrong sign"),
        (
            lambda log_p, grid, m, s: (
                reverse_kl_on_grid(log_p + 1000, grid, m, s) if log_p.max() < -500 else math.nan
            ),
            "NaN for p = N(1, 2²)",
        ),
    ],
    ex.check_fit_prediction: [
        (lambda: ((-1.2, 2.9), (-1.2, 2.9)), "avoids the valley between the modes"),
        (lambda: ((3.0, 1.0), (-1.2, 2.9)), "picks the heavier mode"),
        (lambda: ((-3.0, 1.0), (-3.0, 1.0)), "must cover both modes"),
        (lambda: ((-3.0, 1.0), (-1.2, -2.9)), "a std > 0"),
        (lambda: (-3.0, 1.0), "return a pair (mean, std)"),
    ],
    ex.check_score_function_grad: [
        (
            lambda f, mu, s, n, rng: np.mean(
                f(z := mu + s * rng.standard_normal(n)) * (z - mu) / s
            ),
            "divide by σ², not σ",
        ),
        (
            lambda f, mu, s, n, rng: (
                np.mean(f(z := mu + s * rng.standard_normal(n)) * (mu - z)) / s**2
            ),
            "wrong sign",
        ),
        (
            lambda f, mu, s, n, rng: np.mean(s * rng.standard_normal(n)) / s**2,
            "multiply it by f(z)",
        ),
        (  # finite differences with common random numbers: the pathwise gradient
            lambda f, mu, s, n, rng: np.mean(
                (f((z := mu + s * rng.standard_normal(n)) + 1e-6) - f(z - 1e-6)) / 2e-6
            ),
            "like the pathwise",
        ),
        (lambda f, mu, s, n, rng: 2 * mu, "for every seed"),
    ],
    ex.check_variance_ratio_prediction: [
        (lambda: 64 / 825, "you predicted the inverse"),
        (lambda: 7.5, "(81/16)E[ε²] + 9E[ε⁴]"),
    ],
    ex.check_single_sample_elbo: [
        (
            lambda x, mu, lv, decode, eps: (
                -F.binary_cross_entropy_with_logits(
                    decode(mu + (0.5 * lv).exp() * eps), x, reduction="none"
                ).sum(-1)
                - 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1)
            ),
            "reconstruction − closed-form KL",
        ),
        (
            lambda x, mu, lv, decode, eps: (
                single_sample_elbo(x, mu, lv, decode, eps)
                + 0.5 * ((mu + (0.5 * lv).exp() * eps) ** 2).sum(-1)
            ),
            "log p(z) is missing",
        ),
        (
            lambda x, mu, lv, decode, eps: single_sample_elbo(x, mu, lv, decode, eps).mean(),
            "do not average over the batch",
        ),
        (
            lambda x, mu, lv, decode, eps: -single_sample_elbo(x, mu, lv, decode, eps),
            "wrong sign: return the ELBO",
        ),
        (
            lambda x, mu, lv, decode, eps: single_sample_elbo(x, mu, lv, decode, eps).detach(),
            "carries no gradient",
        ),
        (
            lambda x, mu, lv, decode, eps: vae.bernoulli_log_likelihood(x, decode(mu)),
            "not with elbo_lib.vae.bernoulli_log_likelihood",
        ),
    ],
    ex.check_iwae_bound: [
        (lambda log_w: np.mean(log_w, axis=-1), "you averaged the log-weights"),
        (
            lambda log_w: np.log(np.mean(np.exp(log_w), axis=-1)),
            "-inf for log-weights around -1000",
        ),
        (lambda log_w: iwae_bound(log_w) + np.log(log_w.shape[-1]), "off by log K"),
        (lambda log_w: np.max(log_w, axis=-1), "the largest log-weight"),
        (
            lambda log_w: np.max(log_w) + np.log(np.mean(np.exp(log_w - np.max(log_w)), axis=-1)),
            "take m row by row",
        ),
        (lambda log_w: iwae_bound(log_w.T).T if log_w.ndim == 2 else iwae_bound(log_w), "batch"),
        (lambda log_w: bounds.iwae_bound(log_w), "not with elbo_lib.bounds.iwae_bound"),
    ],
    ex.check_blur_optimum: [
        (lambda p, s2: (round(p), blur_optimum(p, s2)[1]), "a sharp pixel"),
        (lambda p, s2: (p, p * (1 - p) / (2 * s2)), "keep the constant"),
        (lambda p, s2: (p, 0.5 * np.log(2 * np.pi * s2) + p * (1 - p) / s2), "not σ²"),
        (lambda p, s2: (p, -blur_optimum(p, s2)[1]), "wrong sign"),
        (lambda p, s2: p, "return a pair (m, nll)"),
    ],
    ex.check_mutual_information: [
        (lambda mu, lv, eps: mutual_information(mu, lv, eps) + math.log(len(mu)), "not their sum"),
        (lambda mu, lv, eps: -mutual_information(mu, lv, eps), "wrong sign"),
        (lambda mu, lv, eps: 0 * mu.sum(), "mix all N posteriors"),
        (
            lambda mu, lv, eps: (
                _log_density(z := mu + (0.5 * lv).exp() * eps, mu, lv)
                - (_log_density(z[:, :, None, :], mu, lv).exp().mean(-1)).log()
            ).mean(),
            "torch.logsumexp",
        ),
    ],
    ex.check_vae_loss: [
        (make_vae_loss(kl_sign=-1), "wrong sign"),
        (make_vae_loss(half=1.0), "did you forget the ½?"),
        (make_vae_loss(log_variance=False), "NaN for var = 1e-8"),
        (make_vae_loss(pixel_sum=False), "64× too small"),
        (make_vae_loss(beta_on_kl=False), "β weights the reconstruction"),
        (lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, beta) * len(x), "not sum"),
        (lambda x, logits, mu, lv, beta: -vae_loss(x, logits, mu, lv, beta), "wrong sign: return"),
        (
            lambda x, logits, mu, lv, beta: (
                -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
                + beta * 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1)
            ).mean(),
            "the reconstruction term has the wrong sign",
        ),
        (
            lambda x, logits, mu, lv, beta: (
                F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
                + beta * 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1)
            ),
            "one loss per image",
        ),
        (
            lambda x, logits, mu, lv, beta: (
                (-(x * torch.sigmoid(logits).log() + (1 - x) * (1 - torch.sigmoid(logits)).log()))
                .sum(-1)
                .mean()
                + beta * 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1).mean()
            ),
            "binary_cross_entropy_with_logits",
        ),
        (
            lambda x, logits, mu, lv, beta: (
                F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(-1)
                + beta * 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1)
            ).mean(),
            "clamps log 0 to −100",
        ),
        (  # an in-place sigmoid: the answer works on copies, so it only costs it the clamping
            lambda x, logits, mu, lv, beta: (
                F.binary_cross_entropy(logits.sigmoid_(), x, reduction="none").sum(-1)
                + beta * 0.5 * (mu**2 + lv.exp() - lv - 1).sum(-1)
            ).mean(),
            "clamps log 0 to −100",
        ),
        (
            lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, beta).detach(),
            "carries no gradient",
        ),
        (lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, 1.0), "β has no effect"),
        (lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, 0.0), "KL term is missing"),
        (lambda x, logits, mu, lv, beta: torch.tensor(math.nan), "the loss is nan"),
        (
            lambda x, logits, mu, lv, beta: vae.negative_elbo(
                vae.bernoulli_log_likelihood(x, logits), 0.5 * (mu**2 + lv.exp() - lv - 1), beta
            ),
            "not with elbo_lib.vae",
        ),
    ],
    ex.check_warmup_beta: [
        (lambda t, T, target: target * t / T, "cap it with min(1, t / T)"),
        (lambda t, T, target: target * min(1, t // T), "integer division"),
        (lambda t, T, target: target * (1 - min(1, t / T)), "β falls"),
        (lambda t, T, target: min(1, t / T), "multiply by target"),
        (lambda t, T, target: target * min(1, (t + 1) / T), "off by one step"),
        (lambda t, T, target: [target * min(1, t / T)] * 2, "one number β"),
    ],
    ex.check_trained_vae: [
        (lambda x, seed: vae.train_vae(vae.VAE(), x, epochs=1), "not with elbo_lib.vae.train_vae"),
        (lambda x, seed: vae.VAE(z_dim=4), "VAE(x_dim=64, z_dim=8"),
        (lambda x, seed: torch.nn.Linear(64, 8), "return the trained elbo_lib.vae.VAE"),
    ],
}


@pytest.mark.parametrize(
    ("check", "mistake", "hint"),
    [(check, mistake, hint) for check, cases in MISTAKES.items() for mistake, hint in cases],
    ids=[f"{c.__name__}-{i}" for c, cases in MISTAKES.items() for i in range(len(cases))],
)
def test_a_planted_mistake_gets_its_hint(check, mistake, hint, capsys):
    result, out = verdict(check, mistake, capsys)
    assert result is False
    assert hint in out, out
    assert "✓ Exercise" not in out and "not done yet" not in out
    assert sys.getprofile() is None


def test_delegation_leaves_the_library_working(capsys):
    assert not ex.check_kl_diag_gaussian(lambda mu, lv: kl.kl_to_standard_normal(mu, logvar=lv))
    assert "compute it yourself" in capsys.readouterr().out
    assert kl.kl_to_standard_normal(np.zeros(2), logvar=np.zeros(2)) == 0.0
    assert sys.getprofile() is None


def test_the_checks_own_answers_are_off_limits(capsys):
    def borrowed(mu, logvar):
        return ex._gaussian_kl(mu, np.exp(logvar), 0.0, 1.0).sum(-1)

    assert not ex.check_kl_diag_gaussian(borrowed)
    assert "not with elbo_lib.exercises._gaussian_kl" in capsys.readouterr().out
    assert ex._gaussian_kl.__code__ in harness.references()
    assert ex._square.__code__ not in harness.references()
    assert ex.check_score_function_grad(score_function_grad)


def test_a_caught_delegation_is_still_found(capsys):
    def sneaky(mu, logvar):
        try:
            return kl.kl_to_standard_normal(mu, logvar=logvar)
        except BaseException:
            return kl_diag_gaussian(mu, logvar)

    assert not ex.check_kl_diag_gaussian(sneaky)
    assert "not with elbo_lib.kl.kl_to_standard_normal" in capsys.readouterr().out


def test_an_answer_that_changes_its_model_changes_nothing_else(capsys):
    def corrupting(model, x, mu, s2, n, rng):
        model.sigma2 = s2
        return mc_elbo(model, x, mu, s2, n, rng)

    assert not ex.check_mc_elbo(corrupting)
    assert ex._MODEL.sigma2 == 0.5
    assert ex.check_mc_elbo(mc_elbo)
    assert "✓ Exercise 4" in capsys.readouterr().out


def test_an_answer_that_changes_its_arrays_in_place_changes_nothing_else(capsys):
    def overwriting(mu, logvar):
        out = kl_diag_gaussian(mu, logvar)
        mu[...], logvar[...] = 0.0, 0.0
        return out

    assert ex.check_kl_diag_gaussian(overwriting)


BUGS = ("kl_sign", "half", "log_variance", "pixel_sum", "beta_on_kl")
SYMPTOMS = dict(
    zip(
        BUGS,
        (
            "✗ sign of the KL",
            "✗ the ½ of the KL",
            "✗ variance vs log-variance",
            "✗ sum over pixels",
            "✗ what β multiplies",
        ),
        strict=True,
    )
)
BUGGY = {"kl_sign": -1, "half": 1.0, "log_variance": False, "pixel_sum": False, "beta_on_kl": False}


@pytest.mark.parametrize(
    "planted", [bugs for k in range(1, 6) for bugs in itertools.combinations(BUGS, k)], ids=str
)
def test_each_planted_bug_shows_its_own_symptom_whatever_else_is_wrong(planted, capsys):
    loss = make_vae_loss(**{bug: BUGGY[bug] for bug in planted})
    ex.diagnose_vae_loss(loss)
    diagnosed = capsys.readouterr().out
    result, checked = verdict(ex.check_fixed_vae_loss, loss, capsys)
    assert result is False
    assert f"{len(planted)} of 5 symptoms remain" in checked
    for bug, symptom in SYMPTOMS.items():
        assert (symptom in diagnosed) == (bug in planted), diagnosed
        assert (symptom in checked) == (bug in planted), checked


def test_an_in_place_sigmoid_does_not_fool_the_probes(capsys):
    def in_place(x, logits, mu, logvar, beta):
        bce = F.binary_cross_entropy(logits.sigmoid_(), x, reduction="none").sum(-1)
        return (bce + beta * 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)).mean()

    ex.diagnose_vae_loss(in_place)
    assert capsys.readouterr().out.count("fine") == 5


def test_diagnose_reports_a_clean_loss_a_nan_loss_and_a_stub(capsys):
    ex.diagnose_vae_loss(vae_loss)
    assert capsys.readouterr().out.count("fine") == 5
    ex.diagnose_vae_loss(lambda *args: torch.tensor(math.nan))
    out = capsys.readouterr().out
    assert "✓" not in out and "the loss is nan" in out
    ex.diagnose_vae_loss(stub_raising)
    assert "not done yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sampler",
    [
        lambda mu, s2, n, rng: rng.normal(mu, np.sqrt(s2), size=n),
        lambda mu, s2, n, rng: mu + np.sqrt(s2) * rng.standard_normal((n, 1))[:, 0],
        lambda mu, s2, n, rng: torch.as_tensor(mu + np.sqrt(s2) * rng.standard_normal(n)).numpy(),
    ],
)
def test_monte_carlo_checks_accept_any_correct_way_of_sampling(sampler, capsys, monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT", 10.0)

    def mc(model, x, mu, s2, n, rng):
        z = sampler(mu, s2, n, rng)
        return np.mean(model.log_joint(x, z) - log_gauss(z, mu, s2))

    assert ex.check_mc_elbo(mc)


def test_checks_accept_torch_answers_to_numpy_exercises(capsys):
    def kl_torch(mu, logvar):
        mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
        return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)

    assert ex.check_kl_diag_gaussian(kl_torch)


answers = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(),
    st.integers(),
    st.text(max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.tuples(st.floats(), st.floats()),
    st.tuples(st.tuples(st.floats(), st.floats()), st.tuples(st.floats(), st.floats())),
    arrays(np.float64, st.sampled_from([(3,), (4, 3), (1,), (5, 64)])),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=answers)
@pytest.mark.parametrize("check", CHECKS, ids=ids)
def test_a_check_never_raises_whatever_the_answer(check, answer, capsys):
    assert check(lambda *args: answer) is False
    assert "✗" in capsys.readouterr().out


def test_a_float32_vae_loss_passes(capsys):
    def float32_loss(x, logits, mu, logvar, beta):
        return vae_loss(x.float(), logits.float(), mu.float(), logvar.float(), beta)

    assert ex.check_vae_loss(float32_loss) and ex.check_fixed_vae_loss(float32_loss)


def test_the_spread_figure_shows_correct_answers_on_the_law(capsys, monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT", 10.0)
    fig = ex.plot_mc_elbo_spread(mc_elbo, measure_spread, n_samples=(1, 10, 100), repeats=100)
    (ax,) = fig.axes
    law, measured = ax.lines
    np.testing.assert_allclose(measured.get_ydata(), law.get_ydata(), rtol=0.3)
    assert ax.get_xlabel() and "nats" in ax.get_ylabel() and ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize(
    ("answers", "said"),
    [
        ((stub_raising, measure_spread), "not done yet"),
        ((mc_elbo, lambda *args: np.zeros(2)), "✗ Exercises 4 and 5"),
    ],
)
def test_the_spread_figure_waits_for_the_exercises(answers, said, capsys):
    figures = plt.get_fignums()
    assert ex.plot_mc_elbo_spread(*answers) is None
    assert said in capsys.readouterr().out
    assert plt.get_fignums() == figures


def test_a_wrong_optimum_is_told_its_gap_in_nats(capsys):
    def shifted(*args):
        mean, var = optimal_q(*args)
        return mean + 0.1, var

    result, out = verdict(ex.check_optimal_q, shifted, capsys)
    # KL(N(m + 0.1, s²) ‖ N(m, s²)) = 0.1² / (2 s²), 1/s² = 1 + 2²/0.5 + 1²/2 = 9.5 in case one
    assert result is False and "At your q the ELBO is 0.0475 nats below log p(x₁, x₂)" in out


def test_the_time_limit_holds_in_any_thread_and_stops_only_the_answer(capsys):
    """A check run from a widget's thread is limited too, and the deadline stops the answer's
    own thread: nothing reaches the caller but the verdict."""
    import threading

    results = []
    caller = threading.Thread(target=lambda: results.append(ex.check_warmup_beta(loops_forever)))
    caller.start()
    caller.join(30)
    assert not caller.is_alive() and results == [False]
    assert "did not return within" in capsys.readouterr().out
    assert not [t for t in threading.enumerate() if t.name == "exercise answer"]

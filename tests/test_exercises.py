"""The exercise checks: a correct answer passes, a stub is "not done yet", and every classic
mistake is recognised with its own hint, printed rather than raised."""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from torch.nn import functional as F

from elbo_lib import exercises as ex

# Correct answers, written as a student would -------------------------------------------------


def kl_diag_gaussian(mu, logvar):
    return 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=-1)


def linear_gaussian_elbo(x, mu, s2, w, sigma2):
    fit = -0.5 * np.log(2 * np.pi * sigma2) - ((x - w * mu) ** 2 + w**2 * s2) / (2 * sigma2)
    return fit - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def optimal_q(x, w, sigma2):
    precision = 1 + w**2 / sigma2
    return w * x / sigma2 / precision, 1 / precision


def reparameterise(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def mc_elbo(model, x, mu, s2, n_samples, rng):
    z = mu + np.sqrt(s2) * rng.standard_normal(n_samples)
    return np.mean(model.log_joint(x, z) - stats.norm(mu, np.sqrt(s2)).logpdf(z))


def mc_elbo_std(model, x, mu, s2, n_samples, n_repeats, rng):
    return np.std([mc_elbo(model, x, mu, s2, n_samples, rng) for _ in range(n_repeats)])


def iwae_bound(log_w):
    m = np.max(log_w, axis=-1, keepdims=True)
    return np.squeeze(m, -1) + np.log(np.mean(np.exp(log_w - m), axis=-1))


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

CORRECT = [
    (ex.check_kl_diag_gaussian, kl_diag_gaussian),
    (ex.check_linear_gaussian_elbo, linear_gaussian_elbo),
    (ex.check_optimal_q, optimal_q),
    (ex.check_reparameterise, reparameterise),
    (ex.check_mc_elbo, mc_elbo),
    (ex.check_mc_elbo_std, mc_elbo_std),
    (ex.check_iwae_bound, iwae_bound),
    (ex.check_warmup_beta, warmup_beta),
    (ex.check_vae_loss, vae_loss),
    (ex.check_fixed_vae_loss, vae_loss),
]
CHECKS = [check for check, _ in CORRECT]


def verdict(check, fn, capsys):
    """Run a check; return its result and what it printed."""
    result = check(fn)
    return result, capsys.readouterr().out


@pytest.mark.parametrize(("check", "answer"), CORRECT, ids=lambda c: getattr(c, "__name__", ""))
def test_a_correct_answer_passes(check, answer, capsys):
    result, out = verdict(check, answer, capsys)
    assert result is True
    assert "✓" in out and "correct!" in out and "✗" not in out


def stub_raising(*args):
    raise NotImplementedError()


def stub_ellipsis(*args):
    return ...


@pytest.mark.parametrize("stub", [stub_raising, stub_ellipsis])
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_stub_is_not_done_yet(check, stub, capsys):
    result, out = verdict(check, stub, capsys)
    assert result is False
    assert "not done yet" in out and "✓" not in out


def raises_type_error(*args):
    return 1 + "one"


def returns_none(*args):
    pass


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (raises_type_error, "your function raised TypeError"),
        (returns_none, "did you forget `return`?"),
        (lambda *args: "KL", "returned a str"),
    ],
)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_broken_answer_is_reported_not_raised(check, wrong, hint, capsys):
    result, out = verdict(check, wrong, capsys)
    assert result is False
    assert hint in out and "✗" in out, out


# Planted mistakes, one per hint ----------------------------------------------------------------

MISTAKES = {
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
    ],
    ex.check_optimal_q: [
        (lambda x, w, sigma2: optimal_q(x, w, sigma2)[::-1], "you returned (variance, mean)"),
        (lambda x, w, sigma2: optimal_q(x, w, sigma2)[0], "return a pair (mean, variance)"),
        (lambda x, w, sigma2: (x / w, sigma2 / w**2), "the prior N(0, 1) pulls"),
        (lambda x, w, sigma2: (optimal_q(x, w, sigma2)[0], sigma2 / w**2), "precisions add"),
        (lambda x, w, sigma2: (optimal_q(x, w, sigma2)[0], 1 / (1 + w**2 / sigma2) ** 0.5), "st"),
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
    ],
    ex.check_mc_elbo: [
        (
            lambda model, x, mu, s2, n, rng: model.log_joint(
                x, mu + np.sqrt(s2) * rng.normal(size=n)
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
                - stats.norm(mu, s2).logpdf(z)
            ),
            "np.sqrt(s2)",
        ),
        (
            lambda model, x, mu, s2, n, rng: np.mean(
                model.log_joint(x, z := mu + s2 * rng.standard_normal(n))
                - stats.norm(mu, s2).logpdf(z)
            ),
            "z = μ + √s2·ε",
        ),
        (
            lambda model, x, mu, s2, n, rng: (
                np.mean(
                    model.log_joint(x, z := mu + np.sqrt(s2) * rng.standard_normal(n))
                    - stats.norm.logpdf(z)
                )
                - 0.5 * (mu**2 + s2 - np.log(s2) - 1)
            ),
            "a valid ELBO estimator, but the exercise asks for",
        ),
    ],
    ex.check_mc_elbo_std: [
        (
            lambda model, x, mu, s2, n, repeats, rng: np.std(
                [mc_elbo(model, x, mu, s2, 1, rng) for _ in range(repeats)]
            ),
            "does not shrink",
        ),
        (
            lambda model, x, mu, s2, n, repeats, rng: np.var(
                [mc_elbo(model, x, mu, s2, n, rng) for _ in range(repeats)]
            ),
            "you returned the variance",
        ),
        (
            lambda model, x, mu, s2, n, repeats, rng: np.std(
                [mc_elbo(model, x, mu, s2, n, np.random.default_rng(0)) for _ in range(repeats)]
            ),
            "zero spread",
        ),
        (
            lambda model, x, mu, s2, n, repeats, rng: (
                np.std(
                    model.log_joint(x, z := mu + np.sqrt(s2) * rng.standard_normal(n))
                    - stats.norm(mu, np.sqrt(s2)).logpdf(z)
                )
                / np.sqrt(n)
            ),
            "not a measurement of repeated estimates",
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
    ],
    ex.check_warmup_beta: [
        (lambda t, T, target: target * t / T, "cap it with min(1, t / T)"),
        (lambda t, T, target: target * min(1, t // T), "integer division"),
        (lambda t, T, target: target * (1 - min(1, t / T)), "β falls"),
        (lambda t, T, target: min(1, t / T), "multiply by target"),
        (lambda t, T, target: target * min(1, (t + 1) / T), "off by one step"),
        (lambda t, T, target: [target * min(1, t / T)] * 2, "one number β"),
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
        (
            lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, beta).detach(),
            "carries no gradient",
        ),
        (lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, 1.0), "β has no effect"),
        (lambda x, logits, mu, lv, beta: vae_loss(x, logits, mu, lv, 0.0), "KL term is missing"),
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
    assert "✓" not in out and "not done yet" not in out


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


def test_diagnose_reports_a_clean_loss_and_a_stub(capsys):
    ex.diagnose_vae_loss(vae_loss)
    assert capsys.readouterr().out.count("fine") == 5
    ex.diagnose_vae_loss(stub_raising)
    assert "not done yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sampler",
    [
        lambda mu, s2, n, rng: rng.normal(mu, np.sqrt(s2), size=n),
        lambda mu, s2, n, rng: stats.norm(mu, np.sqrt(s2)).rvs(n, random_state=rng),
        lambda mu, s2, n, rng: mu + np.sqrt(s2) * rng.standard_normal((n, 1))[:, 0],
    ],
)
def test_monte_carlo_checks_accept_any_correct_way_of_sampling(sampler, capsys):
    def mc(model, x, mu, s2, n, rng):
        z = sampler(mu, s2, n, rng)
        return np.mean(model.log_joint(x, z) - stats.norm(mu, np.sqrt(s2)).logpdf(z))

    def spread(model, x, mu, s2, n, repeats, rng):
        return np.std([mc(model, x, mu, s2, n, rng) for _ in range(repeats)], ddof=1)

    assert ex.check_mc_elbo(mc) and ex.check_mc_elbo_std(spread)


def test_checks_accept_torch_answers_to_numpy_exercises(capsys):
    def kl_torch(mu, logvar):
        mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
        return 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(-1)

    assert ex.check_kl_diag_gaussian(kl_torch)


answers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.text(max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.tuples(st.floats(), st.floats()),
    arrays(np.float64, st.sampled_from([(3,), (4, 3), (1,), (5, 64)])),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=answers)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_check_never_raises_whatever_the_answer(check, answer, capsys):
    assert check(lambda *args: answer) is False
    assert "✗" in capsys.readouterr().out


def test_a_float32_vae_loss_passes(capsys):
    def float32_loss(x, logits, mu, logvar, beta):
        return vae_loss(x.float(), logits.float(), mu.float(), logvar.float(), beta)

    assert ex.check_vae_loss(float32_loss) and ex.check_fixed_vae_loss(float32_loss)


def test_the_spread_figure_shows_a_correct_answer_on_the_law(capsys):
    fig = ex.plot_mc_elbo_spread(mc_elbo_std, n_samples=(1, 10, 100), n_repeats=100)
    (ax,) = fig.axes
    law, measured = ax.lines
    np.testing.assert_allclose(measured.get_ydata(), law.get_ydata(), rtol=0.3)
    assert ax.get_xlabel() and "nats" in ax.get_ylabel() and ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize(
    ("answer", "said"),
    [(stub_raising, "not done yet"), (lambda *args: np.zeros(2), "✗ Exercise 6")],
)
def test_the_spread_figure_waits_for_the_exercise(answer, said, capsys):
    figures = plt.get_fignums()
    assert ex.plot_mc_elbo_spread(answer) is None
    assert said in capsys.readouterr().out
    assert plt.get_fignums() == figures


def test_a_wrong_optimum_is_told_its_gap_in_nats(capsys):
    def shifted(x, w, sigma2):
        mean, var = optimal_q(x, w, sigma2)
        return mean + 0.1, var

    result, out = verdict(ex.check_optimal_q, shifted, capsys)
    # KL(N(m + 0.1, s²) ‖ N(m, s²)) = 0.1² / (2 s²), s² = 1/(1 + 2²/0.5) = 1/9 for the first case
    assert result is False and "At your q the ELBO is 0.0450 nats below log p(x)" in out

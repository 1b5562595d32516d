"""The checks of problem set 19: an honest answer passes, each planted mistake fails with its own
hint, a delegating answer fails, the inputs change with the grading seed, and the references the
checks compare against agree with independent computations (Monte Carlo, quadrature)."""

import csv
import math
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from scipy import integrate
from torch.distributions import RelaxedOneHotCategorical
from torch.nn import functional as F

from elbo_lib import harness
from elbo_lib import problems_vae as pv
from elbo_lib.vae import VAE, train_vae

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

# Honest answers, written as a student would ---------------------------------------------------


def cubic_gradient_variances(mu, s):
    score = mu**6 / s**2 + 36 * mu**4 + 207 * mu**2 * s**2 + 96 * s**4
    return score, 36 * mu**2 * s**2 + 18 * s**4


def bernoulli_score_variance(phi, f0, f1, b):
    return (f1 - b) ** 2 / phi + (f0 - b) ** 2 / (1 - phi) - (f1 - f0) ** 2


def mean_baseline_expectation(mu, s, n_samples):
    return (1 - 1 / n_samples) * np.array([3 * mu**2 + 3 * s**2, 3 * mu * s**2])


def concrete_log_density(y, logits, tau):
    y, logits = torch.as_tensor(y), torch.as_tensor(logits)
    n = y.shape[-1]
    log_y = y.log()
    return (
        math.lgamma(n)
        + (n - 1) * math.log(tau)
        + (logits - (tau + 1) * log_y).sum(-1)
        - n * torch.logsumexp(logits - tau * log_y, -1)
    )


def predicted_relaxed_sample():
    return 0.665, 0.40


def train_best_vae(x_train, seed, epochs=160, hidden=(256,)):
    torch.manual_seed(seed)
    model = VAE(x_dim=64, z_dim=8, hidden=hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        order = torch.randperm(len(x_train))
        for start in range(0, len(x_train), 128):
            x = x_train[order[start : start + 128]]
            mu, logvar = model.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            log_px = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none")
            kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1)
            loss = (kl.sum(-1) - log_px.sum(-1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


CORRECT = [
    (pv.check_cubic_gradient_variances, cubic_gradient_variances),
    (pv.check_bernoulli_score_variance, bernoulli_score_variance),
    (pv.check_mean_baseline_expectation, mean_baseline_expectation),
    (pv.check_concrete_log_density, concrete_log_density),
    (pv.check_predicted_relaxed_sample, predicted_relaxed_sample),
]
ids = lambda c: getattr(c, "__name__", "")  # noqa: E731


def verdict(check, fn, capsys):
    result = check(fn)
    return result, capsys.readouterr().out


@pytest.mark.parametrize(("check", "answer"), CORRECT, ids=ids)
def test_an_honest_answer_passes(check, answer, capsys):
    result, out = verdict(check, answer, capsys)
    assert result is True, out
    assert "✓" in out and "correct!" in out and "✗" not in out


@pytest.mark.parametrize("check", [c for c, _ in CORRECT] + [pv.check_best_vae], ids=ids)
def test_a_stub_is_not_done_yet_and_an_exit_is_reported(check, capsys):
    def stub(*args):
        raise NotImplementedError()

    result, out = verdict(check, stub, capsys)
    assert result is False and "not done yet" in out
    result, out = verdict(check, lambda *args: sys.exit(0), capsys)
    assert result is False and "called exit()" in out


# Planted mistakes, each with its own hint -------------------------------------------------------


def _score_second_moment(mu, s):
    return cubic_gradient_variances(mu, s)[0] + (3 * mu**2 + 3 * s**2) ** 2, 0.0


def _score_without_one_s(mu, s):
    return cubic_gradient_variances(mu, s)[0] * s**2, 0.0


def _score_of_z_squared(mu, s):
    return mu**4 / s**2 + 14 * mu**2 + 15 * s**2, 0.0


def _pathwise_variant(pathwise):
    return lambda mu, s: (cubic_gradient_variances(mu, s)[0], pathwise(mu, s))


CUBIC_MISTAKES = [
    (_score_second_moment, "that is the second moment E[(z³ε/s)²]"),
    (_score_without_one_s, "divide by s once more"),
    (_score_of_z_squared, "that is the lecture's variance for f(z) = z²"),
    (
        _pathwise_variant(lambda mu, s: 9 * (mu**4 + 6 * mu**2 * s**2 + 3 * s**4)),
        "that is E[(3z²)²]",
    ),
    (_pathwise_variant(lambda mu, s: 18 * s**4), "the μ-dependent part is missing"),
    (
        _pathwise_variant(lambda mu, s: 9 * mu**4 * s**2 + 36 * mu**2 * s**4 + 15 * s**6),
        "that is Var[f(z)]",
    ),
    (_pathwise_variant(lambda mu, s: 4 * s**2), "the lecture's pathwise variance for f(z) = z²"),
]


@pytest.mark.parametrize(("wrong", "hint"), CUBIC_MISTAKES)
def test_cubic_mistakes_have_their_hints(wrong, hint, capsys):
    result, out = verdict(pv.check_cubic_gradient_variances, wrong, capsys)
    assert result is False and hint in out, out


def test_var_f_of_a_cubic_is_the_hinted_polynomial():
    """The planted Var[z³] above is the exact one (checked by quadrature at one point)."""
    mu, s = 0.7, 1.3
    z = mu + s * pv._NODES
    assert pv._variance(z**3) == pytest.approx(
        9 * mu**4 * s**2 + 36 * mu**2 * s**4 + 15 * s**6, rel=1e-12
    )


BERNOULLI_MISTAKES = [
    (lambda p, f0, f1, b: (f1 - b) ** 2 / p + (f0 - b) ** 2 / (1 - p), "the second moment"),
    (
        lambda p, f0, f1, b: (f1 - b) ** 2 / (1 - p) + (f0 - b) ** 2 / p - (f1 - f0) ** 2,
        "φ and 1 − φ are swapped",
    ),
    (
        lambda p, f0, f1, b: (
            p * (1 - p) ** 2 * (f1 - b) ** 2
            + (1 - p) * p**2 * (f0 - b) ** 2
            - (p * (1 - p) * (f1 - f0)) ** 2
        ),
        "the variance for the logit",
    ),
    (lambda p, f0, f1, b: bernoulli_score_variance(p, f0, f1, 0.0), "the baseline b is missing"),
]


@pytest.mark.parametrize(("wrong", "hint"), BERNOULLI_MISTAKES)
def test_bernoulli_mistakes_have_their_hints(wrong, hint, capsys):
    result, out = verdict(pv.check_bernoulli_score_variance, wrong, capsys)
    assert result is False and hint in out, out


def test_the_zero_variance_baseline_is_what_the_check_says():
    phi, f0, f1 = 0.3, -1.2, 2.5
    assert pv._bernoulli_variance(phi, f0, f1, (1 - phi) * f1 + phi * f0) == pytest.approx(
        0, abs=1e-12
    )
    assert pv._bernoulli_variance(phi, f0, f1, phi * f1 + (1 - phi) * f0) > 1


def _gradient(mu, s):
    return np.array([3 * mu**2 + 3 * s**2, 3 * mu * s**2])


MEAN_BASELINE_MISTAKES = [
    (lambda mu, s, n: _gradient(mu, s), "as if the baseline were harmless"),
    (lambda mu, s, n: _gradient(mu, s) / n, "the part the baseline removes"),
    (lambda mu, s, n: (1 + 1 / n) * _gradient(mu, s), "subtracted, not added"),
    (lambda mu, s, n: (1 - 1 / n**2) * _gradient(mu, s), "not one in S²"),
    (lambda mu, s, n: -mean_baseline_expectation(mu, s, n), "wrong sign"),
    (lambda mu, s, n: 1.0, "return the pair (∂μ, ∂log s²)"),
]


@pytest.mark.parametrize(("wrong", "hint"), MEAN_BASELINE_MISTAKES)
def test_mean_baseline_mistakes_have_their_hints(wrong, hint, capsys):
    result, out = verdict(pv.check_mean_baseline_expectation, wrong, capsys)
    assert result is False and hint in out, out


@pytest.mark.parametrize(("mu", "s", "n"), [(1.0, 1.0, 2), (-0.4, 0.6, 5)])
def test_the_bias_of_the_mean_baseline_is_measured(mu, s, n):
    """The claim the check grades, measured: the batch mean keeps 1 − 1/S of the gradient, and
    the leave-one-out estimator (the batch mean times S/(S − 1)) is unbiased."""
    draws = pv._mean_baseline_estimates(mu, s, n, 400_000, np.random.default_rng(7))
    mean, error = draws.mean(0), draws.std(0, ddof=1) / math.sqrt(len(draws))
    assert np.all(np.abs(mean - (1 - 1 / n) * _gradient(mu, s)) < 5 * error)
    assert np.all(np.abs(mean - _gradient(mu, s)) > 5 * error)  # visibly biased
    loo = draws * n / (n - 1)
    assert np.all(np.abs(loo.mean(0) - _gradient(mu, s)) < 5 * n / (n - 1) * error)


def _concrete_variant(shift):
    return lambda y, logits, tau: concrete_log_density(y, logits, tau) + shift(y, logits, tau)


CONCRETE_MISTAKES = [
    (_concrete_variant(lambda y, lg, t: -math.lgamma(y.shape[-1])), "(n − 1)! is missing"),
    (_concrete_variant(lambda y, lg, t: math.log(t)), "not τ^n"),
    (_concrete_variant(lambda y, lg, t: -math.log(t)), "not τ^(n−2)"),
    (_concrete_variant(lambda y, lg, t: np.log(y).sum(-1)), "not y_k^(−τ)"),
    (
        lambda y, logits, tau: (
            np.log(math.factorial(y.shape[-1] - 1) * tau ** (y.shape[-1] - 1))
            + (logits - (tau + 1) * np.log(y)).sum(-1)
            - y.shape[-1] * np.log((np.exp(logits) * y**-tau).sum(-1))
        ),
        "for large logits exp overflows",
    ),
    (lambda y, logits, tau: np.zeros(len(y) + 1), "expected shape"),
    (lambda y, logits, tau: 0.0, "one log-density per row of y"),
]


@pytest.mark.parametrize(("wrong", "hint"), CONCRETE_MISTAKES)
def test_concrete_mistakes_have_their_hints(wrong, hint, capsys):
    result, out = verdict(pv.check_concrete_log_density, wrong, capsys)
    assert result is False and hint in out, out


def test_the_concrete_density_integrates_to_one():
    """The reference the check compares with, for two categories: a density in y_1 on (0, 1)."""
    logits = torch.tensor([0.3, -1.0], dtype=torch.float64)
    for tau in (0.5, 2.0):
        relaxed = RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64), logits=logits)

        def density(a, relaxed=relaxed):
            y = torch.tensor([a, 1 - a], dtype=torch.float64)
            return float(relaxed.log_prob(y).exp())

        assert integrate.quad(density, 0, 1, limit=200)[0] == pytest.approx(1, abs=1e-6)


def test_delegating_to_torch_distributions_fails(capsys):
    def delegating(y, logits, tau):
        relaxed = RelaxedOneHotCategorical(torch.tensor(tau), logits=torch.as_tensor(logits))
        return relaxed.log_prob(torch.as_tensor(y))

    result, out = verdict(pv.check_concrete_log_density, delegating, capsys)
    assert result is False and "compute it yourself" in out, out


@pytest.mark.parametrize(
    ("prediction", "hint"),
    [
        ((1 / 3, 0.40), "not uniform at a high τ"),
        ((0.5, 0.40), "The frequency is off"),
        ((0.665, 1 / 3), "The mean is off"),
        ((0.665, 0.665), "the probability of the category, not the mean of y"),
    ],
)
def test_wrong_predictions_are_told_the_measurement(prediction, hint, capsys):
    result, out = verdict(pv.check_predicted_relaxed_sample, lambda: prediction, capsys)
    assert result is False and hint in out, out
    assert "the check measures ≈ [0.66" in out


# The inputs follow the grading seed -------------------------------------------------------------


def _recording(answer, seen):
    def recorder(*args):
        seen.append(tuple(np.asarray(a).round(12).tobytes() for a in args))
        return answer(*args)

    return recorder


@pytest.mark.parametrize(("check", "answer"), CORRECT[:4], ids=ids)
def test_the_inputs_change_with_the_grading_seed(check, answer, capsys, monkeypatch):
    inputs = {}
    for seed in (0, 12345):
        monkeypatch.setattr(harness, "SEED", seed)
        inputs[seed] = []
        assert check(_recording(answer, inputs[seed])) is True, capsys.readouterr().out
    assert len(inputs[0]) == len(inputs[12345])
    assert inputs[0] != inputs[12345]
    assert inputs[0][0] == inputs[12345][0]  # the hand-picked edge case comes first, unchanged


def test_the_measurement_of_the_prediction_changes_with_the_grading_seed(capsys, monkeypatch):
    said = []
    for seed in (0, 12345):
        monkeypatch.setattr(harness, "SEED", seed)
        pv.check_predicted_relaxed_sample(predicted_relaxed_sample)
        said.append(capsys.readouterr().out)
    assert said[0] != said[1] and all("✓" in s for s in said)


# The mini-project -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline():
    return pv._held_out_log_likelihood(pv._baseline_model(), 0)


def test_the_baseline_is_notebook_08s_model(baseline):
    assert -18.6 < baseline < -17.8  # notebook 08 measures L_1000 ≈ −18.2 on this model


def test_the_mini_project_passes_when_trained(capsys, monkeypatch):
    monkeypatch.setattr(pv, "PROJECT_TIME_LIMIT", 120.0)  # loaded test machines are slow
    result, out = verdict(pv.check_best_vae, train_best_vae, capsys)
    assert result is True, out
    margin = float(re.search(r"a difference of ≈ ([-.\d]+\d)", out)[1])
    assert margin >= pv.PROJECT_MARGIN + 0.15, out


def test_the_librarys_training_for_twice_the_epochs_does_not_pass(capsys):
    trained = VAE(z_dim=8)
    torch.manual_seed(1)
    train_vae(trained, pv.load_digits()[0], epochs=80, seed=1)
    result, out = verdict(pv.check_best_vae, lambda x, seed: trained, capsys)
    assert result is False and "beat it by 0.6 nats or more" in out, out
    margin = float(re.search(r"a difference of ≈ ([-.\d]+\d)", out)[1])
    assert 0.2 < margin < pv.PROJECT_MARGIN


class _ZeroLikelihood(VAE):
    """A model that claims log p(x | z) = 0 for every image."""

    def log_likelihood(self, x, z):
        return torch.zeros(z.shape[:-1])


def test_a_subclass_that_fakes_its_likelihood_fails(capsys, baseline):
    fake = _ZeroLikelihood(z_dim=8)
    assert pv._held_out_log_likelihood(fake, 0) > baseline + 10  # what a trusting check would see
    result, out = verdict(pv.check_best_vae, lambda x, seed: fake, capsys)
    assert result is False and "beat it by" in out, out


@pytest.mark.parametrize(
    ("returned", "hint"),
    [
        (lambda: torch.zeros(3), "you returned a Tensor"),
        (lambda: VAE(likelihood="gaussian"), "likelihood='bernoulli'"),
        (lambda: VAE(hidden=(256, 256, 256)), "at most 2 hidden layers"),
        (lambda: VAE(hidden=(1024,)), "at most 512 units"),
        (lambda: VAE(z_dim=32), "at most 16 latent dimensions"),
    ],
)
def test_a_model_outside_the_rules_fails(returned, hint, capsys):
    result, out = verdict(pv.check_best_vae, lambda x, seed: returned(), capsys)
    assert result is False and hint in out, out


def test_the_mini_project_may_not_delegate_its_training(capsys, monkeypatch):
    def delegating(x_train, seed):
        model = VAE(z_dim=8)
        train_vae(model, x_train, epochs=1, seed=seed)
        return model

    result, out = verdict(pv.check_best_vae, delegating, capsys)
    assert result is False and "compute it yourself, not with elbo_lib.vae.train_vae" in out, out


def test_allowed_calls_are_the_models_own_methods():
    assert VAE.encode.__code__ in pv.ALLOWED_CALLS
    assert train_vae.__code__ not in pv.ALLOWED_CALLS


def test_a_pair_may_come_as_an_array_and_a_single_number_is_told_so(capsys):
    as_array = lambda mu, s: np.array(cubic_gradient_variances(mu, s))  # noqa: E731
    assert verdict(pv.check_cubic_gradient_variances, as_array, capsys)[0] is True
    result, out = verdict(pv.check_predicted_relaxed_sample, lambda: 0.665, capsys)
    assert result is False and "return a pair (frequency, mean)" in out, out


def _scipy_moments(mu, s):
    from scipy import stats

    z = stats.norm(mu, s)
    return z.expect(lambda v: (v**3 * (v - mu) / s**2) ** 2), 1.0


def _torch_bernoulli(phi, f0, f1, b):
    from torch.distributions import Bernoulli

    p = torch.tensor(phi, requires_grad=True)
    return float(Bernoulli(probs=p).entropy()) + bernoulli_score_variance(phi, f0, f1, b)


def _library_estimates(mu, s, n):
    return pv._mean_baseline_estimates(mu, s, n, 1000, np.random.default_rng(0)).mean(0)


def _measured_prediction():
    relaxed = RelaxedOneHotCategorical(torch.tensor(5.0), logits=torch.tensor([0.0, 1.0, 2.0]))
    y = relaxed.sample((10_000,))
    return float((y.argmax(-1) == 2).float().mean()), float(y[:, 2].mean())


@pytest.mark.parametrize(
    ("check", "delegating", "used"),
    [
        (pv.check_cubic_gradient_variances, _scipy_moments, "scipy"),
        (pv.check_bernoulli_score_variance, _torch_bernoulli, "torch.distributions"),
        (pv.check_mean_baseline_expectation, _library_estimates, "_mean_baseline_estimates"),
        (pv.check_predicted_relaxed_sample, _measured_prediction, "torch.distributions"),
    ],
)
def test_delegating_answers_fail(check, delegating, used, capsys):
    result, out = verdict(check, delegating, capsys)
    assert result is False and "compute it yourself" in out and used in out, out


def test_the_mini_projects_training_seed_follows_the_grading_seed(capsys, monkeypatch):
    seeds = []

    def untrained(x_train, seed):
        seeds.append(seed)
        return VAE(z_dim=8)

    for grading_seed in (0, 12345):
        monkeypatch.setattr(harness, "SEED", grading_seed)
        assert pv.check_best_vae(untrained) is False
    assert "beat it by" in capsys.readouterr().out
    assert seeds[0] != seeds[1]


# The notebook and the grader --------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "instructors" / "19_problems_estimators_and_vae_solutions.ipynb"
STUDENT = ROOT / "notebooks" / "19_problems_estimators_and_vae.ipynb"
CODE_EXERCISES = 6


CHEATING = """
from elbo_lib.vae import VAE as _Library


class Confident(_Library):
    def log_likelihood(self, x, z):
        return torch.zeros(z.shape[:-1])


def train_best_vae(x_train, seed):
    return Confident(z_dim=8)


def concrete_log_density(y, logits, tau):
    relaxed = torch.distributions.RelaxedOneHotCategorical(
        torch.tensor(tau), logits=torch.as_tensor(logits)
    )
    return relaxed.log_prob(torch.as_tensor(y))
"""


def test_the_grader_passes_the_solutions_and_fails_the_stubs_and_two_cheats(tmp_path):
    """tools/grade.py with its workers and its own seed: the solution version passes every
    exercise, the student version none; a submission whose new cell hands the Concrete density to
    torch.distributions and returns, for the mini-project, an untrained VAE whose log_likelihood
    claims 0 nats fails those two exercises only."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("grade", ROOT / "tools" / "grade.py")
    grade = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grade)
    folder = tmp_path / "submissions"
    folder.mkdir()
    nbformat.write(nbformat.read(SOLUTION, as_version=4), folder / "solution.ipynb")
    nbformat.write(nbformat.read(STUDENT, as_version=4), folder / "student.ipynb")
    cheating = nbformat.read(SOLUTION, as_version=4)
    cheating.cells.append(nbformat.v4.new_code_cell(CHEATING.strip()))
    nbformat.write(cheating, folder / "cheating.ipynb")
    out = tmp_path / "grades.csv"
    grade.main([str(folder), "--solution", str(SOLUTION), "--out", str(out)])
    with out.open() as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    exercises = [k for k in rows["solution.ipynb"] if k.startswith("vae_")]
    assert len(exercises) == CODE_EXERCISES
    assert [rows["solution.ipynb"][e] for e in exercises] == ["pass"] * CODE_EXERCISES
    assert [rows["student.ipynb"][e] for e in exercises] == ["fail"] * CODE_EXERCISES
    expected = ["pass", "pass", "pass", "fail", "pass", "fail"]
    assert [rows["cheating.ipynb"][e] for e in exercises] == expected

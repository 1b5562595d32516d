"""The checks of the theory problems (notebook 18): an honest answer passes, a stub is "not done
yet", each planted mistake gets its own hint, a delegating answer is refused, and the inputs
change with the grading seed, so a table of answers for one seed fails under another."""

import csv
import itertools
import math
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import expit, gammaln, log_expit, ndtr
from torch.distributions import MultivariateNormal, kl_divergence

from elbo_lib import harness
from elbo_lib import problems_theory as pt
from elbo_lib.linear_gaussian import LinearGaussian

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

# Honest answers, written as a student would ----------------------------------------------------


def kl_full_covariance(m1, S1, m2, S2):
    m1, S1, m2, S2 = (np.asarray(a, float) for a in (m1, S1, m2, S2))
    diff = m2 - m1
    trace = np.trace(np.linalg.solve(S2, S1))
    logdet = np.linalg.slogdet(S2)[1] - np.linalg.slogdet(S1)[1]
    return 0.5 * (trace + diff @ np.linalg.solve(S2, diff) - len(m1) + logdet)


def poisson_elbo(x, mu, s2, w):
    fit = x * w * mu - np.exp(w * mu + w**2 * s2 / 2) - gammaln(x + 1)
    return fit - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def posterior(x, w, sigma2):
    return w * x / (w**2 + sigma2), sigma2 / (w**2 + sigma2)


def prob_above_evidence(x, mu, s2, w, sigma2, shift=0.0):
    """P_q[log p(z|x) − log q(z) + shift > 0]; shift 0 asks for log r(z) > log p(x)."""
    m, v = posterior(x, w, sigma2)
    a = 1 / (2 * s2) - 1 / (2 * v)  # log p(z|x) − log q(z) = a z² + b z + c
    b = m / v - mu / s2
    c = mu**2 / (2 * s2) - m**2 / (2 * v) - 0.5 * math.log(v / s2) + shift

    def cdf(z):
        return ndtr((z - mu) / math.sqrt(s2))

    if abs(a) < 1e-12 * (1 / s2 + 1 / v):
        if abs(b) < 1e-12:
            return float(c > 0)
        return 1 - cdf(-c / b) if b > 0 else cdf(-c / b)
    disc = b**2 - 4 * a * c
    if disc <= 0:
        return 1.0 if a > 0 else 0.0
    r1, r2 = sorted(((-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a)))
    inside = cdf(r2) - cdf(r1)
    return 1 - inside if a > 0 else inside


def renyi_bound(x, mu, s2, w, sigma2, alpha):
    log_px = -0.5 * math.log(2 * math.pi * (w**2 + sigma2)) - x**2 / (2 * (w**2 + sigma2))
    m, v = posterior(x, w, sigma2)
    if alpha == 1:
        return log_px - 0.5 * (math.log(v / s2) + (s2 + (mu - m) ** 2) / v - 1)
    va = alpha * v + (1 - alpha) * s2
    divergence = alpha * (mu - m) ** 2 / (2 * va) - math.log(
        va / (s2 ** (1 - alpha) * v**alpha)
    ) / (2 * (alpha - 1))
    return log_px - divergence


def predicted_gaps():
    return (math.e - 1) / 20, (math.e - 1) / 200


def make_fit_q(*, steps=2000, decay=100.0, rate=0.05, start=(0.0, 0.0), exact=False):
    """Adam on (μ, log s²) with reparameterised gradients; ``decay`` = inf keeps the rate fixed."""

    def fit_q(a, y, seed):
        rng = np.random.default_rng(seed)
        params, m, v = np.array(start, float), np.zeros(2), np.zeros(2)
        trace = []
        for t in range(steps + 1):
            mu, s = params[0], math.exp(params[1] / 2)
            eps = rng.standard_normal(16)
            z = mu + s * eps
            log_joint = log_expit(y * a * z[:, None]).sum(1) - z**2 / 2 - math.log(2 * math.pi) / 2
            log_q = -(eps**2) / 2 - math.log(2 * math.pi) / 2 - params[1] / 2
            estimate = float(np.mean(log_joint - log_q))
            if exact:  # the exact ELBO by Gauss–Hermite quadrature, not an estimate
                nodes, weights = np.polynomial.hermite_e.hermegauss(60)
                zs = mu + s * nodes
                fit = weights @ log_expit(y * a * zs[:, None]).sum(1) / math.sqrt(2 * math.pi)
                estimate = float(fit - 0.5 * (mu**2 + s * s - params[1] - 1))
            trace.append((mu, s * s, estimate))
            if t == steps:
                return mu, s * s, trace
            dlogp = (y * a * expit(-y * a * z[:, None])).sum(1) - z
            grad = np.array([dlogp.mean(), 0.5 * np.mean(dlogp * eps) * s + 0.5])
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad**2
            lr = rate / (1 + t / decay)
            params += lr * (m / (1 - 0.9 ** (t + 1))) / (np.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8)

    return fit_q


fit_q = make_fit_q()

HONEST = [
    (pt.check_kl_full_covariance, kl_full_covariance),
    (pt.check_poisson_elbo, poisson_elbo),
    (pt.check_prob_above_evidence, prob_above_evidence),
    (pt.check_renyi_bound, renyi_bound),
    (pt.check_jensen_gap_prediction, predicted_gaps),
    (pt.check_fitted_q, fit_q),
]


def verdict(check, fn, capsys):
    result = check(fn)
    return result, capsys.readouterr().out


@pytest.mark.parametrize(("check", "answer"), HONEST, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("seed", [0, 7])
def test_an_honest_answer_passes(check, answer, seed, capsys, monkeypatch):
    monkeypatch.setattr(harness, "SEED", seed)
    result, out = verdict(check, answer, capsys)
    assert result is True, out
    assert out.startswith("✓") and out.count("\n") == 1


@pytest.mark.parametrize("check", [c for c, _ in HONEST], ids=lambda c: c.__name__)
def test_a_stub_is_not_done_yet(check, capsys):
    def stub(*args):
        raise NotImplementedError()

    result, out = verdict(check, stub, capsys)
    assert result is False
    assert out.startswith("…") and "not done yet" in out


# Planted mistakes ----------------------------------------------------------------------------


def kl_half_missing(m1, S1, m2, S2):
    return 2 * kl_full_covariance(m1, S1, m2, S2)


def kl_swapped(m1, S1, m2, S2):
    return kl_full_covariance(m2, S2, m1, S1)


def kl_wrong_trace(m1, S1, m2, S2):
    m1, S1, m2, S2 = (np.asarray(a, float) for a in (m1, S1, m2, S2))
    diff = m2 - m1
    logdet = np.linalg.slogdet(S2)[1] - np.linalg.slogdet(S1)[1]
    trace = np.trace(np.linalg.solve(S1, S2))
    return 0.5 * (trace + diff @ np.linalg.solve(S2, diff) - len(m1) + logdet)


def kl_logdet_flipped(m1, S1, m2, S2):
    m1, S1, m2, S2 = (np.asarray(a, float) for a in (m1, S1, m2, S2))
    logdet = np.linalg.slogdet(S2)[1] - np.linalg.slogdet(S1)[1]
    return kl_full_covariance(m1, S1, m2, S2) - logdet


def kl_mean_term_of_s1(m1, S1, m2, S2):
    m1, S1, m2, S2 = (np.asarray(a, float) for a in (m1, S1, m2, S2))
    diff = m2 - m1
    extra = diff @ np.linalg.solve(S1, diff) - diff @ np.linalg.solve(S2, diff)
    return kl_full_covariance(m1, S1, m2, S2) + 0.5 * extra


def kl_without_d(m1, S1, m2, S2):
    return kl_full_covariance(m1, S1, m2, S2) + 0.5 * len(m1)


def kl_per_dimension(m1, S1, m2, S2):
    return np.full(len(m1), kl_full_covariance(m1, S1, m2, S2))


def poisson_plug_in(x, mu, s2, w):
    fit = x * w * mu - np.exp(w * mu) - gammaln(x + 1)
    return fit - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def poisson_variance_unsquared(x, mu, s2, w):
    fit = x * w * mu - np.exp(w * mu + w * s2 / 2) - gammaln(x + 1)
    return fit - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def poisson_no_factorial(x, mu, s2, w):
    return poisson_elbo(x, mu, s2, w) + gammaln(x + 1)


def poisson_kl_sign(x, mu, s2, w):
    return poisson_elbo(x, mu, s2, w) + (mu**2 + s2 - np.log(s2) - 1)


def poisson_std(x, mu, s2, w):
    return poisson_elbo(x, mu, s2**2, w)


def above_complement(x, mu, s2, w, sigma2):
    return 1 - prob_above_evidence(x, mu, s2, w, sigma2)


def above_prior(x, mu, s2, w, sigma2):
    """P_q[q(z) < p(z)]: the prior in place of the posterior (the model with w = 0)."""
    return prob_above_evidence(0.0, mu, s2, 0.0, 1.0)


def above_elbo(x, mu, s2, w, sigma2):
    """P_q[log r(z) > ELBO]: log r(z) − ELBO = KL(q ‖ p(z|x)) + log p(z|x) − log q(z)."""
    m, v = posterior(x, w, sigma2)
    kl = 0.5 * (math.log(v / s2) + (s2 + (mu - m) ** 2) / v - 1)
    return prob_above_evidence(x, mu, s2, w, sigma2, shift=kl)


def renyi_elbo_always(x, mu, s2, w, sigma2, alpha):
    return renyi_bound(x, mu, s2, w, sigma2, 1.0)


def renyi_no_factor(x, mu, s2, w, sigma2, alpha):
    return (1 - alpha) * renyi_bound(x, mu, s2, w, sigma2, alpha)


def renyi_swapped(x, mu, s2, w, sigma2, alpha):
    return renyi_bound(x, mu, s2, w, sigma2, 1 - alpha)


def renyi_sign(x, mu, s2, w, sigma2, alpha):
    log_px = renyi_bound(x, mu, s2, w, sigma2, 0.0)
    return 2 * log_px - renyi_bound(x, mu, s2, w, sigma2, alpha)


MISTAKES = [
    (pt.check_kl_full_covariance, kl_half_missing, "has a ½ in front"),
    (pt.check_kl_full_covariance, kl_swapped, "the other direction"),
    (pt.check_kl_full_covariance, kl_wrong_trace, "not tr(S1⁻¹ S2)"),
    (pt.check_kl_full_covariance, kl_logdet_flipped, "log-determinants have the wrong sign"),
    (pt.check_kl_full_covariance, kl_mean_term_of_s1, "the second Gaussian's precision"),
    (pt.check_kl_full_covariance, kl_without_d, "the − d is missing"),
    (pt.check_kl_full_covariance, kl_per_dimension, "return one number"),
    (pt.check_poisson_elbo, poisson_plug_in, "Jensen says"),
    (pt.check_poisson_elbo, poisson_variance_unsquared, "wz has variance w²s²"),
    (pt.check_poisson_elbo, poisson_no_factorial, "log x! is missing"),
    (pt.check_poisson_elbo, poisson_kl_sign, "wrong sign on the KL"),
    (pt.check_poisson_elbo, poisson_std, "not its standard deviation"),
    (pt.check_prob_above_evidence, above_complement, "falling below log p(x)"),
    (pt.check_prob_above_evidence, above_prior, "not with the prior"),
    (pt.check_prob_above_evidence, above_elbo, "compared the draw with the ELBO"),
    (pt.check_renyi_bound, renyi_elbo_always, "that is the ELBO"),
    (pt.check_renyi_bound, renyi_no_factor, "factor 1/(1 − α) is missing"),
    (pt.check_renyi_bound, renyi_swapped, "swapped α and 1 − α"),
    (pt.check_renyi_bound, renyi_sign, "wrong sign on the Rényi divergence"),
    (pt.check_jensen_gap_prediction, lambda: (0.5, 0.5), "the gap of one draw"),
    (pt.check_jensen_gap_prediction, lambda: (0.086, 0.086 / math.sqrt(10)), "not 1/√K"),
    (pt.check_jensen_gap_prediction, lambda: (0.2, 0.02), "Expand log Ȳ"),
    (pt.check_fitted_q, make_fit_q(decay=math.inf, rate=0.2), "Decay the learning rate"),
    (pt.check_fitted_q, make_fit_q(steps=40), "at least 100"),
    (pt.check_fitted_q, make_fit_q(start=(1.0, 0.0)), "start the ascent at the prior"),
    (pt.check_fitted_q, make_fit_q(exact=True), "equal the exact ELBO"),
]


@pytest.mark.parametrize(
    ("check", "mistake", "hint"), MISTAKES, ids=lambda v: getattr(v, "__name__", "")
)
def test_a_planted_mistake_gets_its_hint(check, mistake, hint, capsys):
    result, out = verdict(check, mistake, capsys)
    assert result is False
    assert out.startswith("✗") and hint in out, out


def test_a_fabricated_trace_is_refused(capsys):
    """The best q typed in, with a trace that jumps there from the prior, or one whose recorded
    estimates are biased, fails though the q itself is right."""

    honest = fit_q

    def jump(a, y, seed):
        mu, s2, trace = honest(a, y, seed)
        return mu, s2, [*trace[:100], (mu, s2, trace[-1][2])]

    assert pt.check_fitted_q(jump) is False
    assert "it does not jump to an answer" in capsys.readouterr().out

    def biased(a, y, seed):
        mu, s2, trace = honest(a, y, seed)
        return mu, s2, [(m, v, e + 1.0) for m, v, e in trace]

    assert pt.check_fitted_q(biased) is False
    assert "off the exact ELBO" in capsys.readouterr().out

    def smoothed(a, y, seed):
        mu, s2, trace = honest(a, y, seed)
        estimates = np.array([e for _, _, e in trace])
        running = np.convolve(estimates, np.ones(20) / 20)[: len(estimates)]
        return mu, s2, [(m, v, r) for (m, v, _), r in zip(trace, running, strict=True)]

    assert pt.check_fitted_q(smoothed) is False
    assert "drift smoothly" in capsys.readouterr().out

    def copied(a, y, seed):
        mu, s2, trace = honest(a, y, seed)
        return mu, s2, [(m, v, trace[-1][2]) for m, v, _ in trace]

    assert pt.check_fitted_q(copied) is False
    assert "drift smoothly" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("returned", "hint"),
    [
        (lambda: (math.nan, 0.1, [(0.0, 1.0, -30.0)] * 200), "NaN for the q you returned"),
        (lambda: (0.0, 1.0, np.zeros((20_000, 3))), "record at most 10,000 steps"),
        (lambda: (0.0, 1.0, np.zeros((200, 2))), "record one row (mu, s2, elbo_estimate)"),
        (lambda: (0.0, 1.0), "return (mu, s2, trace)"),
    ],
)
def test_a_malformed_mini_project_answer_is_told_what_to_return(returned, hint, capsys):
    result, out = verdict(pt.check_fitted_q, lambda a, y, seed: returned(), capsys)
    assert result is False
    assert out.startswith("✗") and hint in out, out


# Delegation and seeds ------------------------------------------------------------------------


def kl_by_torch(m1, S1, m2, S2):
    t = [torch.as_tensor(np.asarray(a, float)) for a in (m1, S1, m2, S2)]
    return float(kl_divergence(MultivariateNormal(t[0], t[1]), MultivariateNormal(t[2], t[3])))


def poisson_by_scipy(x, mu, s2, w):
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    x, mu, s2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, mu, s2)))
    z = mu[..., None] + np.sqrt(s2)[..., None] * nodes
    fit = np.sum(weights * stats.poisson.logpmf(x[..., None], np.exp(w * z)), -1)
    return fit / math.sqrt(2 * math.pi) - 0.5 * (mu**2 + s2 - np.log(s2) - 1)


def renyi_by_library(x, mu, s2, w, sigma2, alpha):
    model = LinearGaussian(w, sigma2)
    return renyi_bound(x, mu, s2, w, sigma2, alpha) + 0 * model.log_evidence(x)


@pytest.mark.parametrize(
    ("check", "delegating", "name"),
    [
        (pt.check_kl_full_covariance, kl_by_torch, "torch.distributions"),
        (pt.check_poisson_elbo, poisson_by_scipy, "scipy.stats"),
        (pt.check_renyi_bound, renyi_by_library, "elbo_lib"),
    ],
)
def test_delegation_is_refused(check, delegating, name, capsys):
    result, out = verdict(check, delegating, capsys)
    assert result is False
    assert "compute it yourself" in out and name in out


def recorded_inputs(check, answer, seed, monkeypatch):
    """The inputs ``check`` hands to ``answer`` under the grading seed ``seed``."""
    seen = []

    def recording(*args):
        seen.append(args)
        return answer(*args)

    monkeypatch.setattr(harness, "SEED", seed)
    check(recording)
    return seen


def _same(a, b):
    return len(a) == len(b) and all(
        len(x) == len(y)
        and all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(x, y, strict=False))
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    ("check", "answer"), [h for h in HONEST if h[0] is not pt.check_jensen_gap_prediction]
)
def test_the_inputs_change_with_the_grading_seed(check, answer, monkeypatch, capsys):
    first = recorded_inputs(check, answer, 0, monkeypatch)
    again = recorded_inputs(check, answer, 0, monkeypatch)
    other = recorded_inputs(check, answer, 1, monkeypatch)
    assert _same(first, again)
    assert not _same(first, other)


def test_a_table_of_answers_for_one_seed_fails_under_another(monkeypatch, capsys):
    """Answers recorded under seed 0, replayed by matching the inputs, pass under seed 0 only."""
    table = {}

    def key(args):
        return repr([np.round(np.asarray(a, float), 12).tolist() for a in args])

    def recording(*args):
        table[key(args)] = kl_full_covariance(*args)
        return table[key(args)]

    monkeypatch.setattr(harness, "SEED", 0)
    pt.check_kl_full_covariance(recording)

    def replay(*args):
        return table.get(key(args), 0.0)

    assert pt.check_kl_full_covariance(replay) is True
    monkeypatch.setattr(harness, "SEED", 1)
    assert pt.check_kl_full_covariance(replay) is False
    capsys.readouterr()


def test_the_prediction_is_measured_not_quoted(capsys, monkeypatch):
    """The check's measurement moves with its seed but stays within 5 % of the second-order
    prediction at K = 100 and within 20 % at K = 10 (the third-order term is negative)."""
    for seed in (0, 3):
        rng = harness.input_rng(seed)
        k10, k100 = pt._jensen_gap(10, 400_000, rng), pt._jensen_gap(100, 100_000, rng)
        assert abs(k100 / ((math.e - 1) / 200) - 1) < 0.12
        assert 0.80 < k10 / ((math.e - 1) / 20) < 0.95


def test_the_references_agree_with_the_closed_forms():
    """The checks' quadratures against the honest closed forms at points outside the checks."""
    assert (
        abs(
            pt._renyi_reference(0.3, -0.2, 0.4, 0.8, 1.5, 0.7)
            - renyi_bound(0.3, -0.2, 0.4, 0.8, 1.5, 0.7)
        )
        < 1e-8
    )
    assert (
        abs(pt._prob_above(1.1, 0.2, 0.3, 1.2, 0.6) - prob_above_evidence(1.1, 0.2, 0.3, 1.2, 0.6))
        < 1e-4
    )
    got = pt._poisson_reference(
        np.array([2.0, 5.0]), np.array([0.1, 1.0]), np.array([0.2, 0.7]), 0.9
    )
    assert np.allclose(
        got,
        poisson_elbo(np.array([2.0, 5.0]), np.array([0.1, 1.0]), np.array([0.2, 0.7]), 0.9),
        rtol=1e-9,
    )


# The notebook ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "instructors" / "18_problems_theory_solutions.ipynb"
STUDENT = ROOT / "notebooks" / "18_problems_theory.ipynb"
CODE_EXERCISES = 6


@settings(max_examples=25, deadline=None)
@given(
    x=st.floats(-3, 3),
    mu=st.floats(-1.5, 1.5),
    s2=st.floats(0.2, 2.0),
    w=st.floats(0.3, 2.0),
    sigma2=st.floats(0.2, 2.0),
)
def test_the_references_keep_the_papers_properties(x, mu, s2, w, sigma2):
    """The Rényi reference is log p(x) at α = 0, non-increasing in α and the ELBO at α = 1 (Li &
    Turner's Theorem 1); the grid probability of a draw above log p(x) is that of the closed
    form, and 0 < it < 1 away from the posterior."""
    model = LinearGaussian(w, sigma2)
    bounds = [pt._renyi_reference(x, mu, s2, w, sigma2, a) for a in (0.0, 0.3, 0.7, 1.0)]
    assert abs(bounds[0] - float(model.log_evidence(x))) < 1e-7
    assert abs(bounds[-1] - float(model.elbo(x, mu, s2))) < 1e-12
    assert all(b >= c - 1e-9 for b, c in itertools.pairwise(bounds))
    above = pt._prob_above(x, mu, s2, w, sigma2)
    assert abs(above - prob_above_evidence(x, mu, s2, w, sigma2)) < 2e-4
    m, v = posterior(x, w, sigma2)
    if abs(s2 - v) + abs(mu - m) > 0.05:
        assert 0.0 < above < 1.0


def test_the_grader_passes_the_solutions_and_fails_the_stubs_and_a_delegation(tmp_path):
    """tools/grade.py, its workers and the seed it draws: the solution version passes every
    exercise, the student version none, and a submission whose KL hands the work to
    torch.distributions (in a new cell, the stub left in place) fails that exercise only."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("grade", ROOT / "tools" / "grade.py")
    grade = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grade)
    folder = tmp_path / "submissions"
    folder.mkdir()
    solution = nbformat.read(SOLUTION, as_version=4)
    nbformat.write(solution, folder / "solution.ipynb")
    nbformat.write(nbformat.read(STUDENT, as_version=4), folder / "student.ipynb")
    delegating = nbformat.read(SOLUTION, as_version=4)
    source = (
        "import torch\nfrom torch.distributions import MultivariateNormal, kl_divergence\n\n\n"
        "def kl_full_covariance(m1, S1, m2, S2):\n"
        "    t = [torch.as_tensor(np.asarray(a, float)) for a in (m1, S1, m2, S2)]\n"
        "    p, q = MultivariateNormal(t[0], t[1]), MultivariateNormal(t[2], t[3])\n"
        "    return float(kl_divergence(p, q))"
    )
    delegating.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(delegating, folder / "delegating.ipynb")
    out = tmp_path / "grades.csv"
    grade.main([str(folder), "--solution", str(SOLUTION), "--out", str(out)])
    with out.open() as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    exercises = [k for k in rows["solution.ipynb"] if k.startswith("theory_")]
    assert len(exercises) == CODE_EXERCISES
    assert [rows["solution.ipynb"][e] for e in exercises] == ["pass"] * CODE_EXERCISES
    assert [rows["student.ipynb"][e] for e in exercises] == ["fail"] * CODE_EXERCISES
    assert [rows["delegating.ipynb"][e] for e in exercises] == ["fail"] + ["pass"] * 5

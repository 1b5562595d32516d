r"""Checks for the exercises of notebook 18, the problem set on the theory (lectures 01–05).

Each ``check_<exercise>(your_function)`` calls your function on inputs drawn when it runs (from
:data:`elbo_lib.harness.SEED`, which the grader replaces) and on hand-picked edge cases, and
compares the result with an independent reference: ``torch.distributions``, Gauss–Hermite or grid
quadrature, a numerical optimum, or a measurement the check makes itself. It never raises and
prints one verdict (``…``, ``✗`` with a hint per common mistake, or ``✓``), as the checks of
notebook 17 do (:mod:`elbo_lib.harness`).
"""

import math

import numpy as np
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy import optimize, stats
from scipy.special import expit, gammaln, log_expit, logsumexp
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from elbo_lib.harness import (
    Wrong,
    call,
    compare,
    exercise,
    finite,
    in_key,
    input_rng,
    numbers,
)
from elbo_lib.linear_gaussian import LinearGaussian

_NODES, _WEIGHTS = hermegauss(80)  # E over N(0, 1) of f(ε) ≈ Σ w_i f(ε_i) / √(2π)
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)


def _gaussian_expectation(f, mu, s2):
    """:math:`\\mathbb E_{z \\sim \\mathcal N(\\mu, s^2)} f(z)` by 80-node Gauss–Hermite quadrature,
    elementwise over broadcast ``mu`` and ``s2``."""
    mu, s2 = np.asarray(mu, float)[..., None], np.asarray(s2, float)[..., None]
    return np.sum(_WEIGHTS * f(mu + np.sqrt(s2) * _NODES), axis=-1)


def _kl_to_prior(mu, s2):
    """KL(N(μ, s²) ‖ N(0, 1)) by torch.distributions."""
    mu, s2 = torch.as_tensor(mu, dtype=torch.float64), torch.as_tensor(s2, dtype=torch.float64)
    return kl_divergence(Normal(mu, s2.sqrt()), Normal(0.0, 1.0)).numpy()


# Exercise 1 · the KL between two full-covariance Gaussians ---------------------------------------


def _spd(rng, d, spread=1.0):
    """A random symmetric positive-definite d × d matrix, eigenvalues between e^-spread and
    e^spread."""
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return basis @ np.diag(np.exp(rng.uniform(-spread, spread, d))) @ basis.T


def _kl_mvn(m1, s1, m2, s2):
    """KL(N(m1, S1) ‖ N(m2, S2)) by torch.distributions."""
    t = [torch.as_tensor(np.asarray(a, float)) for a in (m1, s1, m2, s2)]
    return float(kl_divergence(MultivariateNormal(t[0], t[1]), MultivariateNormal(t[2], t[3])))


def _kl_parts(m1, s1, m2, s2):
    """The four terms of the Gaussian KL, for the planted mistakes: tr(S2⁻¹S1), the Mahalanobis
    term, log det S2 − log det S1, and d."""
    diff, inv2 = m2 - m1, np.linalg.inv(s2)
    logdet = np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1]
    return np.trace(inv2 @ s1), diff @ inv2 @ diff, logdet, len(m1)


@exercise("Exercise 1, kl_full_covariance")
def check_kl_full_covariance(kl_full_covariance):
    r"""``kl_full_covariance(m1, S1, m2, S2)``: :math:`\mathrm{KL}(\mathcal N(m_1, S_1)\,\|\,
    \mathcal N(m_2, S_2))` for full covariances in any dimension, against
    ``torch.distributions.kl_divergence`` at symmetric positive-definite matrices drawn when it
    runs."""
    rng = input_rng(101)
    d3, d5 = rng.normal(size=3), rng.normal(size=5)
    cases = [
        (
            "d = 2, m1 = (1, -0.5), S1 = [[2, 0.6], [0.6, 0.5]], m2 = (0, 0.3), "
            "S2 = [[1, -0.4], [-0.4, 0.9]]",
            np.array([1.0, -0.5]),
            np.array([[2.0, 0.6], [0.6, 0.5]]),
            np.array([0.0, 0.3]),
            np.array([[1.0, -0.4], [-0.4, 0.9]]),
        ),
        ("d = 1, N(0.5, 3) against N(-1, 0.25)", [0.5], [[3.0]], [-1.0], [[0.25]]),
        ("two equal Gaussians in d = 3", d3, _spd(rng, 3), d3, None),
        ("d = 3, drawn at random", d3, _spd(rng, 3), rng.normal(size=3), _spd(rng, 3)),
        ("d = 5, drawn at random", d5, _spd(rng, 5, 2.0), rng.normal(size=5), _spd(rng, 5, 2.0)),
    ]
    for case, m1, s1, m2, s2 in cases:
        m1, s1, m2 = np.asarray(m1, float), np.asarray(s1, float), np.asarray(m2, float)
        s2 = s1.copy() if s2 is None else np.asarray(s2, float)
        kl = _kl_mvn(m1, s1, m2, s2)
        trace, mahalanobis, logdet, d = _kl_parts(m1, s1, m2, s2)
        inv1 = np.linalg.inv(s1)
        diff = m2 - m1
        compare(
            call(kl_full_covariance, m1, s1, m2, s2),
            kl,
            case,
            mistakes=[
                (2 * kl, "twice too large: the Gaussian KL has a ½ in front"),
                (
                    _kl_mvn(m2, s2, m1, s1),
                    "that is KL(N(m2, S2) ‖ N(m1, S1)), the other direction: the expectation is "
                    "under the first Gaussian, so the inverse is that of S2",
                ),
                (
                    0.5 * (np.trace(inv1 @ s2) + mahalanobis - d + logdet),
                    "the trace term is tr(S2⁻¹ S1), the expectation under N(m1, S1) of "
                    "(z − m2)ᵀ S2⁻¹ (z − m2) less its mean part, not tr(S1⁻¹ S2)",
                ),
                (
                    0.5 * (trace + mahalanobis - d - logdet),
                    "the log-determinants have the wrong sign: the KL has + ½ log det S2 − "
                    "½ log det S1 (for S1 = S2/2 in d = 1 it is ½(½ − 1 + log 2) > 0)",
                ),
                (
                    0.5 * (trace + diff @ inv1 @ diff - d + logdet),
                    "the mean term is (m2 − m1)ᵀ S2⁻¹ (m2 − m1): the second Gaussian's precision",
                ),
                (
                    0.5 * (trace + mahalanobis + logdet),
                    "the − d is missing: E[(z − m1)ᵀ S1⁻¹ (z − m1)] = d comes from −log q",
                ),
            ],
            shapes={(len(m1),): "return one number: the KL sums over the dimensions"},
            nonfinite="the KL of two Gaussians with positive-definite covariances is finite: "
            "use slogdet and solve, not det and inv of an ill-conditioned matrix",
            rtol=1e-6,
            atol=1e-8,
        )
    return (
        "It matches torch.distributions.kl_divergence in 1, 2, 3 and 5 dimensions: "
        "½[tr(S2⁻¹S1) + (m2 − m1)ᵀS2⁻¹(m2 − m1) − d + log det S2 − log det S1]."
    )


# Exercise 2 · the ELBO of a Poisson model in closed form -----------------------------------------


def _poisson_reference(x, mu, s2, w):
    """The ELBO of q = N(μ, s²) for p(z) = N(0, 1), p(x | z) = Poisson(x; e^{wz}):
    Gauss–Hermite quadrature of scipy's log-pmf, minus torch's KL."""
    x, mu, s2, w = np.broadcast_arrays(*(np.asarray(a, float) for a in (x, mu, s2, w)))
    fit = np.array(
        [
            _gaussian_expectation(
                lambda z, xi=xi, wi=wi: stats.poisson.logpmf(xi, np.exp(wi * z)), m, v
            )
            for xi, m, v, wi in zip(x.ravel(), mu.ravel(), s2.ravel(), w.ravel(), strict=True)
        ]
    ).reshape(x.shape)
    return fit - _kl_to_prior(mu, s2)


@exercise("Exercise 2, poisson_elbo")
def check_poisson_elbo(poisson_elbo):
    r"""``poisson_elbo(x, mu, s2, w)``: the ELBO of :math:`q = \mathcal N(\mu, s^2)` for
    :math:`p(z) = \mathcal N(0, 1)`, :math:`p(x \mid z) = \mathrm{Poisson}(x; e^{wz})`, in closed
    form, against Gauss–Hermite quadrature of ``scipy.stats.poisson.logpmf`` minus
    ``torch.distributions``' KL."""
    rng = input_rng(102)
    cases = [
        ("x = 3, q = N(0.8, 0.3), w = 1", 3.0, 0.8, 0.3, 1.0),
        (
            "x = (0, 1, 7), q = N((−1, 0, 1.5), (1, 0.05, 0.5)), w = 1.2",
            np.array([0.0, 1.0, 7.0]),
            np.array([-1.0, 0.0, 1.5]),
            np.array([1.0, 0.05, 0.5]),
            1.2,
        ),
        (
            "x, q and w drawn at random",
            rng.integers(0, 12, 5).astype(float),
            rng.normal(0.5, 0.7, 5),
            rng.uniform(0.05, 1.0, 5),
            float(rng.uniform(0.5, 1.5)),
        ),
        ("x = 40, a tiny q = N(3.6, 1e-8), w = 1", 40.0, 3.6, 1e-8, 1.0),
    ]
    for case, x, mu, s2, w in cases:
        elbo = _poisson_reference(x, mu, s2, w)
        kl = _kl_to_prior(mu, s2)
        x_, mu_, s2_ = (np.asarray(a, float) for a in (x, mu, s2))
        log_factorial = gammaln(x_ + 1)
        rate = np.exp(w * mu_ + w**2 * s2_ / 2)
        closed = x_ * w * mu_ - rate - log_factorial
        compare(
            call(poisson_elbo, x, mu, s2, w),
            elbo,
            case,
            mistakes=[
                (
                    x_ * w * mu_ - np.exp(w * mu_) - log_factorial - kl,
                    "you replaced E_q[e^{wz}] by e^{wμ}: Jensen says the average of e^{wz} is "
                    "larger. For z ~ N(μ, s²) it is the log-normal mean e^{wμ + w²s²/2}",
                ),
                (
                    x_ * w * mu_ - np.exp(w * mu_ + w * s2_ / 2) - log_factorial - kl,
                    "the log-normal mean of e^{wz} is e^{wμ + w²s²/2}: wz has variance w²s²",
                ),
                (closed - kl + log_factorial, "log x! is missing: Poisson(x; λ) = λˣ e^{−λ} / x!"),
                (closed + kl, "wrong sign on the KL: ELBO = E_q[log p(x|z)] − KL(q ‖ p(z))"),
                (
                    _poisson_reference(x, mu, s2_**2, w),
                    "s2 is the variance of q, not its standard deviation",
                ),
            ],
            shapes={(): "one ELBO per x: the formula broadcasts over the arrays"},
            nonfinite="the ELBO is finite for every x ≥ 0 and s2 > 0: log x! is gammaln(x + 1)",
            rtol=1e-7,
            atol=1e-8,
        )
    return (
        "It matches quadrature: ELBO = xwμ − e^{wμ + w²s²/2} − log x! − ½(μ² + s² − log s² − 1); "
        "the spread of q costs e^{wμ}(e^{w²s²/2} − 1) of expected rate, Jensen's gap in the rate."
    )


# Exercise 3 · how often one draw beats the evidence ---------------------------------------------

_ZGRID = np.linspace(-1.0, 1.0, 400001)  # scaled to ±12 standard deviations of q in each case


def _prob_above(x, mu, s2, w, sigma2, compared="evidence"):
    """:math:`P_{z \\sim q}[\\log p(x, z) - \\log q(z) > \\text{level}]` on a grid of 400,001
    points over ±12 standard deviations of q; the level is log p(x) (or, for the planted
    mistakes, the ELBO; or the prior in place of the posterior)."""
    model = LinearGaussian(w, sigma2)
    z = mu + 12 * math.sqrt(s2) * _ZGRID
    log_q = stats.norm.logpdf(z, mu, math.sqrt(s2))
    if compared == "prior":
        above = stats.norm.logpdf(z) - log_q > 1e-12
    else:
        level = model.log_evidence(x) if compared == "evidence" else model.elbo(x, mu, s2)
        above = model.log_joint(x, z) - log_q - level > 1e-12
    return float(np.sum(np.exp(log_q) * above) * (z[1] - z[0]))


@exercise("Exercise 3, prob_above_evidence")
def check_prob_above_evidence(prob_above_evidence):
    r"""``prob_above_evidence(x, mu, s2, w, sigma2)``: the probability under
    :math:`q = \mathcal N(\mu, s^2)` that one log-weight :math:`\log p(x, z) - \log q(z)` exceeds
    :math:`\log p(x)`, in the model :math:`p(z) = \mathcal N(0, 1)`,
    :math:`p(x \mid z) = \mathcal N(wz, \sigma^2)`; against a fine grid of z."""
    rng = input_rng(103)
    model = LinearGaussian(1.5, 0.5)
    post_mean, post_var = model.posterior(0.9)
    cases = [
        ("x = 0.9, q = N(0, 1) (the prior), w = 1.5, σ² = 0.5", 0.9, 0.0, 1.0, 1.5, 0.5),
        (
            "x = 2, q = N(0.5, 0.1) narrower than the posterior, w = 1, σ² = 1",
            2.0,
            0.5,
            0.1,
            1.0,
            1.0,
        ),
        (
            "q with the posterior's variance, its mean shifted by 0.3; x = 0.9, w = 1.5, σ² = 0.5",
            0.9,
            float(post_mean) + 0.3,
            float(post_var),
            1.5,
            0.5,
        ),
        (
            "q equal to the posterior, x = 0.9, w = 1.5, σ² = 0.5",
            0.9,
            float(post_mean),
            float(post_var),
            1.5,
            0.5,
        ),
        (
            "x, q, w and σ² drawn at random",
            float(rng.normal(0, 2)),
            float(rng.normal()),
            float(rng.uniform(0.05, 2.0)),
            float(rng.uniform(0.5, 2.0)),
            float(rng.uniform(0.2, 2.0)),
        ),
    ]
    for case, x, mu, s2, w, sigma2 in cases:
        expected = _prob_above(x, mu, s2, w, sigma2)
        got = finite(
            call(prob_above_evidence, x, mu, s2, w, sigma2), case, "a probability is finite"
        )
        if got.shape != ():
            raise Wrong(f"for {case} you returned shape {got.shape}: return one probability.")
        if not 0.0 <= float(got) <= 1.0:
            raise Wrong(f"for {case} you returned {float(got):.4f}: a probability lies in [0, 1].")
        compare(
            got,
            expected,
            case,
            mistakes=[
                (
                    1 - expected,
                    "that is the probability of falling below log p(x): the draw beats the "
                    "evidence where log p(z|x) − log q(z) > 0",
                ),
                (
                    _prob_above(x, mu, s2, w, sigma2, "elbo"),
                    "you compared the draw with the ELBO, its own mean: the question is how "
                    "often one log-weight exceeds log p(x), which the ELBO lies below",
                ),
                (
                    _prob_above(x, mu, s2, w, sigma2, "prior"),
                    "log r(z) − log p(x) = log p(z|x) − log q(z): compare q with the posterior "
                    "N(wx/(w² + σ²), σ²/(w² + σ²)), not with the prior",
                ),
            ],
            nonfinite="when s² equals the posterior variance the quadratic in z becomes linear "
            "(or constant): treat that case apart instead of dividing by zero",
            rtol=0.0,
            atol=2e-4,
        )
    return (
        "The ELBO ≤ log p(x) holds for the average only: one draw exceeds log p(x) wherever "
        "q(z) < p(z|x), a set of positive q-probability for every q other than the posterior, "
        "and of probability 0 at the posterior, where every draw equals log p(x)."
    )


# Exercise 4 · the variational Rényi bound (Li & Turner 2016) ------------------------------------

_RGRID = np.linspace(-40.0, 40.0, 800001)


def _renyi_reference(x, mu, s2, w, sigma2, alpha):
    r""":math:`\mathcal L_\alpha = \frac1{1-\alpha}\log\int q(z)^\alpha p(x, z)^{1-\alpha}\,dz` by
    the trapezoid rule on a grid of 800,001 points over [−40, 40]; the ELBO at α = 1."""
    model = LinearGaussian(w, sigma2)
    if alpha == 1:
        return float(model.elbo(x, mu, s2))
    log_q = stats.norm.logpdf(_RGRID, mu, math.sqrt(s2))
    terms = alpha * log_q + (1 - alpha) * model.log_joint(x, _RGRID)
    return float((logsumexp(terms) + math.log(_RGRID[1] - _RGRID[0])) / (1 - alpha))


@exercise("Exercise 4, renyi_bound")
def check_renyi_bound(renyi_bound):
    r"""``renyi_bound(x, mu, s2, w, sigma2, alpha)``: the variational Rényi bound
    :math:`\mathcal L_\alpha` of Li & Turner (2016) for :math:`q = \mathcal N(\mu, s^2)` in the
    linear-Gaussian model, against grid quadrature of its definition, ``LinearGaussian.elbo`` at
    α = 1 and ``LinearGaussian.log_evidence`` at α = 0."""
    rng = input_rng(104)
    drawn = (
        float(rng.normal(0, 1.5)),
        float(rng.normal()),
        float(rng.uniform(0.3, 1.5)),
        float(rng.uniform(0.5, 2.0)),
        float(rng.uniform(0.3, 2.0)),
    )
    cases = [
        ("x = 1.2, q = N(0.2, 0.6), w = 1.3, σ² = 0.7, α = 0.5", 1.2, 0.2, 0.6, 1.3, 0.7, 0.5),
        ("x = −2, q = N(0, 1), w = 2, σ² = 0.4, α = 0.25", -2.0, 0.0, 1.0, 2.0, 0.4, 0.25),
        ("α = 0: x = 1.2, q = N(0.2, 0.6), w = 1.3, σ² = 0.7", 1.2, 0.2, 0.6, 1.3, 0.7, 0.0),
        ("α = 1: x = 1.2, q = N(0.2, 0.6), w = 1.3, σ² = 0.7", 1.2, 0.2, 0.6, 1.3, 0.7, 1.0),
        (
            "α = −0.5 (above log p(x)): x = 0.5, q = N(0.6, 0.9), w = 1, σ² = 1",
            0.5,
            0.6,
            0.9,
            1.0,
            1.0,
            -0.5,
        ),
        ("x, q, w, σ² and α drawn at random", *drawn, float(rng.uniform(0.05, 0.95))),
    ]
    for case, x, mu, s2, w, sigma2, alpha in cases:
        model = LinearGaussian(w, sigma2)
        log_px, elbo = float(model.log_evidence(x)), float(model.elbo(x, mu, s2))
        bound = _renyi_reference(x, mu, s2, w, sigma2, alpha)
        swapped = None if alpha == 0 else _renyi_reference(x, mu, s2, w, sigma2, 1 - alpha)
        got = finite(
            call(renyi_bound, x, mu, s2, w, sigma2, alpha),
            case,
            "at α = 1 take the limit (the ELBO), at α = 0 the bound is log p(x)",
        )
        compare(
            got,
            bound,
            case,
            mistakes=[
                (
                    None if alpha in (0, 1) else elbo,
                    "that is the ELBO, L_1: for α ≠ 1 the bound is "
                    "1/(1 − α) · log E_q[(p(x, z)/q(z))^(1 − α)]",
                ),
                (
                    (1 - alpha) * bound,
                    "the factor 1/(1 − α) is missing in front of the log",
                ),
                (
                    swapped,
                    "you swapped α and 1 − α: the weight p(x, z)/q(z) is raised to 1 − α, so "
                    "α → 1 gives the ELBO and α = 0 gives log p(x)",
                ),
                (
                    2 * log_px - bound,
                    "wrong sign on the Rényi divergence: L_α = log p(x) − D_α(q ‖ p(z|x))",
                ),
            ],
            shapes={(1,): "return one number"},
            nonfinite="the bound is finite here",
            rtol=1e-6,
            atol=1e-7,
        )
    return (
        "It matches quadrature of Li & Turner's definition, equals log p(x) at α = 0 and the ELBO "
        "at α = 1, and lies above log p(x) for α < 0: L_α = log p(x) − D_α(q ‖ p(z|x))."
    )


# Exercise 5 · predict the bias of the log of an average -----------------------------------------

JENSEN_TAU = 1.0  # the spread of the log-weights, nats
JENSEN_KS = (10, 100)  # the number K of weights averaged before the log
PREDICTION_TOLERANCE = 0.30  # a prediction within 30 % of the measured gap counts as right


def _jensen_gap(k, repeats, rng, chunk=10**6):
    r"""The measured :math:`\log\mathbb E[Y] - \mathbb E\log(\frac1K\sum_k Y_k)` for
    :math:`Y = e^{-\tau^2/2 + \tau\varepsilon}`, over ``repeats`` averages of K draws."""
    rows, total = max(1, chunk // k), 0.0
    done = 0
    while done < repeats:
        n = min(rows, repeats - done)
        y = np.exp(-(JENSEN_TAU**2) / 2 + JENSEN_TAU * rng.standard_normal((n, k)))
        total += float(-np.log(y.mean(axis=1)).sum())
        done += n
    return total / repeats


@exercise("Exercise 5, predict the gap of a K-sample average")
def check_jensen_gap_prediction(predicted_gaps):
    r"""``predicted_gaps() -> (gap at K = 10, gap at K = 100)``: the student's prediction of
    :math:`\log\mathbb E[Y] - \mathbb E[\log \frac1K\sum_k Y_k]` for log-normal Y with
    :math:`\tau = 1`; the check measures both (400,000 and 100,000 averages) and passes each
    prediction within 30 %."""
    out = call(predicted_gaps)
    if isinstance(out, np.ndarray) and out.shape == (2,):
        out = list(out)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise Wrong(
            f"you returned a {type(out).__name__}: return a pair (gap at K=10, gap at K=100)."
        )
    predicted = [float(numbers(v).reshape(-1)[0]) for v in out]
    rng = input_rng(105)
    measured = in_key([_jensen_gap(10, 400_000, rng), _jensen_gap(100, 100_000, rng)])
    told = "; ".join(
        f"K = {k}: you predicted {p:.4f}, measured {m:.4f} nats"
        for k, p, m in zip(JENSEN_KS, predicted, measured, strict=True)
    )
    if not all(np.isfinite(predicted)):
        raise Wrong(f"{told}: predict finite numbers.")
    if all(
        abs(p / m - 1) <= PREDICTION_TOLERANCE for p, m in zip(predicted, measured, strict=True)
    ):
        return f"{told}. The gap falls like Var(Y)/(2K) = (e^{{τ²}} − 1)/(2K)."
    if any(abs(p - JENSEN_TAU**2 / 2) < 0.05 for p in predicted):
        raise Wrong(
            f"{told}. τ²/2 = 0.5 is the gap of one draw (K = 1, notebook 01); averaging K draws "
            "first makes the average less spread, so the log bends it less"
        )
    if predicted[1] > 0 and 2.5 < predicted[0] / predicted[1] < 4:
        raise Wrong(
            f"{told}. The gap falls like 1/K, not 1/√K: expand log around E[Y] = 1 to second "
            "order, −E[log Ȳ] ≈ Var(Ȳ)/2 = Var(Y)/(2K)"
        )
    raise Wrong(
        f"{told}. Expand log Ȳ to second order around E[Y] = 1: the gap is about Var(Ȳ)/2, "
        "and Var(Ȳ) = Var(Y)/K with Var(Y) = e^{τ²} − 1 for this log-normal"
    )


# Exercise 6 · the mini-project: stochastic ascent on a non-conjugate ELBO ------------------------

PROJECT_POINTS = 40  # observations of the logistic model
PROJECT_TOLERANCE = 0.01  # nats the fitted q may lie below the best Gaussian's ELBO
PROJECT_MIN_STEPS = 100  # recorded steps of the ascent, at least
PROJECT_MAX_STEPS = 10_000  # and at most
PROJECT_MAX_STEP = 0.5  # largest move of μ or log s² in one recorded step
PROJECT_MAX_LAG1 = 0.5  # the lag-1 correlation of the estimates' errors (0 for fresh samples)
PROJECT_TIME_LIMIT = 60.0  # seconds of training (the solution takes under 1 s on an idle CPU)


def _logistic_data(rng):
    """Features a ~ N(0, 1.5²) and labels y = ±1 drawn from p(y | z) = sigmoid(y a z) at a true z
    drawn from the prior."""
    a = 1.5 * rng.standard_normal(PROJECT_POINTS)
    z = float(rng.standard_normal())
    y = np.where(rng.uniform(size=PROJECT_POINTS) < expit(a * z), 1.0, -1.0)
    return a, y


def _logistic_elbo(a, y, mu, s2):
    """The exact ELBO of q = N(μ, s²) for p(z) = N(0, 1), p(y | z) = Π sigmoid(y_n a_n z), by
    Gauss–Hermite quadrature of the log-likelihood and torch's KL; broadcast over μ and s²."""

    def log_lik(z):
        return np.sum(log_expit(y * a * z[..., None]), axis=-1)

    return _gaussian_expectation(log_lik, mu, s2) - _kl_to_prior(mu, s2)


def _best_gaussian(a, y):
    """The Gaussian q of highest ELBO, by Nelder–Mead on (μ, log s²) from the Laplace fit."""
    res = optimize.minimize(
        lambda p: -float(_logistic_elbo(a, y, p[0], math.exp(p[1]))),
        x0=[0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-11, "maxiter": 4000},
    )
    return res.x[0], math.exp(res.x[1]), -res.fun


def _log_evidence(a, y):
    """log p(y) by the trapezoid rule on a grid of z."""
    z = np.linspace(-12, 12, 24001)
    terms = stats.norm.logpdf(z) + np.sum(log_expit(y * a * z[:, None]), axis=-1)
    return float(logsumexp(terms) + math.log(z[1] - z[0]))


def _trace(out):
    """The answer's (mu, s2, trace) with trace an array of rows (μ_t, s²_t, ELBO estimate_t)."""
    if not (isinstance(out, tuple | list) and len(out) == 3):
        raise Wrong(
            f"you returned a {type(out).__name__}: return (mu, s2, trace), the trace a list of "
            "(mu, s2, elbo_estimate) per step"
        )
    mu, s2 = (
        float(finite(v, "the q you returned", "return finite numbers").reshape(-1)[0])
        for v in out[:2]
    )
    trace = finite(out[2], "the trace", "every recorded step must be finite")
    if trace.ndim != 2 or trace.shape[1] != 3:
        raise Wrong(
            f"your trace has shape {trace.shape}: record one row (mu, s2, elbo_estimate) per step"
        )
    if trace.shape[0] > PROJECT_MAX_STEPS:
        raise Wrong(
            f"your trace has {trace.shape[0]} rows: record at most {PROJECT_MAX_STEPS:,} steps"
        )
    return mu, s2, trace


@exercise("Exercise 6, the mini-project")
def check_fitted_q(fit_q):
    r"""``fit_q(a, y, seed) -> (mu, s2, trace)``: q = N(μ, s²) fitted within 20 s by the
    student's own stochastic gradient ascent on the ELBO of a one-weight logistic regression with
    a N(0, 1) prior, on data drawn when it runs. Passes when the exact ELBO of the returned q is
    within 0.01 nats of the best Gaussian's (Nelder–Mead on Gauss–Hermite quadrature), and the
    recorded trace shows an ascent: it starts at the prior, has ≥ 100 steps, moves at most 0.5
    in μ or log s² per step, ends at the returned q, and its ELBO estimates are unbiased for the
    exact ELBO at the recorded q's (within five standard errors) and independent from step to
    step (lag-1 correlation of their errors at most 0.5), as fresh Monte Carlo estimates are."""
    rng = input_rng(106)
    a, y = _logistic_data(rng)
    seed = int(rng.integers(2**31))
    mu, s2, trace = _trace(call(fit_q, a, y, seed, limit=PROJECT_TIME_LIMIT))
    if not s2 > 0:
        raise Wrong(f"your s2 = {s2:.4g}: a variance is positive (step in log s² to keep it so).")
    best_mu, best_s2, best = in_key(_best_gaussian(a, y))
    prior, log_py = float(_logistic_elbo(a, y, 0.0, 1.0)), _log_evidence(a, y)
    got = float(_logistic_elbo(a, y, mu, s2))
    told = (
        f"your q = N({mu:.3f}, {s2:.4f}) has ELBO {got:.3f} nats; the best Gaussian, "
        f"N({best_mu:.3f}, {best_s2:.4f}), {best:.3f}; the prior as q, {prior:.3f}"
    )
    if trace.shape[0] < PROJECT_MIN_STEPS:
        raise Wrong(
            f"your trace records {trace.shape[0]} steps: record every step of the ascent "
            f"(at least {PROJECT_MIN_STEPS})"
        )
    if not (np.allclose(trace[0, :2], [0.0, 1.0], atol=1e-9)):
        raise Wrong(
            f"your trace starts at q = N({trace[0, 0]:.3f}, {trace[0, 1]:.3f}): start the ascent "
            "at the prior, N(0, 1), and record that start"
        )
    if np.any(trace[:, 1] <= 0):
        raise Wrong("your trace holds a variance ≤ 0: step in log s² to keep s² positive.")
    if not np.allclose(trace[-1, :2], [mu, s2], rtol=1e-9, atol=1e-12):
        raise Wrong(
            "the last row of your trace is not the q you returned: record the final q as well."
        )
    moves = np.abs(np.diff(np.column_stack([trace[:, 0], np.log(trace[:, 1])]), axis=0))
    if moves.max() > PROJECT_MAX_STEP:
        raise Wrong(
            f"one step moved μ or log s² by {moves.max():.2f}: an ascent takes steps of at most "
            f"{PROJECT_MAX_STEP} (lower the learning rate), it does not jump to an answer"
        )
    exact = _logistic_elbo(a, y, trace[:, 0], trace[:, 1])
    residual = trace[:, 2] - exact
    if residual.std() < 1e-6:  # a Monte Carlo estimate errs by far more than a quadrature
        raise Wrong(
            "your recorded ELBO estimates equal the exact ELBO: record the Monte Carlo estimate "
            "from the samples each step drew"
        )
    centred = residual - residual.mean()
    lag1 = float(centred[1:] @ centred[:-1] / (centred @ centred))
    if lag1 > PROJECT_MAX_LAG1:
        raise Wrong(
            f"your recorded ELBO estimates drift smoothly along the trace (lag-1 correlation of "
            f"their errors {lag1:.2f}): record each step's own Monte Carlo estimate, from fresh "
            "samples, not a running average or a quadrature"
        )
    error = residual.std(ddof=1) / math.sqrt(len(residual))
    if abs(residual.mean()) > 5 * error + 1e-9:
        raise Wrong(
            f"your recorded ELBO estimates average {residual.mean():+.3f} nats off the exact "
            f"ELBO at the recorded q's (±{error:.3f}): record the average of "
            "log p(y | z_s) + log p(z_s) − log q(z_s) over the samples z_s of that step"
        )
    if got < best - PROJECT_TOLERANCE:
        raise Wrong(
            f"{told}: get within {PROJECT_TOLERANCE} nats of the best. Decay the learning rate "
            "or average the last iterates: a constant step leaves q jittering around the optimum"
        )
    return (
        f"{told}, and log p(y) = {log_py:.3f}. Your ascent gained {got - prior:.2f} nats over the "
        f"prior; the {log_py - best:.3f} nats left are KL(q ‖ p(z|y)): the posterior is not "
        "Gaussian."
    )


ALLOWED_CALLS = frozenset()  # no answer may call elbo_lib

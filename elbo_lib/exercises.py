r"""Checks for the exercises of notebook 17.

``check_<exercise>(your_function)`` calls your function on inputs it has not seen, edge cases
included, and compares the result with an independent answer (``elbo_lib``'s own, a numerical
optimum, or exact moments). It never raises, so a half-done notebook still runs top to bottom,
and it prints one verdict:

* ``… not done yet``: the function still raises ``NotImplementedError`` (or returns ``...``);
* ``✗ …``: what is off and what to try; each common mistake (a missing ½, a flipped sign, a
  variance where a log-variance belongs, …) has its own hint;
* ``✓ … correct!``.

Each call of your function is guarded (``elbo_lib.harness``): it gets copies of its inputs, a
time limit, and may not hand the asked-for quantity to ``elbo_lib``, ``torch.distributions`` or
``scipy.stats``; an answer that loops, exits, returns a string, a complex or a boolean, or NaN,
is told so. A Monte
Carlo answer must change with its random generator and be unbiased within its standard error.
"""

import copy
import functools
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import optimize, stats
from torch.distributions import Normal
from torch.nn import functional as F

from elbo_lib._torch import torch_threads
from elbo_lib.bounds import iwae_bound
from elbo_lib.data import load_digits
from elbo_lib.densities import log_normal
from elbo_lib.diagnostics import active_units, evaluate_elbo, log_aggregate_posterior
from elbo_lib.divergences import fit_gaussian, mixture_log_density, reverse_kl
from elbo_lib.harness import (
    NOT_DONE,
    NotDone,
    Wrong,
    call,
    close,
    compare,
    exercise,
    finite,
    in_key,
    input_generator,
    input_rng,
    monte_carlo,
    numbers,
    or_none,
    pair,
    reduction_hints,
    say,
    show,
)
from elbo_lib.kl import kl_normal, kl_to_standard_normal
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.schedules import linear_warmup
from elbo_lib.vae import VAE, bernoulli_log_likelihood, negative_elbo

PIXELS, LATENTS = 64, 8  # the shapes of the VAE-loss exercises: 8×8 images, 8 latent dimensions


# Exercise 1 · notebook 01 -----------------------------------------------------------------------

_JENSEN = LinearGaussian(1.0, 1.0)  # p(z) = N(0, 1), p(x | z) = N(z, 1)


@exercise("Exercise 1, jensen_gap")
def check_jensen_gap(jensen_gap):
    r"""``jensen_gap(x)``: :math:`\log p(x) - \mathrm{ELBO}(q)` for :math:`p(z) = \mathcal N(0,1)`,
    :math:`p(x \mid z) = \mathcal N(z, 1)` and q the prior, as a formula in x; against
    :meth:`LinearGaussian.log_evidence` minus :meth:`LinearGaussian.elbo`."""
    xs = np.concatenate([[-3.1, -0.4, 0.0, 1.3, 2.0, 4.7], input_rng(1).uniform(-4, 4, 3)])
    got = np.array([numbers(call(jensen_gap, float(x))).reshape(-1)[0] for x in xs])
    gap = _JENSEN.log_evidence(xs) - _JENSEN.elbo(xs, 0.0, 1.0)
    post_mean, post_var = _JENSEN.posterior(xs)
    reverse = kl_normal(post_mean, post_var)
    compare(
        got,
        gap,
        "x = -3.1, -0.4, 0, 1.3, 2, 4.7 and three drawn at random",
        mistakes=[
            (
                reverse,
                "that is KL(p(z|x) ‖ q), the other direction: the ELBO falls short of log p(x) "
                "by KL(q ‖ p(z|x))",
            ),
            (-gap, "wrong sign: log p(x) − ELBO = KL(q ‖ p(z|x)) ≥ 0"),
            (
                xs**2 / 4,
                "the x²/4 is right, but the variance terms are missing: q has variance 1, "
                "the posterior ½",
            ),
            (2 * gap, "twice too large: a KL between Gaussians has a ½ in front"),
        ],
        nonfinite="the gap is finite for every x",
    )
    return (
        "The gap is KL(p(z) ‖ p(z|x)) = x²/4 + ½ − ½ log 2: 0.153 nats at x = 0, growing with x², "
        "and never zero, because the prior is never the posterior."
    )


# Exercise 2 · notebook 02 -----------------------------------------------------------------------


@exercise("Exercise 2, linear_gaussian_elbo")
def check_linear_gaussian_elbo(linear_gaussian_elbo):
    r"""``linear_gaussian_elbo(x, mu, s2, w, sigma2)``: the closed-form ELBO of
    :math:`q = \mathcal N(\mu, s^2)` under :math:`p(z) = \mathcal N(0, 1)`,
    :math:`p(x\mid z) = \mathcal N(wz, \sigma^2)`, against :meth:`LinearGaussian.elbo`."""
    x_post = np.array([-1.0, 0.5, 2.0])
    drawn = input_rng(2)
    cases = [
        ("x = 1.5, q = N(0.3, 0.2), w = 2, σ² = 0.5", 1.5, 0.3, 0.2, 2.0, 0.5),
        (
            "x, q, w and σ² drawn at random",
            drawn.normal(size=4),
            drawn.normal(size=4),
            drawn.uniform(0.1, 3.0, 4),
            float(drawn.normal()),
            float(drawn.uniform(0.2, 2.0)),
        ),
        (
            "x = (-1, 0, 2.5), q = N((0.5, 0, -1), (0.1, 1, 3)), w = -1, σ² = 3",
            np.array([-1.0, 0.0, 2.5]),
            np.array([0.5, 0.0, -1.0]),
            np.array([0.1, 1.0, 3.0]),
            -1.0,
            3.0,
        ),
        (
            "q equal to the posterior p(z|x), x = (-1, 0.5, 2), w = 2, σ² = 0.5",
            x_post,
            *LinearGaussian(2.0, 0.5).posterior(x_post),
            2.0,
            0.5,
        ),
        ("x = 0.7, q = N(-0.2, 1e-8), w = 1.3, σ² = 0.8", 0.7, -0.2, 1e-8, 1.3, 0.8),
    ]
    for case, x, mu, s2, w, sigma2 in cases:
        model = LinearGaussian(w, sigma2)
        elbo = model.elbo(x, mu, s2)
        fit, kl = model.expected_log_likelihood(x, mu, s2), kl_normal(mu, s2)
        got = call(linear_gaussian_elbo, x, mu, s2, w, sigma2)
        try:
            compare(
                got,
                elbo,
                case,
                mistakes=[
                    (fit + kl, "wrong sign on the KL: ELBO = E_q[log p(x|z)] − KL(q ‖ p(z))"),
                    (fit - 2 * kl, "the KL is twice too large: did you forget its ½?"),
                    (  # s2 → 0 drops the spread term w²s² of E_q[(x − wz)²]
                        model.expected_log_likelihood(x, mu, 1e-300) - kl,
                        "your E_q[log p(x|z)] ignores the spread of q: averaged over z ~ q, "
                        "(x − wz)² becomes (x − wμ)² + w²s²",
                    ),
                    (
                        elbo + 0.5 * math.log(2 * math.pi * sigma2),
                        "off by the constant ½ log(2πσ²): keep the normalising constant of "
                        "log N(x; wz, σ²)",
                    ),
                    (
                        model.elbo(x, mu, s2**2),
                        "s2 is the variance of q, not its standard deviation",
                    ),
                ],
                shapes={(): "one ELBO per x: the formula broadcasts over the arrays"},
                nonfinite="the ELBO is finite for every s2 > 0: look for a log or a division by s2",
            )
        except Wrong as wrong:
            if np.any(numbers(got) > model.log_evidence(x) + 1e-9):
                raise Wrong(
                    f"{wrong} Your value even exceeds log p(x): impossible for a lower bound."
                ) from None
            raise
    return "It matches LinearGaussian.elbo, and equals log p(x) when q is the posterior."


# Exercise 3 · notebook 03 -----------------------------------------------------------------------


@exercise("Exercise 3, kl_diag_gaussian")
def check_kl_diag_gaussian(kl_diag_gaussian):
    r"""``kl_diag_gaussian(mu, logvar)``: :math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,
    e^{\mathrm{logvar}})\,\|\,\mathcal N(0, I))`, one value per row, against
    :func:`elbo_lib.kl.kl_to_standard_normal`."""
    rng = input_rng(3)
    cases = [
        ("mu = (0.5, -1, 2), var = (1e-8, 1, 4.5)", [0.5, -1.0, 2.0], np.log([1e-8, 1.0, 4.5])),
        ("a batch of 4 rows of 3 dimensions", rng.normal(size=(4, 3)), rng.normal(size=(4, 3))),
        ("a batch of one q equal to the prior", np.zeros((1, 2)), np.zeros((1, 2))),
        ("mu = (3, 0), var = (1e-13, 5e8)", [[3.0, 0.0]], [[-30.0, 20.0]]),
    ]
    for case, mu, logvar in cases:
        mu, logvar = np.asarray(mu), np.asarray(logvar)
        kl, d = kl_to_standard_normal(mu, logvar=logvar), mu.shape[-1]
        half = "off by a factor 2: did you forget the ½?"
        compare(
            call(kl_diag_gaussian, mu, logvar),
            kl,
            case,
            mistakes=[
                (2 * kl, half),
                (kl / 2, "off by a factor ½: the ½ appears once, in front of the sum"),
                (-kl, "wrong sign: a KL is never negative, ½ Σ (μ² + σ² − log σ² − 1)"),
                (-2 * kl, f"wrong sign, and {half}"),
                (kl + d / 2, "off by ½ per dimension: did you forget the −1 inside the sum?"),
                (
                    kl_to_standard_normal(mu, logvar=logvar / 2),
                    "you used σ = exp(½·logvar) where the formula has σ² = exp(logvar)",
                ),
                (kl_to_standard_normal(0 * mu, logvar=logvar), "the μ² term is missing"),
                (
                    or_none(kl_to_standard_normal, mu, logvar),
                    "you treated logvar as a variance: σ² = exp(logvar), and log σ² is logvar",
                ),
            ],
            shapes=reduction_hints(mu.shape, "sum"),
            nonfinite="logvar already is log σ², so use it as it is and σ² = exp(logvar); "
            "taking log(logvar) fails for every var < 1: work in log-variance",
        )
    return "It matches elbo_lib.kl.kl_to_standard_normal, from var = 1e-13 to var = 5e8."


# Exercises 4 and 5 · notebook 03 ----------------------------------------------------------------

_MODEL, _X = LinearGaussian(2.0, 0.5), 1.5  # the model and data point of exercises 4 and 5
_LOG_JOINT = frozenset({LinearGaussian.log_joint.__code__})  # the one library call they may make


def _posterior():
    return tuple(float(v) for v in _MODEL.posterior(_X))


def _mc_values(mu, s2, n=100_000):
    r"""(:math:`\log p(x, z)`, :math:`\log q(z)`, :math:`\log p(z)`, :math:`\log q'(z)`) at
    :math:`z \sim q = \mathcal N(\mu, s^2)` drawn by scipy; :math:`q' = \mathcal N(\mu, s^4)` is
    the q of an answer that takes ``s2`` for a standard deviation."""
    z = stats.norm(mu, math.sqrt(s2)).rvs(n, random_state=np.random.default_rng(0))
    return (
        _MODEL.log_joint(_X, z),
        stats.norm(mu, math.sqrt(s2)).logpdf(z),
        stats.norm.logpdf(z),
        stats.norm(mu, s2).logpdf(z),
    )


@exercise("Exercise 4, mc_elbo")
def check_mc_elbo(mc_elbo):
    r"""``mc_elbo(model, x, mu, s2, n_samples, rng)``: the average of :math:`\log p(x, z_k) -
    \log q(z_k)` over ``n_samples`` draws from q. It must change with the rng, give the same
    number for the same seed, and average to :meth:`LinearGaussian.elbo` over 200 seeds within
    five standard errors; ``model.log_joint`` is the only library call it may make."""
    cases = [
        ("q = N(0.3, 0.2), 20 samples", 0.3, 0.2, 20),
        ("q = N(-1, 2), 5 samples", -1.0, 2.0, 5),
        ("q = N(0.3, 0.2), 1 sample", 0.3, 0.2, 1),
    ]
    for case, mu, s2, n in cases:
        model = LinearGaussian(2.0, 0.5)

        def estimate(seed, mu=mu, s2=s2, n=n, model=model, case=case):
            out = call(mc_elbo, model, _X, mu, s2, n, np.random.default_rng(seed), allow=_LOG_JOINT)
            out = finite(out, case, "every log-weight is finite, and so is their average")
            if n > 1 and out.shape == (n,):
                raise Wrong(f"you returned the {n} log-weights: return their average.")
            return out

        log_joint, _, _, log_q_mistaken = _mc_values(mu, s2)
        monte_carlo(
            estimate,
            float(_MODEL.elbo(_X, mu, s2)),
            case,
            hints=[
                (log_joint.mean(), "you averaged log p(x, z) alone: subtract log q(z) from each"),
                (
                    (log_joint - log_q_mistaken).mean(),
                    "log q(z) used s2 as a standard deviation: q = N(μ, s2) has standard "
                    "deviation √s2",
                ),
            ],
        )
    mean, var = _posterior()
    at_posterior = numbers(
        call(
            mc_elbo,
            LinearGaussian(2.0, 0.5),
            _X,
            mean,
            var,
            10,
            np.random.default_rng(1),
            allow=_LOG_JOINT,
        )
    )
    log_px = float(_MODEL.log_evidence(_X))
    if not abs(float(at_posterior) - log_px) < 1e-6:
        raise Wrong(
            f"at the posterior every log-weight equals log p(x) = {log_px:.4f}, but your estimate "
            f"is {float(at_posterior):.4f}: average log p(x, z) − log q(z) with "
            "log q(z) = log N(z; μ, s2) (reconstruction − closed-form KL is a valid estimator, "
            "but not exact there)"
        )
    return (
        "It changes with the seed, averages to the closed-form ELBO within its standard error, "
        "and at the posterior every sample gives log p(x) exactly."
    )


class _Recorder:
    """The estimator handed to ``measure_spread``: each call draws a fresh value from the rng it
    is given and remembers it, so the check knows what a measured spread must be (an answer run
    in another process sends ``values`` back)."""

    returned_state = ("values",)

    def __init__(self, loc, scale):
        self.loc, self.scale, self.values = loc, scale, []

    def __call__(self, rng):
        value = self.loc + self.scale * float(rng.standard_normal())
        self.values.append(value)
        return value


@exercise("Exercise 5, measure_spread")
def check_measure_spread(measure_spread):
    r"""``measure_spread(estimate, n_repeats, rng)``: the standard deviation of ``n_repeats``
    values ``estimate(rng)``. The check hands over an estimator that records what it returns, so
    the spread must be measured from those very values (``ddof`` 0 or 1)."""
    for repeats, loc, scale in [(50, -3.0, 0.7), (400, 10.0, 2.5), (2, 0.0, 1.0)]:
        case = f"{repeats} repeats of an estimator of spread {scale}"
        recorder = _Recorder(loc, scale)
        spread = numbers(call(measure_spread, recorder, repeats, np.random.default_rng(repeats)))
        spread = finite(spread, case, "a standard deviation of finite numbers is finite")
        if spread.shape != ():
            raise Wrong(f"for {case} you returned shape {spread.shape}: return one number.")
        values = np.array(recorder.values)
        if len(values) == 0:
            raise Wrong(
                f"{float(spread)} is the estimator's true spread, not one you measured: "
                "measure the standard deviation of the values estimate(rng) returned"
                if close(spread, scale, 1e-6)
                else "you never called estimate: the spread must be measured from n_repeats "
                "calls, not computed from a formula"
            )
        if len(values) != repeats:
            raise Wrong(
                f"for {case} you called estimate {len(values)} times: call it exactly "
                "n_repeats times and measure the spread of what it returns"
            )
        if np.ptp(values) == 0:
            raise Wrong(
                f"every call of estimate returned the same value for {case}: pass the rng you "
                "are given to every call; a new np.random.default_rng(seed) repeats the draws"
            )
        measured = [values.std(), values.std(ddof=1)]
        if any(close(spread, m, 1e-9) for m in measured):
            continue
        if any(close(spread, m**2, 1e-9) for m in measured):
            raise Wrong(f"you returned the variance (seen for {case}): take its square root.")
        raise Wrong(
            f"for {case} the values estimate returned have standard deviation "
            f"{values.std():.4f}, but you returned {float(spread):.4f}: the spread must be "
            "measured from those calls, not computed from a formula"
        )
    return "It measures the spread of the very values the estimator returned."


def plot_mc_elbo_spread(mc_elbo, measure_spread, n_samples=(1, 3, 10, 30, 100, 300), repeats=200):
    r"""Draw the spread of the Monte Carlo ELBO of ``mc_elbo`` (exercise 4), as
    ``measure_spread`` (exercise 5) measures it, against :math:`\sigma_1/\sqrt n` on log-log
    axes, :math:`\sigma_1` the spread of one log-weight. Returns the figure, or None (with the
    reason printed) while either exercise is not done."""
    spreads = []
    try:
        for n in n_samples:

            def estimate(rng, n=n):
                return float(numbers(mc_elbo(LinearGaussian(2.0, 0.5), _X, 0.3, 0.2, n, rng)))

            rng = np.random.default_rng(n)
            spread = numbers(call(measure_spread, estimate, repeats, rng, allow=_LOG_JOINT))
            if spread.shape != ():
                raise Wrong("measure_spread must return one number")
            spreads.append(float(finite(spread, f"n = {n}", "measure finite estimates")))
    except NotDone:
        say("…", "Exercises 4 and 5", f"{NOT_DONE}.")
        return None
    except Wrong as wrong:
        say("✗", "Exercises 4 and 5", str(wrong))
        return None
    n = np.asarray(n_samples, dtype=float)
    log_joint, log_q, _, _ = _mc_values(0.3, 0.2)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(n, (log_joint - log_q).std() / np.sqrt(n), color="k", label=r"$\sigma_1/\sqrt{n}$")
    ax.loglog(n, spreads, "o", color="C0", label=f"your measurement ({repeats} repeats)")
    ax.set(
        xlabel="samples per estimate n",
        ylabel="spread of the ELBO estimate (nats)",
        title="Monte Carlo error falls like 1/√n",
    )
    ax.legend()
    return fig


# Exercise 6 · notebook 04 -----------------------------------------------------------------------


def _conditioned(x1, x2, w1, w2, sigma2_1, sigma2_2):
    r"""The posterior :math:`p(z \mid x_1, x_2)` by conditioning the joint Gaussian of
    :math:`(z, x_1, x_2)`: mean :math:`\Sigma_{zx}\Sigma_{xx}^{-1}x`, variance
    :math:`1 - \Sigma_{zx}\Sigma_{xx}^{-1}\Sigma_{xz}` (a route other than adding precisions)."""
    cov_zx = np.array([w1, w2])
    cov_xx = np.array([[w1**2 + sigma2_1, w1 * w2], [w1 * w2, w2**2 + sigma2_2]])
    gain = np.linalg.solve(cov_xx, cov_zx)
    x = np.stack(np.broadcast_arrays(np.asarray(x1, float), np.asarray(x2, float)), axis=-1)
    return x @ gain, np.broadcast_to(1.0 - cov_zx @ gain, np.shape(x)[:-1])


def _gaussian_kl(mean, var, mean_p, var_p):
    """KL(N(mean, var) ‖ N(mean_p, var_p)), elementwise."""
    return 0.5 * (np.log(var_p / var) + (var + (mean - mean_p) ** 2) / var_p - 1.0)


@exercise("Exercise 6, optimal_q")
def check_optimal_q(optimal_q):
    r"""``optimal_q(x1, x2, w1, w2, sigma2_1, sigma2_2) -> (mean, variance)`` of the q that
    maximises the ELBO of :math:`p(z) = \mathcal N(0, 1)`, :math:`p(x_i \mid z) = \mathcal
    N(w_i z, \sigma_i^2)` (two observations, independent given z): the posterior, against
    Gaussian conditioning of the joint (:func:`_conditioned`), at points drawn when it runs."""
    drawn = input_rng(6)
    cases = [
        ("x = (1.5, -0.5), w = (2, 1), σ² = (0.5, 2)", 1.5, -0.5, 2.0, 1.0, 0.5, 2.0),
        (
            "x₂ says nothing (w₂ = 0): x₁ = (-1, 0, 2.5), w₁ = -1, σ₁² = 3",
            np.array([-1.0, 0.0, 2.5]),
            np.array([4.0, -2.0, 0.0]),
            -1.0,
            0.0,
            3.0,
            1.0,
        ),
        (
            "x, w and σ² drawn at random",
            2 * drawn.normal(size=4),
            2 * drawn.normal(size=4),
            float(1.5 * drawn.normal()),
            float(1.5 * drawn.normal()),
            float(drawn.uniform(0.1, 3.0)),
            float(drawn.uniform(0.1, 3.0)),
        ),
    ]
    nonfinite = "1 + w₁²/σ₁² + w₂²/σ₂² is never zero"
    for case, x1, x2, w1, w2, s1, s2 in cases:
        mean, var = _conditioned(x1, x2, w1, w2, s1, s2)
        out = pair(call(optimal_q, x1, x2, w1, w2, s1, s2))
        got_mean, got_var = numbers(out[0]), numbers(out[1])
        if got_var.shape == () and var.shape != ():
            got_var = np.broadcast_to(got_var, var.shape)  # one variance for every x is right
        if close(got_mean, var) and close(got_var, mean):
            raise Wrong(
                f"you returned (variance, mean): return (mean, variance) (seen for {case})."
            )
        one_mean, one_var = LinearGaussian(w1, s1).posterior(x1)
        no_prior = 1 / (w1**2 / s1 + w2**2 / s2)
        try:
            compare(
                got_mean,
                mean,
                f"the mean, {case}",
                mistakes=[
                    (
                        one_mean,
                        "that is the posterior given x₁ alone: x₂ pulls the mean too, by "
                        "w₂x₂/σ₂² in the precision-weighted sum",
                    ),
                    (
                        no_prior * (w1 * x1 / s1 + w2 * x2 / s2),
                        "the prior is missing: it adds its precision 1 and pulls the mean to 0",
                    ),
                ],
                nonfinite=nonfinite,
            )
            compare(
                got_var,
                var,
                f"the variance, {case}",
                mistakes=[
                    (np.sqrt(var), "you returned the standard deviation: return the variance"),
                    (one_var, "that is the variance given x₁ alone: x₂ adds its precision w₂²/σ₂²"),
                    (no_prior, "the prior's precision 1 is missing: precisions add"),
                ],
                nonfinite=nonfinite,
            )
        except Wrong as wrong:
            with np.errstate(all="ignore"):
                gap = _gaussian_kl(got_mean, got_var, mean, var)
            if not (np.all(np.isfinite(gap)) and np.all(got_var > 0)):
                raise
            raise Wrong(
                f"{wrong} At your q the ELBO is {show(gap)} nats below log p(x₁, x₂): that gap "
                "is KL(q ‖ p(z|x₁, x₂)), zero only at the posterior."
            ) from None
    return (
        "Your q is the posterior, as conditioning the joint Gaussian of (z, x₁, x₂) gives: "
        "precisions add (1 + w₁²/σ₁² + w₂²/σ₂²) and the mean is the precision-weighted pull of "
        "each observation, so the ELBO there equals log p(x₁, x₂)."
    )


# Exercises 7 and 8 · notebook 05 ----------------------------------------------------------------

_GRID = np.linspace(-15.0, 15.0, 3001)
_BIMODAL = mixture_log_density(_GRID, separation=6.0, weight=0.7)  # modes at -3 (0.7) and +3


@exercise("Exercise 7, reverse_kl_on_grid")
def check_reverse_kl_on_grid(reverse_kl_on_grid):
    r"""``reverse_kl_on_grid(log_p, grid, mean, std)``: :math:`\mathrm{KL}(q\,\|\,p)` for
    :math:`q = \mathcal N(\mathrm{mean}, \mathrm{std}^2)` and p given by unnormalised log values
    on an evenly spaced grid, against :func:`elbo_lib.divergences.reverse_kl`; then the fit that
    minimises it over a lattice of (mean, std) against
    :func:`elbo_lib.divergences.fit_gaussian`."""
    step = _GRID[1] - _GRID[0]
    cases = [
        ("p = N(1, 2²), q = N(0, 1)", log_normal(_GRID, 1.0, 4.0), 0.0, 1.0),
        ("the two-mode p, q = N(-3, 1)", _BIMODAL, -3.0, 1.0),
        ("the two-mode p, q = N(0, 3²)", _BIMODAL, 0.0, 3.0),
        ("the two-mode p unnormalised by e^-1000, q = N(2, 0.5²)", _BIMODAL - 1000.0, 2.0, 0.5),
        (
            "the two-mode p, q's mean and std drawn at random",
            _BIMODAL,
            float(input_rng(7).uniform(-4.0, 4.0)),
            float(input_rng(7).uniform(0.5, 3.0, 2)[1]),
        ),
    ]
    for case, log_p, mean, std in cases:
        kl = float(reverse_kl(mean, std, log_p, _GRID))
        normalised = abs(np.log(np.exp(log_p - log_p.max()).sum() * step) + log_p.max()) < 1e-6
        p = np.exp(log_p - log_p.max())
        p /= p.sum() * step
        q = stats.norm(mean, std).pdf(_GRID)
        forward = float(np.sum(p * (np.log(p + 1e-300) - np.log(q + 1e-300))) * step)
        unnormalised = float(np.sum(q * (stats.norm(mean, std).logpdf(_GRID) - log_p)) * step)
        compare(
            call(reverse_kl_on_grid, log_p, _GRID, mean, std),
            kl,
            case,
            mistakes=[
                (
                    forward,
                    "that is KL(p ‖ q), the forward direction: the ELBO's KL is KL(q ‖ p) = "
                    "Σ q (log q − log p) Δz",
                ),
                (-kl, "wrong sign: a KL is never negative"),
                (kl / step, "multiply the sum by the grid step Δz: it approximates an integral"),
                (
                    None if normalised else unnormalised,
                    "normalise p on the grid first: log p − log Σ exp(log p) Δz",
                ),
            ],
            nonfinite="exp(log p) underflows to 0 when log p is near -1000: normalise p with the "
            "log-sum-exp trick, and compute log q from its formula, not as log of q",
            rtol=1e-4,
            atol=1e-6,
        )
    means, stds = np.linspace(-6.0, 6.0, 49), np.geomspace(0.3, 6.0, 17)
    scores = np.array(
        [
            [float(numbers(call(reverse_kl_on_grid, _BIMODAL, _GRID, m, s))) for s in stds]
            for m in means
        ]
    )
    i, j = np.unravel_index(np.argmin(scores), scores.shape)
    best_mean, best_std = fit_gaussian(_BIMODAL, _GRID, "reverse")
    if not (abs(means[i] - best_mean) < 0.3 and abs(np.log(stds[j] / best_std)) < 0.2):
        raise Wrong(
            f"on the lattice your KL is smallest at q = N({means[i]:.2f}, {stds[j]:.2f}²), but "
            f"the reverse-KL fit is N({best_mean:.2f}, {best_std:.2f}²)"
        )
    return (
        f"Minimised over a lattice, your KL puts q at N({means[i]:.2f}, {stds[j]:.2f}²): on the "
        "heavier mode, as elbo_lib.divergences.fit_gaussian does."
    )


@exercise("Exercise 8, predict the two fits")
def check_fit_prediction(predict_fits):
    r"""``predict_fits() -> ((mean, std), (mean, std))``: the student's prediction of the Gaussian
    fits to the two-mode density under the reverse and the forward KL, then the fits
    (:func:`elbo_lib.divergences.fit_gaussian`) and what differs. A prediction passes when each
    mean is within 0.5 and each std within 25 % of the fit."""
    out = pair(call(predict_fits), "(reverse (mean, std), forward (mean, std))")
    predicted = [_numbers_pair(f) for f in out]
    fits = [fit_gaussian(_BIMODAL, _GRID, objective) for objective in ("reverse", "forward")]
    lines = []
    for name, (pm, ps), (m, s) in zip(("reverse", "forward"), predicted, fits, strict=True):
        if not (np.isfinite(pm) and np.isfinite(ps) and ps > 0):
            raise Wrong(f"your {name} prediction ({pm}, {ps}) needs a finite mean and a std > 0.")
        lines.append(
            (
                name,
                abs(pm - m) <= 0.5 and abs(ps / s - 1) <= 0.25,
                f"{name}: you predicted N({pm:.2f}, {ps:.2f}²), the fit is N({m:.2f}, {s:.2f}²)",
            )
        )
    (reverse_ok, forward_ok) = (ok for _, ok, _ in lines)
    told = "; ".join(text for _, _, text in lines)
    if not reverse_ok:
        (pm, _), _ = predicted
        why = (
            "the reverse KL charges log q/p wherever q has mass, so q avoids the valley between "
            "the modes and sits on one of them"
            if abs(pm) < 2
            else "the reverse fit picks the heavier mode (weight 0.7 at -3): there the mass "
            "p misses, −log 0.7, is smallest"
        )
        raise Wrong(f"{told}. {why}.")
    if not forward_ok:
        raise Wrong(
            f"{told}. The forward KL charges log p/q wherever p has mass, so q must cover both "
            "modes: it matches p's mean 0.7·(−3) + 0.3·3 = −1.2 and variance 1 + 9 − 1.44."
        )
    return f"{told}: mode seeking and mass covering, as predicted."


def _numbers_pair(value):
    """A (mean, std) prediction as a pair of floats."""
    value = pair(value, "(mean, std)")
    return tuple(float(numbers(v).reshape(-1)[0]) for v in value)


# Exercises 9, 10 and 11 · notebook 06 -----------------------------------------------------------


def _quantile_map(mu, std, eps):
    r"""The point of :math:`\mathcal N(\mu, \mathrm{std}^2)` at the same quantile as ε under
    :math:`\mathcal N(0, 1)`: the reparameterised sample, by torch.distributions."""
    return Normal(mu, std).icdf(Normal(0.0, 1.0).cdf(eps))


@exercise("Exercise 9, reparameterise")
def check_reparameterise(reparameterise):
    r"""``reparameterise(mu, logvar, eps)``: a sample of :math:`\mathcal N(\mu,
    e^{\mathrm{logvar}})` as a differentiable function of (μ, logvar) and the noise ε, compared
    value and gradient with torch.distributions' quantile map."""
    generator = input_generator(9)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    logvar = randn(3, 4)
    logvar[0, :2] = torch.tensor([math.log(1e-8), 3.0])
    cases = [
        ("mu, logvar of shape (3, 4), var from 1e-8 to 20", randn(3, 4), logvar, randn(3, 4)),
        ("a single latent vector of 5 dimensions", randn(5), randn(5), randn(5)),
    ]
    for case, mu0, logvar0, eps in cases:
        mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
        z = call(reparameterise, mu, logvar, eps)
        if not isinstance(z, torch.Tensor):
            numbers(z)
            raise Wrong(
                f"you returned a {type(z).__name__}: build z with torch operations on mu, logvar "
                "and eps, so that gradients can flow"
            )
        std0 = logvar0.exp().sqrt()
        compare(
            z,
            _quantile_map(mu0, std0, eps),
            case,
            mistakes=[
                (
                    mu0 + logvar0.exp() * eps,
                    "you scaled ε by the variance σ² = exp(logvar): scale it by the standard "
                    "deviation σ = exp(½·logvar)",
                ),
                (mu0 + logvar0 * eps, "you scaled ε by logvar itself: σ = exp(½·logvar)"),
                (mu0 + eps / std0, "you divided ε by σ: multiply"),
                (mu0 + eps, "ε is not scaled: z = μ + σ·ε"),
                (std0 * eps, "μ is missing: z = μ + σ·ε"),
            ],
            nonfinite="logvar is negative wherever var < 1, so sqrt(logvar) or log(logvar) "
            "fails there; σ = exp(½·logvar) is positive for every logvar",
        )
        if z.grad_fn is None:
            raise Wrong(
                "z carries no gradient: compute it from mu and logvar with torch operations "
                "(no .detach(), .item(), numpy or torch.normal)"
            )
        weights = randn(*z.shape)
        got = torch.autograd.grad((z * weights).sum(), (mu, logvar), allow_unused=True)
        mu_r, logvar_r = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
        reference = _quantile_map(mu_r, logvar_r.exp().sqrt(), eps)
        expected = torch.autograd.grad((reference * weights).sum(), (mu_r, logvar_r))
        for name, g, e in zip(("mu", "logvar"), got, expected, strict=True):
            if g is None or not close(numbers(g), numbers(e)):
                raise Wrong(
                    f"the value is right but the gradient with respect to {name} is not: build "
                    "z from mu and logvar with differentiable torch operations"
                )
    return "z = μ + σ·ε has q's quantiles, and gradients reach both μ and logvar."


def _square(z):
    return z**2


def _sine(z):
    return np.sin(z)


# (f, μ, σ, the exact ∂/∂μ E[f(z)] for z ~ N(μ, σ²), the description)
_SCORE_CASES = [
    (_square, 1.0, 0.5, 2.0, "f(z) = z², μ = 1, σ = 0.5"),
    (_sine, 0.3, 2.0, math.cos(0.3) * math.exp(-2.0), "f(z) = sin z, μ = 0.3, σ = 2"),
]


@exercise("Exercise 10, score_function_grad")
def check_score_function_grad(score_function_grad):
    r"""``score_function_grad(f, mu, sigma, n_samples, rng)``: the score-function (REINFORCE)
    estimate :math:`\frac1n\sum_k f(z_k)\,(z_k - \mu)/\sigma^2`, :math:`z_k \sim \mathcal N(\mu,
    \sigma^2)`, of :math:`\partial_\mu \mathbb E[f(z)]`. It must change with the rng and average
    to the exact gradient (:math:`2\mu` for :math:`z^2`, :math:`\cos\mu\, e^{-\sigma^2/2}` for
    :math:`\sin z`) within five standard errors, with the spread of a score-function estimator."""
    for f, mu, sigma, exact, case in _SCORE_CASES:

        def estimate(seed, f=f, mu=mu, sigma=sigma, n=4):
            return call(score_function_grad, f, mu, sigma, n, np.random.default_rng(seed))

        values = monte_carlo(
            estimate,
            exact,
            f"{case}, 4 samples",
            seeds=400,
            hints=[
                (exact * sigma, "divide by σ², not σ: the score of N(μ, σ²) is (z − μ)/σ²"),
                (-exact, "wrong sign: the score is (z − μ)/σ², not (μ − z)/σ²"),
                (0.0, "the score alone averages to zero: multiply it by f(z)"),
            ],
        )
        if f is _square:
            # one sample: Var[z²(z − μ)/σ²] = 21.75 here, the pathwise Var[2z] = 4σ² = 1
            pathwise = 2 * sigma / 2  # the spread of an average of 4 pathwise samples, 2σ/√4
            if values.std() < 1.5 * pathwise:
                raise Wrong(
                    f"your estimates spread by {values.std():.3f}, like the pathwise "
                    f"(reparameterisation) gradient's {pathwise:.3f}: the exercise asks for the "
                    "score-function estimator, f(z)·(z − μ)/σ², which spreads far more"
                )
    return (
        "It is unbiased for z² and for sin z; its spread is the price of needing only values "
        "of f, not its gradient."
    )


@exercise("Exercise 11, predict the variance ratio")
def check_variance_ratio_prediction(predicted_ratio):
    r"""``predicted_ratio()``: the prediction of :math:`\mathrm{Var}[f(z)(z-\mu)/s^2] /
    \mathrm{Var}[f'(z)]` for :math:`f(z) = z^2`, :math:`\mu = 3/2`, :math:`s = 1`, one sample
    each; then the ratio measured with a million draws, and what differs. It passes within 10 %."""
    got = finite(numbers(call(predicted_ratio)), "your prediction", "predict a finite ratio")
    if got.shape != ():
        raise Wrong(f"you returned shape {got.shape}: return one number.")
    eps = np.random.default_rng(11).standard_normal(1_000_000)
    z = 1.5 + eps
    in_key((1.5**4 + 14 * 1.5**2 + 15) / 4)  # the exact ratio, (μ⁴/s² + 14μ² + 15s²) / 4s²
    measured = (z**2 * eps).var() / (2 * z).var()
    told = f"you predicted {float(got):.3g}, the experiment measures {measured:.3g}"
    if abs(float(got) / measured - 1) <= 0.1:
        return f"{told}: the score-function estimator needs ~{measured:.0f}× the samples."
    if abs(float(got) * measured - 1) <= 0.1:
        raise Wrong(f"{told}: you predicted the inverse; the score-function one spreads more.")
    raise Wrong(
        f"{told}. With z = 3/2 + ε: z²·ε = (9/4)ε + 3ε² + ε³ has mean 3 and second moment "
        "(81/16)E[ε²] + 9E[ε⁴] + E[ε⁶] + (9/2)E[ε⁴], while 2z = 3 + 2ε has variance 4."
    )


# Exercise 12 · notebook 07 ----------------------------------------------------------------------


class _Decoder:
    """A fixed random linear decoder from 8 latents to 64 pixel logits (float64)."""

    def __init__(self, generator):
        self.weight = torch.randn(LATENTS, PIXELS, generator=generator, dtype=torch.float64)
        self.bias = torch.randn(PIXELS, generator=generator, dtype=torch.float64)

    def __call__(self, z):
        return z @ self.weight + self.bias


def _single_sample_reference(x, mu, logvar, decode, eps):
    z = mu + (0.5 * logvar).exp() * eps
    log_q = log_normal(z, mu, logvar=logvar).sum(-1)
    reconstruction = bernoulli_log_likelihood(x, decode(z))
    return reconstruction, log_normal(z).sum(-1), log_q


@exercise("Exercise 12, single_sample_elbo")
def check_single_sample_elbo(single_sample_elbo):
    r"""``single_sample_elbo(x, mu, logvar, decode, eps)``: for each image,
    :math:`\log p(x \mid z) + \log p(z) - \log q(z \mid x)` at :math:`z = \mu + \sigma\varepsilon`,
    with Bernoulli pixels of logits ``decode(z)``; value and gradients against
    :func:`elbo_lib.vae.bernoulli_log_likelihood` and :func:`elbo_lib.densities.log_normal`."""
    x, _, mu0, logvar0 = _loss_batch(6, seed=21)
    eps = torch.randn(6, LATENTS, generator=input_generator(12), dtype=torch.float64)
    logvar0[0, 0] = math.log(1e-6)
    decode = _Decoder(torch.Generator().manual_seed(12))
    mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
    got = call(single_sample_elbo, x, mu, logvar, decode, eps)
    reconstruction, log_prior, log_q = (
        t.detach() for t in _single_sample_reference(x, mu0, logvar0, decode, eps)
    )
    expected = reconstruction + log_prior - log_q
    kl = kl_to_standard_normal(mu0, logvar=logvar0)
    case = "a batch of 6 images, one variance 1e-6"
    compare(
        got,
        expected,
        case,
        mistakes=[
            (
                reconstruction - kl,
                "that is reconstruction − closed-form KL, a fine estimator, but "
                "the exercise asks for the single-sample log-weight "
                "log p(x|z) + log p(z) − log q(z|x)",
            ),
            (reconstruction - log_q, "log p(z) is missing: the prior's log-density at z"),
            (
                reconstruction - log_q - LATENTS / 2 * math.log(2 * math.pi),
                "log p(z) is missing: the prior's log-density at z",
            ),
            (reconstruction + log_prior + log_q, "wrong sign on log q(z|x): subtract it"),
            (-reconstruction + log_prior - log_q, "wrong sign on log p(x|z): it is minus the BCE"),
            (
                reconstruction / PIXELS + log_prior - log_q,
                "sum log p(x|z) over the pixels, do not average",
            ),
            (-expected, "wrong sign: return the ELBO, not the loss"),
        ],
        shapes={
            (): "one ELBO per image: do not average over the batch",
            (6, PIXELS): "sum over the pixels",
            (6, LATENTS): "sum over the latent units",
        },
        nonfinite="compute log q from logvar directly: log σ² = logvar, no log of a variance",
        rtol=1e-5,
    )
    if not (isinstance(got, torch.Tensor) and got.requires_grad):
        raise Wrong("your ELBO carries no gradient: compute it with torch operations")
    weights = torch.linspace(0.5, 1.5, 6, dtype=torch.float64)
    grads = torch.autograd.grad((got * weights).sum(), (mu, logvar), allow_unused=True)
    mu_r, logvar_r = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
    reconstruction, log_prior, log_q = _single_sample_reference(x, mu_r, logvar_r, decode, eps)
    reference = reconstruction + log_prior - log_q
    expected_grads = torch.autograd.grad((reference * weights).sum(), (mu_r, logvar_r))
    for name, g, e in zip(("mu", "logvar"), grads, expected_grads, strict=True):
        if g is None or not close(numbers(g), numbers(e), 1e-5):
            raise Wrong(
                f"the value is right but its gradient with respect to {name} is not: take z = "
                "μ + exp(½·logvar)·ε inside the function, with torch operations"
            )
    return "Value and gradients match: this one-sample ELBO is what a VAE maximises."


# Exercise 13 · notebook 08 ----------------------------------------------------------------------


@exercise("Exercise 13, iwae_bound")
def check_iwae_bound(iwae_bound_fn):
    r"""``iwae_bound(log_w)``: :math:`\log \frac1K \sum_k e^{\log w_k}` over the last axis, stable
    for log-weights near ±1000, against :func:`elbo_lib.bounds.iwae_bound`."""
    rng = input_rng(13)
    cases = [
        ("log_w of shape (3, 5) around -100", rng.normal(-100.0, 2.0, size=(3, 5))),
        ("a single row of K = 6 log-weights", rng.normal(size=6)),
        ("K = 1 sample for each of 4 points", rng.normal(size=(4, 1))),
        ("log-weights around -1000", rng.normal(-1000.0, 1.0, size=(2, 4))),
        ("log-weights around +800", rng.normal(800.0, 1.0, size=(2, 4))),
        ("a zero weight (log w = -inf) among others", np.array([[0.5, -np.inf, 1.5]])),
        ("one row near -1000 and one near +800", np.array([[-1000.0, -1001.0], [800.0, 801.0]])),
    ]
    for case, log_w in cases:
        bound, log_k = iwae_bound(log_w), math.log(log_w.shape[-1])
        stable = (
            "exp overflows or underflows there. Subtract the largest log-weight m first: "
            "log mean exp(a) = m + log mean exp(a − m)"
        )
        if case.startswith("one row"):
            stable = (
                "one m for the whole array is far above the row near -1000, whose weights "
                "then underflow to 0: take m row by row, np.max(log_w, axis=-1, keepdims=True)"
            )
        compare(
            call(iwae_bound_fn, log_w),
            bound,
            case,
            mistakes=[
                (
                    log_w.mean(axis=-1),
                    "you averaged the log-weights: that is the ELBO estimate; the IWAE bound is "
                    "the log of the average weight",
                ),
                (bound + log_k, "off by log K: average the weights (subtract log K), not sum"),
                (log_w.max(axis=-1), "you returned the largest log-weight: average all weights"),
            ],
            shapes=reduction_hints(log_w.shape, "average the weights"),
            nonfinite=stable,
        )
    return (
        "It matches elbo_lib.bounds.iwae_bound, stable for log-weights from -1000 to +800, "
        "row by row."
    )


# Exercise 14 · notebook 09 ----------------------------------------------------------------------


def _expected_nll(m, p, sigma2):
    r""":math:`-\mathbb E_{x \sim \mathrm{Bernoulli}(p)} \log \mathcal N(x;\, m, \sigma^2)`."""
    return -(p * log_normal(1.0, m, sigma2) + (1 - p) * log_normal(0.0, m, sigma2))


@exercise("Exercise 14, blur_optimum")
def check_blur_optimum(blur_optimum):
    r"""``blur_optimum(p, sigma2) -> (m, nll)``: the Gaussian decoder's mean m for a pixel that
    is on with probability p, minimising :math:`-\mathbb E_x \log \mathcal N(x; m, \sigma^2)`,
    and that minimum in nats; against a numerical minimisation (scipy.optimize)."""
    drawn = float(input_rng(14).uniform(0.05, 0.95))
    for p, sigma2 in [(0.5, 0.1), (0.2, 1.0), (0.93, 0.05), (0.0, 0.3), (drawn, 0.4)]:
        case = f"p = {p}, σ² = {sigma2}"
        got = [
            finite(v, case, "both numbers are finite")
            for v in pair(call(blur_optimum, p, sigma2), "(m, nll)")
        ]
        best = optimize.minimize_scalar(
            functools.partial(_expected_nll, p=p, sigma2=sigma2),
            bounds=(-1, 2),
            method="bounded",
            options={"xatol": 1e-10},
        )
        compare(
            got[0],
            best.x,
            f"m, {case}",
            mistakes=[
                (
                    round(p),
                    "a sharp pixel, 0 or 1, costs more on average: the squared "
                    "error is smallest at the mean of x, a grey",
                )
            ],
            nonfinite="m is finite",
            rtol=1e-4,
            atol=1e-6,
        )
        constant = 0.5 * math.log(2 * math.pi * sigma2)
        compare(
            got[1],
            best.fun,
            f"the −log p at the optimum, {case}",
            mistakes=[
                (best.fun - constant, "keep the constant ½ log(2πσ²) of the Gaussian"),
                (best.fun + (best.fun - constant), "the squared error is divided by 2σ², not σ²"),
                (-best.fun, "wrong sign: a negative log-likelihood, in nats"),
            ],
            nonfinite="the minimum is finite",
            rtol=1e-5,
            atol=1e-7,
        )
    sharp = _expected_nll(1.0, 0.5, 0.1) - _expected_nll(0.5, 0.5, 0.1)
    return (
        f"The decoder's best guess is the grey m = p; a sharp 0/1 pixel at p = ½, σ² = 0.1 would "
        f"cost {sharp:.2f} nats more per pixel: the ELBO prefers blur."
    )


# Exercise 15 · notebook 10 ----------------------------------------------------------------------


@exercise("Exercise 15, mutual_information")
def check_mutual_information(mutual_information):
    r"""``mutual_information(mu, logvar, eps)``: the Monte Carlo estimate of :math:`I_q(X; Z) =
    \mathbb E_{n, z \sim q(z|x_n)}[\log q(z \mid x_n) - \log q(z)]` with the aggregate posterior
    :math:`q(z) = \frac1N\sum_m q(z \mid x_m)` summed exactly, for the draws
    :math:`z_{s,n} = \mu_n + \sigma_n \varepsilon_{s,n}`; against
    :func:`elbo_lib.diagnostics.log_aggregate_posterior`, as in ELBO surgery."""
    generator = input_generator(15)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    cases = [
        ("N = 40 images, 3 latents, 5 draws each", 2 * randn(40, 3), randn(40, 3) - 1, 5),
        (
            "N = 30 tight, well-separated posteriors (var ~ 1e-9)",
            10 * randn(30, 2),
            torch.full((30, 2), -20.0, dtype=torch.float64),
            4,
        ),
        (
            "N = 25 posteriors all equal to the prior",
            torch.zeros(25, 2, dtype=torch.float64),
            torch.zeros(25, 2, dtype=torch.float64),
            3,
        ),
    ]
    cases.append(
        (
            "N = 10 broad posteriors in 200 dimensions (every density below e^-745)",
            randn(10, 200),
            5 + 0.1 * randn(10, 200),
            2,
        )
    )
    for case, mu, logvar, samples in cases:
        eps = randn(samples, *mu.shape)
        z = (mu + (0.5 * logvar).exp() * eps).reshape(-1, mu.shape[1])
        log_own = log_normal(z.reshape(eps.shape), mu, logvar=logvar).sum(-1).reshape(-1)
        log_aggregate = log_aggregate_posterior(z, mu, logvar)
        info = float((log_own - log_aggregate).mean())
        log_n = math.log(len(mu))
        compare(
            call(mutual_information, mu, logvar, eps),
            info,
            case,
            mistakes=[
                (
                    info + log_n,
                    "off by log N: q(z) is the average of the N posteriors, not their sum",
                ),
                (
                    info - log_n,
                    "off by −log N: average the N densities, log q(z) = logsumexp − log N",
                ),
                (-info, "wrong sign: I = E[log q(z|x) − log q(z)] ≥ 0"),
                (0.0, "zero: log q(z) must mix all N posteriors, not only the image's own"),
            ],
            nonfinite="q(z|x_m) underflows to 0 for tight posteriors: sum the densities with "
            "torch.logsumexp over m, not exp then log",
            rtol=1e-6,
            atol=1e-8,
        )
        if case.startswith("N = 30"):
            told = info
    return (
        f"It matches ELBO surgery's estimate; with 30 tight, separate posteriors it reaches "
        f"{told:.3f} = log 30: a code can tell at most log N nats about which of N images it is."
    )


# Exercises 16 and 17 · notebook 11 --------------------------------------------------------------


def _reference_loss(x, logits, mu, logvar, beta):
    r"""The VAE loss :math:`-\mathrm{ELBO}` averaged over the batch:
    :func:`elbo_lib.vae.negative_elbo` of the Bernoulli reconstruction and the per-unit KL."""
    return negative_elbo(bernoulli_log_likelihood(x, logits), kl_normal(mu, logvar_q=logvar), beta)


def _clamped_loss(x, logits, mu, logvar, beta):
    """The loss of an answer taking sigmoid(logits) into F.binary_cross_entropy."""
    probs = torch.sigmoid(logits.detach())
    reconstruction = -F.binary_cross_entropy(probs, x.detach(), reduction="none").sum(-1)
    return negative_elbo(reconstruction, kl_normal(mu.detach(), logvar_q=logvar.detach()), beta)


def _loss_batch(n, seed, logit_scale=2.0):
    """(x, logits, mu, logvar) of a batch of n images, in float64."""
    generator = input_generator(100 + seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = (torch.rand(n, PIXELS, generator=generator, dtype=torch.float64) < 0.4).double()
    return x, logit_scale * randn(n, PIXELS), randn(n, LATENTS), randn(n, LATENTS)


def _loss(fn, x, logits, mu, logvar, beta):
    """The student's loss as a float (summed, should it be one value per image)."""
    return float(numbers(call(fn, x, logits, mu, logvar, beta)).sum())


_PROBE_RTOL = 1e-4  # the bugs change a probe by a factor of 2, -1 or 1/64; float32 code is fine


def _loss_symptoms(fn):
    """Probe a VAE loss for the five classic bugs: (name, problem or None) pairs. Each probe
    takes a difference in which the terms of the other four bugs cancel, so each bug shows alone.
    The loss must first be finite at ordinary inputs."""
    x, logits, mu, _ = _loss_batch(1, seed=10)
    other_logits = _loss_batch(1, seed=11)[1]
    zeros, ones = torch.zeros_like(mu), torch.ones_like(mu)
    base = _loss(fn, x, logits, mu, ones, 1.0)
    if not math.isfinite(base):
        raise Wrong(
            f"the loss is {base} for an ordinary image (logits ~ ±2, variances e): look for a "
            "log of a negative number or a division by zero"
        )

    def difference(a, b):
        """The loss at arguments a minus at b: the student's, and the reference."""
        return _loss(fn, *a) - _loss(fn, *b), float(_reference_loss(*a) - _reference_loss(*b))

    def nonfinite(got, where):
        return None if math.isfinite(got) else f"the loss is {got} {where}"

    # The μ² part of the KL, at logvar = 1 and β = 1: reconstruction and β's place cancel.
    got, expected = difference((x, logits, mu, ones, 1.0), (x, logits, zeros, ones, 1.0))
    kl_factor = got / expected if math.isfinite(got) else math.nan
    sign = nonfinite(got, "at μ = 0")
    if kl_factor < 0:
        sign = (
            f"moving μ away from 0 changes the loss by {got:+.3f}, but the KL to the prior must "
            "raise it: the KL enters with the wrong sign (loss = −ELBO = reconstruction + β·KL)"
        )
    half = nonfinite(got, "at μ = 0")
    if half is None and abs(kl_factor) < 1e-9:
        half = "the loss does not change with μ: the KL term is missing (or multiplied by 0)"
    elif half is None and abs(abs(kl_factor) - 1) > _PROBE_RTOL:
        half = f"the KL's μ² part is {abs(kl_factor):.3g}× what it should be: " + (
            "did you forget the ½?"
            if abs(abs(kl_factor) - 2) < _PROBE_RTOL
            else "KL = ½ Σ (μ² + σ² − log σ² − 1)"
        )
    # The variance part of the KL, at μ = 0, against the μ² part's factor.
    tiny = torch.full_like(mu, math.log(1e-8))
    got, expected = difference((x, logits, zeros, tiny, 1.0), (x, logits, zeros, 2 * ones, 1.0))
    log_variance = None
    if not math.isfinite(got):
        log_variance = (
            f"{'NaN' if math.isnan(got) else got} for var = 1e-8 (logvar = -18.4): the "
            "log-variance is used as a variance. "
            "With logvar, σ² = exp(logvar) and log σ² = logvar"
        )
    elif not abs(got - kl_factor * expected) <= _PROBE_RTOL * abs(expected):
        log_variance = (
            "the KL's variance part is off: the encoder returns logvar = log σ², "
            "so σ² = exp(logvar) and log σ² = logvar"
        )
    # The reconstruction, at β = 1 (β's place cancels): a change of the logits alone.
    got, expected = difference((x, logits, mu, ones, 1.0), (x, other_logits, mu, ones, 1.0))
    ratio, pixels = got / expected, nonfinite(got, "for other logits")
    if abs(ratio + 1) < _PROBE_RTOL:
        pixels = "the reconstruction term has the wrong sign: the loss adds −log p(x|z), the BCE"
    elif abs(ratio * PIXELS - 1) < _PROBE_RTOL:
        pixels = (
            f"the reconstruction term is {PIXELS}× too small, one pixel's share: log p(x|z) of "
            "an image sums over its pixels (sum over pixels, average over the batch)"
        )
    elif pixels is None and abs(ratio - 1) > _PROBE_RTOL:
        pixels = (
            f"the reconstruction term is {ratio:.3g}× what it should be: "
            "F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1)"
        )
    # What β adds to the loss may depend on the KL only, not on the logits.
    added = [
        _loss(fn, x, lg, mu, ones, 2.0) - _loss(fn, x, lg, mu, ones, 0.0)
        for lg in (logits, other_logits)
    ]
    beta = nonfinite(sum(added), "at β = 0 or 2")
    if beta is None and abs(added[0] - added[1]) > _PROBE_RTOL * abs(added[0]):
        beta = (
            "what β adds to the loss changes with the logits: β weights the reconstruction. "
            "It belongs on the KL: loss = reconstruction + β·KL"
        )
    elif beta is None and abs(added[0]) < 1e-12:
        beta = "β has no effect on the loss: multiply the KL by β"
    return [
        ("sign of the KL", sign),
        ("the ½ of the KL", half),
        ("variance vs log-variance", log_variance),
        ("sum over pixels", pixels),
        ("what β multiplies", beta),
    ]


def _print_symptoms(symptoms, indent=""):
    for name, problem in symptoms:
        say("✗", name, problem, indent) if problem else say("✓", name, "fine", indent)


def diagnose_vae_loss(vae_loss):
    """Print the symptoms of the five classic bugs in ``vae_loss(x, logits, mu, logvar, beta)``:
    a wrong KL sign, a missing ½, a variance where the log-variance belongs, a mean over pixels
    where the sum belongs, and β on the reconstruction instead of the KL."""
    try:
        with np.errstate(all="ignore"):
            symptoms = _loss_symptoms(vae_loss)
    except NotDone:
        say("…", None, f"{NOT_DONE}.")
        return
    except Wrong as wrong:
        say("✗", None, str(wrong))
        return
    _print_symptoms(symptoms)


def _vae_loss_cases(vae_loss):
    """Compare ``vae_loss`` with the reference on batches, β values and extreme inputs."""
    x, logits, mu, logvar = _loss_batch(5, seed=12)
    logvar[0, 0] = math.log(1e-8)
    extreme = _loss_batch(3, seed=13, logit_scale=40.0)
    cases = [
        ("a batch of 5 images, β = 1", (x, logits, mu, logvar, 1.0)),
        ("a batch of 5 images, β = 0.3", (x, logits, mu, logvar, 0.3)),
        ("a batch of 5 images, β = 4", (x, logits, mu, logvar, 4.0)),
        ("a batch of one image", (x[:1], logits[:1], mu[:1], logvar[:1], 1.0)),
        ("logits of ±40 or more (pixels the decoder is sure of)", (*extreme, 1.0)),
    ]
    for case, args in cases:
        args = [a.clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in args]
        loss, expected = call(vae_loss, *args), _reference_loss(*args)
        n = args[0].shape[0]
        compare(
            loss,
            expected.detach(),
            case,
            mistakes=[
                (n * expected.detach(), f"{n}× too large: average over the batch, not sum"),
                (
                    _clamped_loss(*args),
                    "sigmoid saturates to exactly 0 or 1 there and F.binary_cross_entropy "
                    "clamps log 0 to −100: use F.binary_cross_entropy_with_logits",
                ),
            ],
            shapes={(n,): "one loss per image: average them over the batch (.mean())"},
            nonfinite="sigmoid saturates to exactly 0 or 1 there, and log 0 = −inf: compute the "
            "reconstruction from the logits with F.binary_cross_entropy_with_logits",
            rtol=1e-5,
        )
        if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
            raise Wrong(
                "the loss carries no gradient: compute it with torch operations on the inputs "
                "(no .item(), .detach() or numpy)"
            )


@exercise("Exercise 16, vae_loss")
def check_vae_loss(vae_loss):
    r"""``vae_loss(x, logits, mu, logvar, beta)``: the β-weighted negative ELBO averaged over the
    batch, :math:`\frac1n \sum_i [\mathrm{BCE}(x_i, \mathrm{logits}_i) + \beta\,
    \mathrm{KL}(q(z|x_i)\,\|\,p(z))]`, against :func:`elbo_lib.vae.negative_elbo` of the
    Bernoulli log-likelihood and the KL of :func:`elbo_lib.kl.kl_normal`."""
    x, logits, mu, logvar = _loss_batch(5, seed=12)
    loss = _loss(vae_loss, x, logits, mu, logvar, 1.0)
    if close(loss, -float(_reference_loss(x, logits, mu, logvar, 1.0))):
        raise Wrong("wrong sign: return the loss −ELBO, which training minimises.")
    for name, problem in _loss_symptoms(vae_loss):
        if problem:
            raise Wrong(f"{name}: {problem}" + ("" if problem.endswith("?") else "."))
    _vae_loss_cases(vae_loss)
    return "It matches the reference on batches, for β = 0.3, 1, 4, and for saturated logits."


@exercise("Exercise 17, fixed_vae_loss")
def check_fixed_vae_loss(fixed_vae_loss):
    """The bug hunt: prints which of the five symptoms remain, then compares the repaired loss
    with the reference as :func:`check_vae_loss` does."""
    symptoms = _loss_symptoms(fixed_vae_loss)
    _print_symptoms(symptoms, indent="  ")
    left = sum(problem is not None for _, problem in symptoms)
    if left:
        raise Wrong(f"{left} of {len(symptoms)} symptoms remain: fix them one at a time.")
    _vae_loss_cases(fixed_vae_loss)
    return "All five bugs are gone and the loss matches the reference."


# Exercises 18 and 19 · notebook 12 --------------------------------------------------------------


@exercise("Exercise 18, warmup_beta")
def check_warmup_beta(warmup_beta):
    r"""``warmup_beta(step, warmup_steps, target)``: :math:`\beta_t = \mathrm{target}\cdot
    \min(1, t/T)`, against :func:`elbo_lib.schedules.linear_warmup`."""
    drawn = [int(t) for t in input_rng(18).integers(0, 300, 4)]
    cases = [(100, 1.0, [0, 1, 30, 50, 99, 100, 101, 1000, *drawn]), (100, 0.5, [0, 25, 100, 400])]
    cases.append((1, 2.0, [0, 1, 5]))
    for warmup_steps, target, steps in cases:
        case = f"warmup_steps = {warmup_steps}, target = {target}, steps {steps}"
        schedule = linear_warmup(warmup_steps, target)
        expected = np.array([schedule(t) for t in steps], dtype=float)
        got = [numbers(call(warmup_beta, t, warmup_steps, target)) for t in steps]
        if any(g.shape != () for g in got):
            raise Wrong("return one number β for one step.")
        t = np.array(steps, dtype=float)
        compare(
            np.array(got),
            expected,
            case,
            mistakes=[
                (
                    target * t / warmup_steps,
                    "β keeps growing after the warm-up: cap it with min(1, t / T)",
                ),
                (
                    target * np.minimum(1, np.array(steps) // warmup_steps),
                    "β jumps from 0 to the target at step T: t // T is integer division, use t / T",
                ),
                (target * (1 - expected / target), "β falls: it rises from 0 at t = 0 to target"),
                (expected / target, f"β ends at 1, not at target = {target}: multiply by target"),
                (
                    target * np.minimum(1, (t + 1) / warmup_steps),
                    "off by one step: β is exactly 0 at step 0",
                ),
            ],
            nonfinite="β is finite at every step",
        )
    return "It matches elbo_lib.schedules.linear_warmup: 0 at step 0, target from step T on."


# The model's own methods, the only library calls of the mini-project's answer
_MODEL_CALLS = frozenset(
    {
        getattr(VAE, name).__code__
        for name in (
            "__init__",
            "encode",
            "decode",
            "log_likelihood",
            "sample_posterior",
            "check_data",
            "_make_decoder",
        )
    }
    | {VAE.sigma2.fget.__code__}
)
PROJECT_MAX_NATS = 24.0  # the test −ELBO the mini-project must reach, nats per image
PROJECT_MIN_UNITS = 6  # and the latent units it must keep active (of 8)
PROJECT_TIME_LIMIT = 60.0  # seconds of training


@exercise("Exercise 19, the mini-project")
def check_trained_vae(train_vae_with_warmup):
    r"""``train_vae_with_warmup(x_train, seed) -> model``: an :class:`elbo_lib.vae.VAE` (8
    latent units, Bernoulli pixels) trained by the student's own loop with a KL warm-up, within
    60 s. The test −ELBO (:func:`elbo_lib.diagnostics.evaluate_elbo`) must be at most 24 nats and
    at least 6 units active (:func:`elbo_lib.diagnostics.active_units`). Only the model's own
    methods may be called from elbo_lib: the loop, the loss and the schedule are the answer's."""
    x_train, x_test, _, _ = load_digits()
    with torch_threads():
        model = call(
            train_vae_with_warmup, x_train, 0, limit=PROJECT_TIME_LIMIT, allow=_MODEL_CALLS
        )
    if not isinstance(model, VAE):
        raise Wrong(f"you returned a {type(model).__name__}: return the trained elbo_lib.vae.VAE")
    if (model.x_dim, model.z_dim, model.likelihood) != (PIXELS, LATENTS, "bernoulli"):
        raise Wrong("build the model as VAE(x_dim=64, z_dim=8, likelihood='bernoulli').")
    model = copy.deepcopy(model).eval()
    try:
        nats = -float(evaluate_elbo(model, x_test)["elbo"].mean())
        units = int(active_units(model, x_test).sum())
    except (ValueError, RuntimeError) as error:
        raise Wrong(f"the trained model cannot be evaluated ({error})") from None
    if not math.isfinite(nats):
        raise Wrong("the test −ELBO is not finite: did the training diverge? Lower the rate.")
    told = f"test −ELBO {nats:.1f} nats, {units} of {LATENTS} units active"
    if nats > PROJECT_MAX_NATS:
        raise Wrong(
            f"{told}: reach {PROJECT_MAX_NATS:g} nats or less. Train longer (more epochs), check "
            "the loss sums over pixels, and that β reaches 1 at the end of the warm-up"
        )
    if units < PROJECT_MIN_UNITS:
        raise Wrong(
            f"{told}: keep at least {PROJECT_MIN_UNITS} units active. A longer KL warm-up lets "
            "the decoder learn to use z before the KL switches units off"
        )
    return f"{told}: a VAE trained by your own loop."


ALLOWED_CALLS = _LOG_JOINT | _MODEL_CALLS  # every library call some answer may make
HANDED_OVER = (_square, _sine)  # the private functions a check gives an answer to call

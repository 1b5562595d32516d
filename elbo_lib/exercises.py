r"""Checks for the hands-on exercises of notebook 13.

``check_<exercise>(your_function)`` calls your function on several inputs, edge cases included,
and compares it with elbo_lib's own answer (:mod:`elbo_lib.kl`, :mod:`elbo_lib.linear_gaussian`,
:mod:`elbo_lib.bounds`, :mod:`elbo_lib.schedules`). On a wrong answer it recognises the common
mistakes (a missing ½, a flipped sign, a variance where a log-variance belongs, a sum over the
wrong axis, …), prints what to change and returns False; it never raises, so a half-done notebook
still runs top to bottom. A function that still raises ``NotImplementedError`` (or returns
``...``) is reported as not done yet. A correct answer prints a success message and returns True.
"""

import functools
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats
from torch.distributions import Normal
from torch.nn import functional as F

from elbo_lib.bounds import iwae_bound
from elbo_lib.kl import kl_normal, kl_to_standard_normal
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.schedules import linear_warmup
from elbo_lib.vae import bernoulli_log_likelihood, negative_elbo

NOT_DONE = "not done yet: replace `raise NotImplementedError()` with your code, then run this again"
PIXELS, LATENTS = 64, 8  # the shapes of the VAE-loss exercises: 8×8 images, 8 latent dimensions


class _NotDone(Exception):
    """The function is still a stub."""


class _Wrong(Exception):
    """A wrong answer; the message says what to change."""


def _exercise(title):
    """Turn a check body, which returns a success note or raises ``_NotDone``/``_Wrong``, into a
    check that prints its verdict and returns True or False."""

    def decorate(body):
        @functools.wraps(body)
        def check(fn):
            try:
                with np.errstate(all="ignore"):
                    note = body(fn)
            except _NotDone:
                print(f"… {title}: {NOT_DONE}.")
                return False
            except _Wrong as wrong:
                print(f"✗ {title}: {wrong}")
                return False
            except Exception as error:  # an answer so unexpected that the check cannot read it
                print(f"✗ {title}: could not check your answer ({type(error).__name__}: {error}).")
                return False
            print(f"✓ {title}: correct! {note}")
            return True

        return check

    return decorate


def _call(fn, *args):
    """``fn(*args)``; a stub becomes ``_NotDone``, an error or a missing return ``_Wrong``."""
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]  # in-place edits stay local
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*args)
    except NotImplementedError:
        raise _NotDone from None
    except Exception as error:
        raise _Wrong(f"your function raised {type(error).__name__}: {error}") from None
    if out is Ellipsis:
        raise _NotDone
    if out is None:
        raise _Wrong("your function returned None: did you forget `return`?")
    return out


def _numbers(out):
    """``out`` (a number, a numpy array or a torch tensor) as a float64 numpy array."""
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu()
    try:
        return np.asarray(out, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        raise _Wrong(
            f"your function returned a {type(out).__name__}: return a number or an array"
        ) from None


def _close(a, b, rtol=1e-6, atol=1e-9):
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _show(a):
    return np.array2string(
        np.asarray(a, dtype=float), precision=4, separator=", ", floatmode="fixed"
    )


def _compare(got, expected, case, *, mistakes=(), shapes=None, nonfinite, rtol=1e-6):
    """Raise ``_Wrong`` unless ``got`` ≈ ``expected``.

    ``mistakes`` holds (what a known mistake returns, hint) pairs, tried in order; ``shapes`` maps
    a wrong shape to its hint; ``nonfinite`` is the hint for NaN or inf where the answer is finite.
    """
    got, expected = _numbers(got), np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        hint = (shapes or {}).get(got.shape, f"expected shape {expected.shape}")
        raise _Wrong(f"for {case} you returned shape {got.shape}: {hint}.")
    if np.any(~np.isfinite(got) & np.isfinite(expected)):
        kind = "NaN" if np.isnan(got).any() else "-inf" if np.any(got == -np.inf) else "inf"
        raise _Wrong(f"{kind} for {case}: {nonfinite}.")
    if _close(got, expected, rtol):
        return
    for value, hint in mistakes:
        if value is not None and _close(got, _numbers(value), rtol):
            raise _Wrong(f"{hint} (seen for {case}).")
    raise _Wrong(f"wrong value for {case}: expected {_show(expected)}, got {_show(got)}.")


def _reduction_hints(shape, verb):
    """Hints for a reduction over the last axis of an array of ``shape`` that went wrong."""
    hints = {shape: f"one value per dimension: {verb} over the last axis (axis=-1)"}
    if len(shape) == 2:
        hints[()] = f"one number for the whole batch: {verb} over the last axis only, one per row"
        hints[shape[-1:]] = f"you reduced the batch axis: {verb} over the last axis (axis=-1)"
    return hints


def _or_none(function, *args):
    """``function(*args)``, or None when the arguments are outside its domain."""
    try:
        return function(*args)
    except ValueError:
        return None


# Exercise 1 ------------------------------------------------------------------------------------


@_exercise("Exercise 1, kl_diag_gaussian")
def check_kl_diag_gaussian(kl_diag_gaussian):
    r"""``kl_diag_gaussian(mu, logvar)``: :math:`\mathrm{KL}(\mathcal N(\mu, \mathrm{diag}\,
    e^{\mathrm{logvar}})\,\|\,\mathcal N(0, I))`, one value per row, against
    :func:`elbo_lib.kl.kl_to_standard_normal`."""
    rng = np.random.default_rng(1)
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
        _compare(
            _call(kl_diag_gaussian, mu, logvar),
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
                    _or_none(kl_to_standard_normal, mu, logvar),
                    "you treated logvar as a variance: σ² = exp(logvar), and log σ² is logvar",
                ),
            ],
            shapes=_reduction_hints(mu.shape, "sum"),
            nonfinite="logvar already is log σ², so use it as it is and σ² = exp(logvar); "
            "taking log(logvar) fails for every var < 1: work in log-variance",
        )
    return "It matches elbo_lib.kl.kl_to_standard_normal, from var = 1e-13 to var = 5e8."


# Exercise 2 ------------------------------------------------------------------------------------


@_exercise("Exercise 2, linear_gaussian_elbo")
def check_linear_gaussian_elbo(linear_gaussian_elbo):
    r"""``linear_gaussian_elbo(x, mu, s2, w, sigma2)``: the closed-form ELBO of
    :math:`q = \mathcal N(\mu, s^2)` under :math:`p(z) = \mathcal N(0, 1)`,
    :math:`p(x\mid z) = \mathcal N(wz, \sigma^2)`, against :meth:`LinearGaussian.elbo`."""
    x_post = np.array([-1.0, 0.5, 2.0])
    cases = [
        ("x = 1.5, q = N(0.3, 0.2), w = 2, σ² = 0.5", 1.5, 0.3, 0.2, 2.0, 0.5),
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
        got = _call(linear_gaussian_elbo, x, mu, s2, w, sigma2)
        try:
            _compare(
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
                        elbo - stats.norm.logpdf(0.0, scale=math.sqrt(sigma2)),
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
        except _Wrong as wrong:
            if np.any(_numbers(got) > model.log_evidence(x) + 1e-9):
                raise _Wrong(
                    f"{wrong} Your value even exceeds log p(x): impossible for a lower bound."
                ) from None
            raise
    return "It matches LinearGaussian.elbo, and equals log p(x) when q is the posterior."


# Exercise 3 ------------------------------------------------------------------------------------


@_exercise("Exercise 3, optimal_q")
def check_optimal_q(optimal_q):
    r"""``optimal_q(x, w, sigma2) -> (mean, variance)`` of the q that maximises the ELBO: the
    posterior :math:`p(z\mid x)`, against :meth:`LinearGaussian.posterior`."""
    cases = [
        ("x = 1.5, w = 2, σ² = 0.5", 1.5, 2.0, 0.5),
        ("x = (-1, 0, 2.5), w = -1, σ² = 3", np.array([-1.0, 0.0, 2.5]), -1.0, 3.0),
        ("x = 0.8, w = 0 (x says nothing about z)", 0.8, 0.0, 1.0),
    ]
    for case, x, w, sigma2 in cases:
        model = LinearGaussian(w, sigma2)
        mean, var = model.posterior(x)
        out = _call(optimal_q, x, w, sigma2)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise _Wrong(f"you returned a {type(out).__name__}: return a pair (mean, variance).")
        got_mean, got_var = _numbers(out[0]), _numbers(out[1])
        if got_var.shape == () and var.shape != ():
            got_var = np.broadcast_to(got_var, var.shape)  # one variance for every x is right
        if _close(got_mean, var) and _close(got_var, mean):
            raise _Wrong(
                f"you returned (variance, mean): return (mean, variance) (seen for {case})."
            )
        nonfinite = "divide by w² + σ², which is never zero; at w = 0 the posterior is the prior"
        try:
            _compare(
                got_mean,
                mean,
                f"the mean, {case}",
                mistakes=[
                    (
                        x / w if w else None,
                        "x/w maximises the likelihood alone: the prior N(0, 1) pulls the mean to 0",
                    ),
                ],
                nonfinite=nonfinite,
            )
            _compare(
                got_var,
                var,
                f"the variance, {case}",
                mistakes=[
                    (np.sqrt(var), "you returned the standard deviation: return the variance"),
                    (
                        sigma2 / w**2 if w else None,
                        "σ²/w² leaves out the prior: precisions add, 1/s² = 1 + w²/σ²",
                    ),
                ],
                nonfinite=nonfinite,
            )
        except _Wrong as wrong:
            gap = _or_none(model.kl_to_posterior, x, got_mean, got_var)
            if gap is None or not np.all(np.isfinite(gap)):
                raise
            raise _Wrong(
                f"{wrong} At your q the ELBO is {_show(gap)} nats below log p(x): that gap is "
                "KL(q ‖ p(z|x)), zero only at the posterior."
            ) from None
    x, w, sigma2 = cases[0][1:]
    model, (mean, var) = LinearGaussian(w, sigma2), _call(optimal_q, x, w, sigma2)
    return (
        f"At your q the ELBO is {float(model.elbo(x, mean, var)):.4f} = log p(x) for x = {x}: "
        "the gap KL(q ‖ p(z|x)) is zero."
    )


# Exercise 4 ------------------------------------------------------------------------------------


def _quantile_map(mu, std, eps):
    r"""The point of :math:`\mathcal N(\mu, \mathrm{std}^2)` at the same quantile as ε under
    :math:`\mathcal N(0, 1)`: the reparameterised sample, by torch.distributions."""
    return Normal(mu, std).icdf(Normal(0.0, 1.0).cdf(eps))


@_exercise("Exercise 4, reparameterise")
def check_reparameterise(reparameterise):
    r"""``reparameterise(mu, logvar, eps)``: a sample of :math:`\mathcal N(\mu,
    e^{\mathrm{logvar}})` as a differentiable function of (μ, logvar) and the noise ε, compared
    value and gradient with torch.distributions' quantile map."""
    generator = torch.Generator().manual_seed(4)

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
        z = _call(reparameterise, mu, logvar, eps.clone())
        if not isinstance(z, torch.Tensor):
            raise _Wrong(
                f"you returned a {type(z).__name__}: build z with torch operations on mu, logvar "
                "and eps, so that gradients can flow"
            )
        std0 = logvar0.exp().sqrt()
        _compare(
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
            raise _Wrong(
                "z carries no gradient: compute it from mu and logvar with torch operations "
                "(no .detach(), .item(), numpy or torch.normal)"
            )
        weights = randn(*z.shape)
        got = torch.autograd.grad((z * weights).sum(), (mu, logvar), allow_unused=True)
        mu_r, logvar_r = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
        reference = _quantile_map(mu_r, logvar_r.exp().sqrt(), eps)
        expected = torch.autograd.grad((reference * weights).sum(), (mu_r, logvar_r))
        for name, g, e in zip(("mu", "logvar"), got, expected, strict=True):
            if g is None or not _close(_numbers(g), _numbers(e)):
                raise _Wrong(
                    f"the value is right but the gradient with respect to {name} is not: build "
                    "z from mu and logvar with differentiable torch operations"
                )
    return "z = μ + σ·ε has q's quantiles, and gradients reach both μ and logvar."


# Exercises 5 and 6 -----------------------------------------------------------------------------

_MODEL, _X = LinearGaussian(2.0, 0.5), 1.5  # the model and data point of exercises 5 and 6
_SIGMAS = 5  # a Monte Carlo answer may be this many standard errors off


def _mc_terms(mu, s2, n=100_000):
    r"""(:math:`\log p(x, z)`, :math:`\log q(z)`, :math:`\log q'(z)`) of exercises 5 and 6 at
    :math:`z \sim q = \mathcal N(\mu, s^2)` drawn by scipy; :math:`q' = \mathcal N(\mu, s^4)` is
    the q of a mistaken answer that takes ``s2`` for a standard deviation."""
    z = _sample_z(mu, s2, n)
    return (
        _MODEL.log_joint(_X, z),
        stats.norm(mu, math.sqrt(s2)).logpdf(z),
        stats.norm(mu, s2).logpdf(z),
    )


def _sample_z(mu, s2, n=100_000):
    return stats.norm(mu, math.sqrt(s2)).rvs(n, random_state=np.random.default_rng(0))


def _posterior():
    return tuple(float(v) for v in _MODEL.posterior(_X))


@_exercise("Exercise 5, mc_elbo")
def check_mc_elbo(mc_elbo):
    r"""``mc_elbo(model, x, mu, s2, n_samples, rng)``: the average of :math:`\log p(x, z_k) -
    \log q(z_k)` over ``n_samples`` draws from q, against :meth:`LinearGaussian.elbo`, within
    five standard errors."""
    cases = [
        ("q = N(0.3, 0.2), 2000 samples", 0.3, 0.2, 2000),
        ("q = N(-1, 2), 2000 samples", -1.0, 2.0, 2000),
        ("q = the posterior p(z|x), 10 samples", *_posterior(), 10),
        ("q = N(0.3, 0.2), 1 sample", 0.3, 0.2, 1),
    ]
    for case, mu, s2, n in cases:
        estimate = _numbers(_call(mc_elbo, _MODEL, _X, mu, s2, n, np.random.default_rng(5)))
        if n > 1 and estimate.shape == (n,):
            raise _Wrong(f"you returned the {n} log-weights: return their average.")
        if estimate.shape != ():
            raise _Wrong(f"for {case} you returned shape {estimate.shape}: return one number.")
        again = _numbers(_call(mc_elbo, _MODEL, _X, mu, s2, n, np.random.default_rng(5)))
        if again != estimate:
            raise _Wrong(
                "the same rng seed gave two different estimates: draw every random number from "
                "the rng argument (rng.standard_normal), not from np.random"
            )
        if not np.isfinite(estimate):
            raise _Wrong(f"{estimate} for {case}: every log-weight is finite.")
        elbo = float(_MODEL.elbo(_X, mu, s2))
        log_joint, log_q, log_q_mistaken = _mc_terms(mu, s2)
        tolerance = _SIGMAS * (log_joint - log_q).std() / math.sqrt(n) + 1e-9
        if abs(estimate - elbo) <= tolerance:
            continue
        log_prior = stats.norm.logpdf(_sample_z(mu, s2))
        kl = 0.5 * (mu**2 + s2 - math.log(s2) - 1)
        for values, hint in [
            (
                log_joint - log_prior - kl,
                "you estimated reconstruction − closed-form KL: a valid ELBO estimator, but the "
                "exercise asks for the average of log p(x, z) − log q(z), which is exact at the "
                "posterior",
            ),
            (log_joint, "you averaged log p(x, z) alone: subtract log q(z) from each term"),
            (
                log_joint - log_q_mistaken,
                "log q(z) used s2 as a standard deviation: scipy.stats.norm(mu, np.sqrt(s2)) "
                "takes the standard deviation",
            ),
        ]:
            # the answer's own noise plus that of the check's 100 000 draws
            if abs(estimate - values.mean()) <= _SIGMAS * values.std() * (n**-0.5 + 0.004) + 1e-9:
                raise _Wrong(f"{hint} (seen for {case}).")
        raise _Wrong(
            f"for {case} your estimate {float(estimate):.4f} is off the closed-form ELBO "
            f"{elbo:.4f} by more than {n} samples allow (±{tolerance:.3g}, five standard "
            "errors): check z = μ + √s2·ε and log w = log p(x, z) − log q(z)."
        )
    return (
        "It agrees with the closed-form ELBO within its standard error, and at the posterior "
        "every sample gives log p(x) exactly."
    )


@_exercise("Exercise 6, mc_elbo_std")
def check_mc_elbo_std(mc_elbo_std):
    r"""``mc_elbo_std(model, x, mu, s2, n_samples, n_repeats, rng)``: the standard deviation of
    ``n_repeats`` Monte Carlo ELBO estimates of ``n_samples`` each, against
    :math:`\sigma_1/\sqrt n`, :math:`\sigma_1` the spread of one log-weight; the tolerance is five
    standard errors of a sample standard deviation (which depend on the kurtosis)."""
    mu, s2, repeats = 0.3, 0.2, 400
    log_joint, log_q, _ = _mc_terms(mu, s2)
    log_w = log_joint - log_q
    sigma_1, kurtosis_1 = log_w.std(), stats.kurtosis(log_w, fisher=False)
    for n in (1, 10, 100):
        spread = _numbers(
            _call(mc_elbo_std, _MODEL, _X, mu, s2, n, repeats, np.random.default_rng(6))
        )
        case = f"q = N(0.3, 0.2), {n} sample{'s' if n > 1 else ''} per estimate"
        if spread.shape != ():
            raise _Wrong(f"for {case} you returned shape {spread.shape}: return one number.")
        expected = sigma_1 / math.sqrt(n)
        kurtosis = 3 + (kurtosis_1 - 3) / n  # of the average of n log-weights
        tolerance = _SIGMAS * math.sqrt((kurtosis - 1) / (4 * repeats)) + 0.01
        ratio = float(spread) / expected
        if abs(ratio - 1) <= tolerance:
            continue
        if spread < 1e-12:
            raise _Wrong(
                f"zero spread for {case}: every repeat gave the same estimate. Pass the same rng "
                "on to every call; creating np.random.default_rng(seed) in the loop repeats the "
                "same samples. (The spread of one batch's log-weights over √n is not a "
                "measurement of repeated estimates: for n = 1 it is 0.)"
            )
        if n > 1 and abs(ratio / math.sqrt(n) - 1) <= tolerance:
            raise _Wrong(
                f"the spread does not shrink with n (seen for {case}): you measured single "
                "log-weights; measure n_repeats estimates, each an average of n_samples."
            )
        if abs(float(spread) / expected**2 - 1) <= 2 * tolerance:
            raise _Wrong(f"you returned the variance (seen for {case}): take its square root.")
        raise _Wrong(
            f"for {case} the spread is {float(spread):.4f}, but it should be near "
            f"σ₁/√n = {expected:.4f}, σ₁ = {sigma_1:.3f} being the spread of one log-weight."
        )
    spread = _numbers(
        _call(mc_elbo_std, _MODEL, _X, *_posterior(), 10, 20, np.random.default_rng(6))
    )
    if not abs(spread) < 1e-9:
        raise _Wrong(
            f"at the posterior every estimate equals log p(x), so the spread is 0, not {spread}: "
            "check log q(z)."
        )
    return (
        f"The spread falls like 1/√n (σ₁ = {sigma_1:.3f} for one sample), and it is zero when "
        "q is the posterior."
    )


def plot_mc_elbo_spread(mc_elbo_std, n_samples=(1, 3, 10, 30, 100, 300, 1000), n_repeats=200):
    r"""Draw the spread of the Monte Carlo ELBO that ``mc_elbo_std`` (exercise 6) measures
    against :math:`\sigma_1/\sqrt n` on log-log axes. Returns the figure, or None (with the
    reason printed) while the exercise is not done."""
    spreads = []
    try:
        for n in n_samples:
            rng = np.random.default_rng(6)
            spread = _numbers(_call(mc_elbo_std, _MODEL, _X, 0.3, 0.2, n, n_repeats, rng))
            if spread.shape != ():
                raise _Wrong("mc_elbo_std must return one number")
            spreads.append(float(spread))
    except _NotDone:
        print(f"… Exercise 6: {NOT_DONE}.")
        return None
    except _Wrong as wrong:
        print(f"✗ Exercise 6: {wrong}")
        return None
    n = np.asarray(n_samples, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    log_joint, log_q, _ = _mc_terms(0.3, 0.2)
    ax.loglog(n, (log_joint - log_q).std() / np.sqrt(n), color="k", label=r"$\sigma_1/\sqrt{n}$")
    ax.loglog(n, spreads, "o", color="C0", label=f"your mc_elbo_std ({n_repeats} repeats)")
    ax.set(
        xlabel="samples per estimate n",
        ylabel="spread of the ELBO estimate (nats)",
        title="Monte Carlo error falls like 1/√n",
    )
    ax.legend()
    return fig


# Exercise 7 ------------------------------------------------------------------------------------


@_exercise("Exercise 7, iwae_bound")
def check_iwae_bound(iwae_bound_fn):
    r"""``iwae_bound(log_w)``: :math:`\log \frac1K \sum_k e^{\log w_k}` over the last axis, stable
    for log-weights near ±1000, against :func:`elbo_lib.bounds.iwae_bound`."""
    rng = np.random.default_rng(7)
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
        _compare(
            _call(iwae_bound_fn, log_w),
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
            shapes=_reduction_hints(log_w.shape, "average the weights"),
            nonfinite=stable,
        )
    return (
        "It matches elbo_lib.bounds.iwae_bound, stable for log-weights from -1000 to +800, "
        "row by row."
    )


# Exercise 8 ------------------------------------------------------------------------------------


@_exercise("Exercise 8, warmup_beta")
def check_warmup_beta(warmup_beta):
    r"""``warmup_beta(step, warmup_steps, target)``: :math:`\beta_t = \mathrm{target}\cdot
    \min(1, t/T)`, against :func:`elbo_lib.schedules.linear_warmup`."""
    cases = [(100, 1.0, [0, 1, 30, 50, 99, 100, 101, 1000]), (100, 0.5, [0, 25, 100, 400])]
    cases.append((1, 2.0, [0, 1, 5]))
    for warmup_steps, target, steps in cases:
        case = f"warmup_steps = {warmup_steps}, target = {target}, steps {steps}"
        schedule = linear_warmup(warmup_steps, target)
        expected = np.array([schedule(t) for t in steps], dtype=float)
        got = [_numbers(_call(warmup_beta, t, warmup_steps, target)) for t in steps]
        if any(g.shape != () for g in got):
            raise _Wrong("return one number β for one step.")
        t = np.array(steps, dtype=float)
        _compare(
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


# Exercises 9 and 10 ----------------------------------------------------------------------------


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
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = (torch.rand(n, PIXELS, generator=generator, dtype=torch.float64) < 0.4).double()
    return x, logit_scale * randn(n, PIXELS), randn(n, LATENTS), randn(n, LATENTS)


def _loss(fn, x, logits, mu, logvar, beta):
    """The student's loss as a float (summed, should it be one value per image)."""
    return float(_numbers(_call(fn, x, logits, mu, logvar, beta)).sum())


_PROBE_RTOL = 1e-4  # the bugs change a probe by a factor of 2, -1 or 1/64; float32 code is fine


def _loss_symptoms(fn):
    """Probe a VAE loss for the five classic bugs: (name, problem or None) pairs. Each probe
    takes a difference in which the terms of the other four bugs cancel, so each bug shows alone."""
    x, logits, mu, _ = _loss_batch(1, seed=10)
    other_logits = _loss_batch(1, seed=11)[1]
    zeros, ones = torch.zeros_like(mu), torch.ones_like(mu)

    def difference(a, b):
        """The loss at arguments a minus at b: the student's, and the reference."""
        return _loss(fn, *a) - _loss(fn, *b), float(_reference_loss(*a) - _reference_loss(*b))

    # The μ² part of the KL, at logvar = 1 and β = 1: reconstruction and β's place cancel.
    got, expected = difference((x, logits, mu, ones, 1.0), (x, logits, zeros, ones, 1.0))
    kl_factor = got / expected
    sign = None
    if kl_factor < 0:
        sign = (
            f"moving μ away from 0 changes the loss by {got:+.3f}, but the KL to the prior must "
            "raise it: the KL enters with the wrong sign (loss = −ELBO = reconstruction + β·KL)"
        )
    half = None
    if abs(kl_factor) < 1e-9:
        half = "the loss does not change with μ: the KL term is missing (or multiplied by 0)"
    elif abs(abs(kl_factor) - 1) > _PROBE_RTOL:
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
    elif abs(got - kl_factor * expected) > _PROBE_RTOL * abs(expected):
        log_variance = (
            "the KL's variance part is off: the encoder returns logvar = log σ², "
            "so σ² = exp(logvar) and log σ² = logvar"
        )
    # The reconstruction, at β = 1 (β's place cancels): a change of the logits alone.
    got, expected = difference((x, logits, mu, ones, 1.0), (x, other_logits, mu, ones, 1.0))
    ratio, pixels = got / expected, None
    if abs(ratio + 1) < _PROBE_RTOL:
        pixels = "the reconstruction term has the wrong sign: the loss adds −log p(x|z), the BCE"
    elif abs(ratio * PIXELS - 1) < _PROBE_RTOL:
        pixels = (
            f"the reconstruction term is {PIXELS}× too small, one pixel's share: log p(x|z) of "
            "an image sums over its pixels (sum over pixels, average over the batch)"
        )
    elif abs(ratio - 1) > _PROBE_RTOL:
        pixels = (
            f"the reconstruction term is {ratio:.3g}× what it should be: "
            "F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(-1)"
        )
    # What β adds to the loss may depend on the KL only, not on the logits.
    added = [
        _loss(fn, x, lg, mu, ones, 2.0) - _loss(fn, x, lg, mu, ones, 0.0)
        for lg in (logits, other_logits)
    ]
    beta = None
    if abs(added[0] - added[1]) > _PROBE_RTOL * abs(added[0]):
        beta = (
            "what β adds to the loss changes with the logits: β weights the reconstruction. "
            "It belongs on the KL: loss = reconstruction + β·KL"
        )
    elif abs(added[0]) < 1e-12:
        beta = "β has no effect on the loss: multiply the KL by β"
    return [
        ("sign of the KL", sign),
        ("the ½ of the KL", half),
        ("variance vs log-variance", log_variance),
        ("sum over pixels", pixels),
        ("what β multiplies", beta),
    ]


def diagnose_vae_loss(vae_loss):
    """Print the symptoms of the five classic bugs in ``vae_loss(x, logits, mu, logvar, beta)``:
    a wrong KL sign, a missing ½, a variance where the log-variance belongs, a mean over pixels
    where the sum belongs, and β on the reconstruction instead of the KL."""
    try:
        with np.errstate(all="ignore"):
            symptoms = _loss_symptoms(vae_loss)
    except _NotDone:
        print(f"… {NOT_DONE}.")
        return
    except _Wrong as wrong:
        print(f"✗ {wrong}")
        return
    for name, problem in symptoms:
        print(f"✗ {name}: {problem}" if problem else f"✓ {name}: fine")


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
        loss, expected = _call(vae_loss, *args), _reference_loss(*args)
        n = args[0].shape[0]
        _compare(
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
            raise _Wrong(
                "the loss carries no gradient: compute it with torch operations on the inputs "
                "(no .item(), .detach() or numpy)"
            )


@_exercise("Exercise 9, vae_loss")
def check_vae_loss(vae_loss):
    r"""``vae_loss(x, logits, mu, logvar, beta)``: the β-weighted negative ELBO averaged over the
    batch, :math:`\frac1n \sum_i [\mathrm{BCE}(x_i, \mathrm{logits}_i) + \beta\,
    \mathrm{KL}(q(z|x_i)\,\|\,p(z))]`, against torch's binary cross-entropy plus
    :func:`elbo_lib.kl.kl_to_standard_normal`."""
    x, logits, mu, logvar = _loss_batch(5, seed=12)
    if _close(
        _loss(vae_loss, x, logits, mu, logvar, 1.0), -_reference_loss(x, logits, mu, logvar, 1.0)
    ):
        raise _Wrong("wrong sign: return the loss −ELBO, which training minimises.")
    for name, problem in _loss_symptoms(vae_loss):
        if problem:
            raise _Wrong(f"{name}: {problem}" + ("" if problem.endswith("?") else "."))
    _vae_loss_cases(vae_loss)
    return "It matches the reference on batches, for β = 0.3, 1, 4, and for saturated logits."


@_exercise("Exercise 10, fixed_vae_loss")
def check_fixed_vae_loss(fixed_vae_loss):
    """The troubleshooting exercise: prints which of the five symptoms remain, then compares the
    repaired loss with the reference as :func:`check_vae_loss` does."""
    symptoms = _loss_symptoms(fixed_vae_loss)
    for name, problem in symptoms:
        print(f"  ✗ {name}: {problem}" if problem else f"  ✓ {name}: fine")
    left = sum(problem is not None for _, problem in symptoms)
    if left:
        raise _Wrong(f"{left} of {len(symptoms)} symptoms remain: fix them one at a time.")
    _vae_loss_cases(fixed_vae_loss)
    return "All five bugs are gone and the loss matches the reference."

r"""Checks for the problem set of notebook 20 (practising notebooks 09–12).

``check_<exercise>(your_function)`` calls your function, through :mod:`elbo_lib.harness`, on
inputs drawn from :data:`elbo_lib.harness.SEED` (which the grader replaces with its own) and on
hand-picked edge cases, and compares the result with an independent reference: a numerical
optimum (scipy.optimize) of the objective evaluated by quadrature, entropies and KLs from
scipy.stats and torch.distributions, a closed-form kernel expectation checked by Monte Carlo, or
a training run the check makes itself. It never raises, and it prints one verdict (``…``,
``✗`` with a hint per common mistake, or ``✓``).
"""

import math

import numpy as np
import torch
from scipy import optimize, stats
from scipy.spatial.distance import cdist
from torch.distributions import Normal, kl_divergence

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.checks import estimate
from elbo_lib.collapse import make_model
from elbo_lib.data import load_digits
from elbo_lib.diagnostics import KL_UNIT, evaluate_elbo, kl_per_dimension
from elbo_lib.harness import (
    Wrong,
    call,
    compare,
    exercise,
    finite,
    input_rng,
    monte_carlo,
    numbers,
    pair,
)
from elbo_lib.kl import kl_normal
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.vae import VAE, train_vae, training_steps

# Exercise 1 · notebook 11: the β-VAE's optimal encoder in the linear-Gaussian model -------------


def _beta_objective(params, x, w, sigma2, beta):
    r""":math:`-\mathbb E_q[\log p(x \mid z)] + \beta\,\mathrm{KL}(q\,\|\,p(z))` for
    :math:`q = \mathcal N(\mu, e^{\log s^2})`, params = (μ, log s²)."""
    mu, log_s2 = params
    model, s2 = LinearGaussian(w, sigma2), math.exp(log_s2)
    return float(-model.expected_log_likelihood(x, mu, s2) + beta * kl_normal(mu, s2))


def _best_q(x, w, sigma2, beta):
    """The (μ, s²) minimising :func:`_beta_objective` at x, found numerically."""
    best = optimize.minimize(
        _beta_objective,
        x0=[0.0, 0.0],
        args=(x, w, sigma2, beta),
        method="BFGS",
        options={"gtol": 1e-11, "maxiter": 10_000},
    )
    return best.x[0], math.exp(best.x[1])


@exercise("Exercise 1, beta_vae_encoder")
def check_beta_vae_encoder(beta_vae_encoder):
    r"""``beta_vae_encoder(w, sigma2, beta) -> (a, s2)``: for :math:`p(z) = \mathcal N(0, 1)`,
    :math:`p(x \mid z) = \mathcal N(wz, \sigma^2)`, the q = N(μ, s²) minimising
    :math:`-\mathbb E_q[\log p(x \mid z)] + \beta\,\mathrm{KL}(q\,\|\,p(z))` has μ = a·x and
    variance s²; against a numerical minimisation at two values of x."""
    rng = input_rng(201)
    cases = [(2.0, 0.5, 4.0), (1.0, 1.0, 0.25), (-1.5, 0.3, 1.0), (0.7, 2.0, 10.0)]
    cases += [
        (float(rng.choice([-1, 1]) * rng.uniform(0.3, 3)), float(rng.uniform(0.1, 2)), float(b))
        for b in rng.uniform(0.05, 8, 3)
    ]
    for w, sigma2, beta in cases:
        case = f"w = {w:.4g}, σ² = {sigma2:.4g}, β = {beta:.4g}"
        a, s2 = (
            finite(v, case, "a and s² are finite for σ² > 0, β > 0")
            for v in pair(call(beta_vae_encoder, w, sigma2, beta), "(a, s2)")
        )
        mu1, var1 = _best_q(1.3, w, sigma2, beta)
        posterior = LinearGaussian(w, sigma2).posterior(1.0)
        compare(
            a,
            mu1 / 1.3,
            f"a, {case}",
            mistakes=[
                (posterior[0], "that is the exact posterior's slope w/(w² + σ²): β must enter"),
                (
                    beta * w / (beta * w**2 + sigma2),
                    "β weighs the KL, not the likelihood: it multiplies the prior's precision "
                    "term, a = w / (w² + βσ²) has the β next to σ²",
                ),
                (1 / w, "1/w is the autoencoder's slope (β = 0): the KL pulls μ towards 0"),
            ],
            nonfinite="a is finite",
            rtol=1e-5,
            atol=1e-8,
        )
        compare(
            s2,
            var1,
            f"s², {case}",
            mistakes=[
                (posterior[1], "that is the exact posterior's variance σ²/(w² + σ²): β must enter"),
                (
                    sigma2 / (w**2 + beta * sigma2),
                    "set the derivative in s² to zero again: w²/σ² + β(1 − 1/s²) = 0",
                ),
                (
                    sigma2 / (beta * w**2 + sigma2),
                    "β weighs the KL, not the likelihood: 1/s² = 1 + w²/(βσ²)",
                ),
            ],
            nonfinite="s² is finite",
            rtol=1e-5,
            atol=1e-8,
        )
    return (
        "a = w/(w² + βσ²) and s² = βσ²/(w² + βσ²): β = 1 gives the exact posterior, β > 1 "
        "shrinks the mean towards 0 and widens q towards the prior."
    )


# Exercise 2 · notebooks 11 and 12: when the linear β-VAE collapses ------------------------------

_HERMITE = np.polynomial.hermite_e.hermegauss(8)  # exact for E_x of polynomials of degree ≤ 15


def _data_average(v, f):
    r""":math:`\mathbb E_{x \sim \mathcal N(0, v)} f(x)` by Gauss–Hermite quadrature."""
    nodes, weights = _HERMITE
    return float(np.sum(weights * f(math.sqrt(v) * nodes)) / math.sqrt(2 * math.pi))


def _rate_distortion(params, v, sigma2):
    r"""(R, D) of the linear VAE with decoder weight w and encoder q(z|x) = N(a x, s²) on data
    x ~ N(0, v), params = (w, a, log s²); by quadrature over x."""
    w, a, log_s2 = params
    model, s2 = LinearGaussian(w, sigma2), math.exp(log_s2)
    distortion = _data_average(v, lambda x: -model.expected_log_likelihood(x, a * x, s2))
    rate = _data_average(v, lambda x: kl_normal(a * x, s2))
    return rate, distortion


def _best_linear_vae(v, sigma2, beta):
    """(w², R, D) at the minimum of D + βR over (w, a, log s²), from several starts."""
    best = None
    for start in ([0.05, 0.05, -0.5], [1.0, 0.5, -1.0], [math.sqrt(v), 0.3, -2.0]):
        found = optimize.minimize(
            lambda p: (lambda r, d: d + beta * r)(*_rate_distortion(p, v, sigma2)),
            x0=start,
            method="BFGS",
            options={"gtol": 1e-10, "maxiter": 20_000},
        )
        if best is None or found.fun < best.fun:
            best = found
    rate, distortion = _rate_distortion(best.x, v, sigma2)
    return best.x[0] ** 2, rate, distortion


@exercise("Exercise 2, linear_vae_optimum")
def check_linear_vae_optimum(linear_vae_optimum):
    r"""``linear_vae_optimum(lam, sigma2, beta) -> (w2, rate, distortion)``: the β-VAE with
    :math:`p(z) = \mathcal N(0,1)`, :math:`p(x \mid z) = \mathcal N(wz, \sigma^2)` (σ² fixed),
    :math:`q(z \mid x) = \mathcal N(ax, s^2)`, trained on data
    :math:`x \sim \mathcal N(0, \lambda)`: w², R and D at the minimum of D + βR over (w, a, s²);
    against a numerical minimisation of D + βR computed by quadrature over x."""
    rng = input_rng(202)
    cases = [(3.0, 0.5, 2.0), (1.0, 0.5, 4.0), (2.0, 1.0, 1.0), (0.3, 0.2, 0.5)]
    for ratio in (rng.uniform(1.5, 6.0), rng.uniform(0.15, 0.7)):  # one on each side
        v, sigma2 = float(rng.uniform(0.5, 4.0)), float(rng.uniform(0.2, 1.0))
        cases.append((v, sigma2, float(v / (ratio * sigma2))))
    for v, sigma2, beta in cases:
        case = f"λ = {v:.4g}, σ² = {sigma2:.4g}, β = {beta:.4g}"
        out = call(linear_vae_optimum, v, sigma2, beta)
        if not (isinstance(out, tuple | list) and len(out) == 3):
            raise Wrong(f"you returned a {type(out).__name__}: return a triple (w2, rate, D).")
        w2, rate, distortion = _best_linear_vae(v, sigma2, beta)
        threshold = beta * sigma2
        constant = 0.5 * math.log(2 * math.pi * sigma2)
        compare(
            out[0],
            w2,
            f"w², {case}",
            mistakes=[
                (v - threshold, "w² cannot be negative: below the threshold the optimum is w = 0"),
                (max(0.0, v - sigma2), "β is missing: the threshold is βσ², not σ²"),
                (v, "w² = λ leaves no room for the decoder noise: w² + βσ² = λ"),
            ],
            nonfinite="w² is finite",
            rtol=1e-4,
            atol=1e-5,
        )
        compare(
            out[1],
            rate,
            f"the rate R, {case}",
            mistakes=[
                (
                    0.5 * math.log(v / threshold),
                    "a rate is never negative: below the threshold the code collapses, R = 0",
                ),
                (
                    0.5 * math.log(v / sigma2) if v > sigma2 else 0.0,
                    "β is missing from the rate: R = ½ log(λ / βσ²) above the threshold",
                ),
                (math.log(v / threshold), "the rate has a ½: R = ½ log(λ / βσ²)"),
            ],
            nonfinite="R is finite",
            rtol=1e-4,
            atol=1e-5,
        )
        compare(
            out[2],
            distortion,
            f"the distortion D, {case}",
            mistakes=[
                (distortion - constant, "keep the constant ½ log(2πσ²) of −log N(x; wz, σ²)"),
                (
                    constant + 0.5,
                    "that is the distortion at β = 1: at the optimum D = ½ log(2πσ²) + β/2",
                ),
                (
                    constant + v / (2 * sigma2),
                    "that is the collapsed model's distortion, right only below the threshold",
                ),
            ],
            nonfinite="D is finite",
            rtol=1e-4,
            atol=1e-5,
        )
    return (
        "The code collapses exactly when λ ≤ βσ²: then w = 0, R = 0 and D = ½ log 2πσ² + λ/2σ². "
        "Above, w² = λ − βσ², R = ½ log(λ/βσ²) and D = ½ log 2πσ² + β/2."
    )


# Exercise 3 · notebooks 10 and 11: the rate in three parts --------------------------------------


def _rate_split_reference(A, s2, Sigma):
    """(I, TC, dimension-wise KL, R) of a linear-Gaussian encoder, from scipy's entropies and
    torch.distributions' KL (not from the closed forms the exercise asks for)."""
    C = A @ Sigma @ A.T + np.diag(s2)
    joint = stats.multivariate_normal(mean=np.zeros(len(s2)), cov=C).entropy()
    own = sum(stats.norm(scale=math.sqrt(v)).entropy() for v in s2)
    marginals = sum(stats.norm(scale=math.sqrt(c)).entropy() for c in np.diag(C))
    standard = Normal(
        torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    )
    dimwise = float(
        kl_divergence(
            Normal(torch.zeros(len(s2), dtype=torch.float64), torch.tensor(np.diag(C)).sqrt()),
            standard,
        ).sum()
    )
    rate = 0.5 * float(np.trace(A @ Sigma @ A.T) + np.sum(s2) - len(s2) - np.sum(np.log(s2)))
    return joint - own, marginals - joint, dimwise, rate


@exercise("Exercise 3, rate_split")
def check_rate_split(rate_split):
    r"""``rate_split(A, s2, Sigma) -> (I, TC, dimwise)``: for the encoder
    :math:`q(z \mid x) = \mathcal N(Ax, \mathrm{diag}\,s^2)`, data :math:`x \sim \mathcal N(0,
    \Sigma)` and prior N(0, I), the mutual information :math:`I_q(X; Z)`, the total correlation
    of the aggregate posterior and :math:`\sum_j \mathrm{KL}(\bar q(z_j)\,\|\,p(z_j))`; against
    entropies from scipy.stats and KLs from torch.distributions, and their sum against the rate."""
    rng = input_rng(203)
    B = rng.normal(size=(3, 3))
    cases = [
        (
            "A (3 × 3) and s² drawn at random",
            rng.normal(size=(3, 3)),
            rng.uniform(0.05, 1.5, 3),
            B @ B.T + 0.1 * np.eye(3),
        ),
        (
            "two units reading the same pixel",
            np.array([[1.0, 0.0], [1.0, 0.0]]),
            np.array([0.5, 0.5]),
            np.eye(2),
        ),
        (
            "two units reading two independent pixels",
            np.diag([2.0, 0.5]),
            np.array([0.2, 0.9]),
            np.diag([1.5, 0.7]),
        ),
        (
            "one dead unit (its row of A is 0, s² = 1)",
            np.array([[1.2, -0.4], [0.0, 0.0]]),
            np.array([0.3, 1.0]),
            np.array([[1.0, 0.6], [0.6, 2.0]]),
        ),
        ("a single unit", np.array([[0.8, 0.3, -0.5]]), np.array([0.4]), np.eye(3)),
    ]
    for case, A, s2, Sigma in cases:
        out = call(rate_split, A, s2, Sigma)
        if not (isinstance(out, tuple | list) and len(out) == 3):
            raise Wrong(f"you returned a {type(out).__name__}: return a triple (I, TC, dimwise).")
        info, tc, dimwise, rate = _rate_split_reference(A, s2, Sigma)
        C = A @ Sigma @ A.T + np.diag(s2)
        half_logdet = 0.5 * np.linalg.slogdet(C)[1]
        compare(
            out[0],
            info,
            f"I(X; Z), {case}",
            mistakes=[
                (half_logdet, "subtract the entropy of q(z|x): I = H(q̄) − H(q(z|x))"),
                (-info, "wrong sign: I(X; Z) = H(Z) − H(Z|X) ≥ 0"),
                (rate, "that is the rate R, which bounds I from above"),
            ],
            nonfinite="I is finite",
            rtol=1e-6,
            atol=1e-9,
        )
        compare(
            out[1],
            tc,
            f"the total correlation, {case}",
            mistakes=[
                (-tc, "wrong sign: TC = KL(q̄(z) ‖ ∏ q̄(z_j)) ≥ 0"),
                (0.0 if tc > 1e-6 else None, "q̄ couples the units through A Σ Aᵀ: TC > 0 here"),
            ],
            nonfinite="TC is finite",
            rtol=1e-6,
            atol=1e-9,
        )
        c = np.diag(C)
        compare(
            out[2],
            dimwise,
            f"the dimension-wise KL, {case}",
            mistakes=[
                (
                    0.5 * np.sum(1 / c - 1 + np.log(c)),
                    "that is KL(p(z_j) ‖ q̄(z_j)), the other direction",
                ),
                (0.5 * np.sum(c - 1 - np.log(c)) * 2, "a KL between Gaussians has a ½ in front"),
            ],
            nonfinite="the dimension-wise KL is finite",
            rtol=1e-6,
            atol=1e-9,
        )
    return (
        "The three terms add up to the rate: I(X; Z) ≤ R, with the gap split into the units' "
        "coupling (TC) and each unit's mismatch with its prior."
    )


# Exercise 4 · InfoVAE's divergence: the unbiased MMD² estimator ----------------------------------


def _mmd2_reference(z, y, bandwidth):
    r"""The unbiased :math:`\widehat{\mathrm{MMD}}^2_u` of Gretton et al. (2012) with
    :math:`\kappa(u, u') = \exp(-\lVert u - u'\rVert^2 / 2h^2)`, the biased V-statistic, and the
    statistic with the kernel's 2 forgotten."""
    out = []
    for scale in (2 * bandwidth**2, bandwidth**2):
        kzz, kyy = (np.exp(-cdist(a, a, "sqeuclidean") / scale) for a in (z, y))
        kzy = np.exp(-cdist(z, y, "sqeuclidean") / scale)
        n, m = len(z), len(y)
        unbiased = (kzz.sum() - np.trace(kzz)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (
            m * (m - 1)
        )
        out.append((unbiased - 2 * kzy.mean(), kzz.mean() + kyy.mean() - 2 * kzy.mean(), kzy))
    (unbiased, biased, kzy), (no_two, _, _) = out
    return unbiased, biased, no_two, unbiased + kzy.mean()


def _gaussian_kernel_mean(mean, cov, bandwidth):
    r""":math:`\mathbb E\,\kappa(u, u')` for
    :math:`u - u' \sim \mathcal N(\text{mean}, \text{cov})`:
    :math:`\det(I + \Sigma/h^2)^{-1/2} \exp(-\tfrac12 m^\top (\Sigma + h^2 I)^{-1} m)`."""
    d = len(mean)
    scaled = np.eye(d) + cov / bandwidth**2
    quad = mean @ np.linalg.solve(cov + bandwidth**2 * np.eye(d), mean)
    return float(np.exp(-0.5 * quad) / math.sqrt(np.linalg.det(scaled)))


def exact_mmd2(mean, cov, bandwidth):
    r""":math:`\mathrm{MMD}^2(\mathcal N(\text{mean}, \text{cov}), \mathcal N(0, I))` with the
    Gaussian kernel of bandwidth h, in closed form."""
    d = len(mean)
    return (
        _gaussian_kernel_mean(np.zeros(d), 2 * cov, bandwidth)
        + _gaussian_kernel_mean(np.zeros(d), 2 * np.eye(d), bandwidth)
        - 2 * _gaussian_kernel_mean(np.asarray(mean), cov + np.eye(d), bandwidth)
    )


@exercise("Exercise 4, mmd2_unbiased")
def check_mmd2_unbiased(mmd2_unbiased):
    r"""``mmd2_unbiased(z, z_prior, bandwidth)``: Gretton et al.'s unbiased estimate of
    :math:`\mathrm{MMD}^2` between the samples z (S, d) and z_prior (S', d) with the Gaussian kernel
    :math:`\exp(-\lVert u - u'\rVert^2/2h^2)`, the divergence InfoVAE puts in place of the KL;
    against a reference on drawn samples, and unbiased against the closed form on Gaussians."""
    rng = input_rng(204)
    cases = [
        (
            "z (6, 2), z_prior (4, 2), h = 1",
            rng.normal(size=(6, 2)) + 1.0,
            rng.normal(size=(4, 2)),
            1.0,
        ),
        (
            "z (50, 3), z_prior (40, 3), h = 0.7",
            rng.normal(size=(50, 3)) * 1.5,
            rng.normal(size=(40, 3)),
            0.7,
        ),
        ("two samples of the same points, h = 2", *(2 * [rng.normal(size=(5, 2))]), 2.0),
    ]
    for case, z, y, bandwidth in cases:
        unbiased, biased, no_two, single = _mmd2_reference(z, y, bandwidth)
        compare(
            call(mmd2_unbiased, z, y, bandwidth),
            unbiased,
            case,
            mistakes=[
                (
                    biased,
                    "that is the biased V-statistic: leave out the i = j terms of κ(z, z) "
                    "and κ(z′, z′), and divide by S(S − 1) and S′(S′ − 1)",
                ),
                (no_two, "the kernel is exp(−‖u − u′‖² / 2h²): the 2 is missing"),
                (single, "the cross term counts twice: − 2/(SS′) Σ κ(z_i, z′_j)"),
            ],
            shapes={(len(z), len(y)): "sum the kernel matrices to one number"},
            nonfinite="every kernel value lies in (0, 1]",
            rtol=1e-6,
            atol=1e-9,
        )
    mean, cov, bandwidth = np.array([0.8, -0.3]), np.array([[1.5, 0.4], [0.4, 0.6]]), 1.2
    factor, base = np.linalg.cholesky(cov), int(rng.integers(2**31))

    def estimate(seed):
        draws = np.random.default_rng([base, seed])
        z = mean + draws.standard_normal((4, 2)) @ factor.T
        return call(mmd2_unbiased, z, draws.standard_normal((5, 2)), bandwidth)

    exact = exact_mmd2(mean, cov, bandwidth)
    monte_carlo(estimate, exact, "4 draws of N((0.8, −0.3), Σ) against 5 of N(0, I)", seeds=400)
    return (
        f"It matches the reference, and over 400 small samples it averages to the exact "
        f"MMD² = {exact:.4f}: unbiased, even from 4 and 5 draws."
    )


# Exercise 5 · notebooks 11 and 12: predict, then measure ---------------------------------------

PREDICT_BETA = 2.5  # the β of the run whose units are predicted
PREDICT_EPOCHS = 20
PREDICT_TOLERANCE = 1  # units


def measure_units(seed=0):
    """The number of the 8 latent units whose test KL exceeds 0.1 nats, for an MLP-decoder VAE
    trained with :func:`~elbo_lib.vae.train_vae` at β = 2.5 for 20 epochs."""
    x_train, x_test, _, _ = load_digits()
    with seeded(seed):
        model = VAE(z_dim=8)
    train_vae(model, x_train, epochs=PREDICT_EPOCHS, beta=PREDICT_BETA, seed=seed)
    per_unit = kl_per_dimension(model, x_test)
    return int((per_unit > KL_UNIT).sum()), float(per_unit.sum())


@exercise("Exercise 5, predict the units that survive β = 2.5")
def check_units_prediction(predicted_units):
    r"""``predicted_units() -> int``: the prediction of how many of 8 units carry more than 0.1
    nats at β = 2.5; then the check trains that model (seed from the harness) and counts. It
    passes within ±1 unit."""
    got = finite(numbers(call(predicted_units)), "your prediction", "predict a whole number")
    if got.shape != () or float(got) != round(float(got)) or not 0 <= got <= 8:
        raise Wrong("return one whole number of units between 0 and 8.")
    seed = int(input_rng(205).integers(1000))
    with torch_threads():
        units, rate = measure_units(seed)
    told = (
        f"you predicted {int(got)}; the run (seed {seed}) keeps {estimate(units, 0)} of 8 units "
        f"above {KL_UNIT} nats (rate {estimate(rate)} nats)"
    )
    if abs(int(got) - units) <= PREDICT_TOLERANCE:
        return f"{told}: β > 1 switches units off rather than shrinking all of them."
    if got > units:
        raise Wrong(
            f"{told}. At β = 2.5 a nat of rate costs two and a half nats of distortion: only "
            "the units whose information saves more than 2.5 times their KL survive."
        )
    raise Wrong(
        f"{told}. β = 2.5 is not yet the β = 8 of notebook 11, where the code died: the units that "
        "tell the digit classes apart are worth their price."
    )


# Exercise 6 · notebook 12: the mini-project -----------------------------------------------------

PROJECT_EPOCHS = 30  # the collapse-prone configuration of notebook 12: MADE(256), Adam 0.01
PROJECT_LR = 1e-2
PROJECT_UNITS = 8
PROJECT_MIN_UNITS = 7  # units whose test KL exceeds 0.1 nats
PROJECT_MARGIN = 0.5  # nats of test −ELBO the plan may lose against the constant β = 1 baseline
PROJECT_FINAL = 0.25  # the last quarter of the steps must train the ELBO itself (β = 1)
PROJECT_MAX_FREE_BITS = 0.5


def project_steps():
    """The number of optimiser steps of the mini-project's training (30 epochs of 1437 digits)."""
    x_train, _, _, _ = load_digits()
    return training_steps(len(x_train), PROJECT_EPOCHS)


def project_run(betas, free_bits, seed):
    """Train the collapse-prone MADE VAE (8 units) with the per-step ``betas`` and
    ``free_bits``; returns (test −ELBO, units with KL > 0.1 nats, test KL, per-step β used)."""
    x_train, x_test, _, _ = load_digits()
    model = make_model("MADE", z_dim=PROJECT_UNITS, seed=seed)
    used = []

    def schedule(step):
        used.append(betas[step])
        return betas[step]

    train_vae(
        model,
        x_train,
        epochs=PROJECT_EPOCHS,
        lr=PROJECT_LR,
        seed=seed,
        beta=schedule,
        free_bits=free_bits,
    )
    elbo = evaluate_elbo(model, x_test, seed=seed)
    per_unit = kl_per_dimension(model, x_test)
    return (
        -float(elbo["elbo"].mean()),
        int((per_unit > KL_UNIT).sum()),
        float(per_unit.sum()),
        used,
    )


@exercise("Exercise 6, the mini-project")
def check_collapse_plan(collapse_plan):
    r"""``collapse_plan(steps) -> (betas, free_bits)``: a per-step KL weight (``steps`` numbers
    in [0, 1], β = 1 over the last quarter) and a free-bits floor δ ∈ [0, 0.5]. The check trains
    the collapse-prone MADE VAE of notebook 12 (8 units, Adam 0.01, 30 epochs) with the plan and
    with constant β = 1 (the baseline, which collapses), at one seed drawn by the harness. The
    plan passes with at least 7 units above 0.1 nats and a test −ELBO at most 0.5 nats worse than
    the baseline's; the β trace recorded during training must be the plan's."""
    steps = project_steps()
    plan = pair(call(collapse_plan, steps), "(betas, free_bits)")
    betas = finite(plan[0], "your betas", "every β is a finite number")
    free_bits = finite(plan[1], "your free_bits", "δ is a finite number")
    if betas.shape != (steps,):
        raise Wrong(f"return one β per step: shape ({steps},), not {betas.shape}.")
    if free_bits.shape != () or not 0 <= float(free_bits) <= PROJECT_MAX_FREE_BITS:
        raise Wrong(f"free_bits is one number δ between 0 and {PROJECT_MAX_FREE_BITS} nats.")
    if np.any(betas < 0) or np.any(betas > 1):
        raise Wrong("every β must lie in [0, 1]: the aim is the ELBO, not a β-VAE with β > 1.")
    final = steps - math.ceil(PROJECT_FINAL * steps)
    if np.any(betas[final:] != 1):
        raise Wrong(
            f"β must be exactly 1 over the last quarter (steps {final} to {steps - 1}): the model "
            "must end on the ELBO itself."
        )
    if np.all(betas == 1) and float(free_bits) == 0:
        raise Wrong("that is the baseline itself, constant β = 1: it collapses. Change the plan.")
    seed = int(input_rng(206).integers(1000))
    betas, free_bits = [float(b) for b in betas], float(free_bits)
    with torch_threads():
        base_nats, base_units, base_kl, _ = project_run([1.0] * steps, 0.0, seed)
        nats, units, kl, used = project_run(betas, free_bits, seed)
    if used != betas:
        raise Wrong("the training did not use your β at every step")  # never expected
    told = (
        f"seed {seed}: your plan keeps {estimate(units, 0)} of {PROJECT_UNITS} units above "
        f"{KL_UNIT} nats (KL {estimate(kl)} nats) at a test −ELBO of {estimate(nats)} nats; the "
        f"baseline, constant β = 1, keeps {estimate(base_units, 0)} (KL {estimate(base_kl)}) at "
        f"{estimate(base_nats)} nats"
    )
    if units < PROJECT_MIN_UNITS:
        raise Wrong(
            f"{told}. Keep at least {PROJECT_MIN_UNITS}: a warm-up alone lets the decoder learn "
            "to read z, but the KL still switches units off once β = 1; a floor δ keeps them"
        )
    if nats > base_nats + PROJECT_MARGIN:
        raise Wrong(
            f"{told}. That is more than {PROJECT_MARGIN} nats worse than the baseline: the code "
            "costs more than it gives back. Lower δ, or shorten the time spent at small β"
        )
    return f"{told}: a live code at an ELBO within {PROJECT_MARGIN} nats of the collapsed one."


ALLOWED_CALLS = frozenset()  # no library call: every quantity asked for is the answer's own

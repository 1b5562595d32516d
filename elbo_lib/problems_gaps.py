r"""Checks for notebook 21, the problem set on closing the gaps (lectures 13–16).

Each ``check_<function>(your_function)`` calls the answer through :mod:`elbo_lib.harness` on
inputs drawn from the grading seed (and on hand-picked edge cases), compares it with an
independent computation, and prints one verdict (``…``, ``✗`` with a hint, or ``✓``):

* the IWAE gradient of a linear-Gaussian model, against ``torch.autograd``;
* the coordinate-ascent fixed point of the Normal–Gamma model, against a numerical maximisation of
  the mean-field ELBO computed by quadrature from ``scipy.stats`` densities;
* the largest fall of a single draw of the IWAE estimate, against the supremum
  :math:`\log(K/m)` and the example's own log-mean-exps;
* the radial flow and its log-determinant, against ``torch.autograd``'s Jacobian.
"""

import functools
import math

import numpy as np
import torch
from scipy import optimize, special, stats

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import Adam
from elbo_lib.flows import FlowPosterior, PlanarFlow
from elbo_lib.harness import (
    Wrong,
    call,
    compare,
    exercise,
    finite,
    input_generator,
    input_rng,
    numbers,
    pair,
)

# Exercise 1 · notebook 13 -----------------------------------------------------------------------


def _log_weights(x, mu, log_s, w, sigma2, eps, path=True, density=True):
    r""":math:`\log r_k = \log \mathcal N(z_k; 0, 1) + \log \mathcal N(x; w z_k, \sigma^2) -
    \log q(z_k)` at :math:`z_k = \mu + e^{\log s}\varepsilon_k` in torch (float64). ``path`` or
    ``density`` False cuts one of the two ways q's parameters enter :math:`\log q(z_k)` (the
    draw, the density), as a common mistake does."""
    s = log_s.exp()
    z = mu + s * eps
    z_q = z if path else z.detach()
    mu_q, s_q = (mu, s) if density else (mu.detach(), s.detach())
    log_q = -0.5 * math.log(2 * math.pi) - s_q.log() - 0.5 * ((z_q - mu_q) / s_q) ** 2
    log_prior = -0.5 * math.log(2 * math.pi) - 0.5 * z**2
    log_lik = -0.5 * math.log(2 * math.pi * sigma2) - 0.5 * (x - w * z) ** 2 / sigma2
    return log_prior + log_lik - log_q


def _iwae_reference(x, mu, log_s, w, sigma2, eps):
    """The normalised weights and autograd's gradient of log (1/K) Σ r_k in (μ, log s, w), with
    the gradients of the common mistakes."""
    params = [
        torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in (mu, log_s, w)
    ]
    eps_t = torch.as_tensor(eps, dtype=torch.float64)

    def grad(value):
        return np.array([g.item() for g in torch.autograd.grad(value, params, retain_graph=True)])

    log_r = _log_weights(x, *params[:2], params[2], sigma2, eps_t)
    k = len(eps)
    bound = torch.logsumexp(log_r, 0) - math.log(k)
    weights = torch.softmax(log_r, 0).detach().numpy()
    gradient = grad(bound)
    mistakes = {
        "uniform": grad(log_r.mean()),
        "no path": grad(
            torch.logsumexp(_log_weights(x, *params[:2], params[2], sigma2, eps_t, path=False), 0)
        ),
        "no density": grad(
            torch.logsumexp(
                _log_weights(x, *params[:2], params[2], sigma2, eps_t, density=False), 0
            )
        ),
        "no entropy": gradient - np.array([0.0, 1.0, 0.0]),
    }
    return weights, gradient, log_r.detach().numpy(), mistakes


@exercise("Exercise 1, iwae_gradient")
def check_iwae_gradient(iwae_gradient):
    r"""``iwae_gradient(x, mu, log_s, w, sigma2, eps) -> (weights, gradient)``: for
    :math:`p(z) = \mathcal N(0, 1)`, :math:`p(x \mid z) = \mathcal N(wz, \sigma^2)`,
    :math:`q = \mathcal N(\mu, s^2)` and the draws :math:`z_k = \mu + s\varepsilon_k`, the
    normalised weights :math:`\tilde r_k` (K,) and the gradient of
    :math:`\log\frac1K\sum_k r_k` in :math:`(\mu, \log s, w)` (3,), against ``torch.autograd``."""
    rng = input_rng(1)
    k = int(rng.integers(3, 9))
    cases = [
        (
            f"K = {k}, x, μ, log s, w, σ² and ε drawn at random",
            float(rng.normal(0, 2)),
            float(rng.normal()),
            float(rng.uniform(-1.0, 0.5)),
            float(rng.normal(1.0, 0.5)),
            float(rng.uniform(0.3, 2.0)),
            rng.standard_normal(k),
        ),
        (
            "K = 1 (the ELBO): x = 1.2, μ = 0.3, log s = -0.5, w = 1.5, σ² = 0.4, ε = (0.7)",
            1.2,
            0.3,
            -0.5,
            1.5,
            0.4,
            np.array([0.7]),
        ),
        (
            "log-weights hundreds of nats apart: x = 2, μ = 0, log s = 3, w = 2, σ² = 0.5, "
            "ε = (-3, 0.1, 3)",
            2.0,
            0.0,
            3.0,
            2.0,
            0.5,
            np.array([-3.0, 0.1, 3.0]),
        ),
        (
            "every log-weight below -1000 (exp underflows to 0): x = 40, μ = 0, log s = -1, "
            "w = 1, σ² = 0.5, ε = (-2, 0.5, 1.5, 2.5)",
            40.0,
            0.0,
            -1.0,
            1.0,
            0.5,
            np.array([-2.0, 0.5, 1.5, 2.5]),
        ),
    ]
    for case, x, mu, log_s, w, sigma2, eps in cases:
        weights, gradient, log_r, mistakes = _iwae_reference(x, mu, log_s, w, sigma2, eps)
        got_weights, got_gradient = pair(
            call(iwae_gradient, x, mu, log_s, w, sigma2, eps.copy()), "(weights, gradient)"
        )
        with np.errstate(all="ignore"):
            raw = np.exp(log_r)
        compare(
            got_weights,
            weights,
            case + ", the weights",
            mistakes=[
                (
                    np.full(len(eps), 1 / len(eps)),
                    "uniform weights 1/K give the ELBO's gradient "
                    "averaged over the draws: each draw counts by its share r_k / Σ_j r_j",
                ),
                (raw, "these are the weights r_k themselves: normalise them to sum to 1"),
                (raw / len(eps), "these are r_k / K: normalise by Σ_j r_j, not by K"),
            ],
            shapes={(): "one weight per draw: return an array of shape (K,)"},
            nonfinite="exp(log r_k) under- or overflows here: subtract the largest log-weight "
            "before exponentiating (a softmax of the log-weights)",
        )
        compare(
            got_gradient,
            gradient,
            case + ", the gradient",
            mistakes=[
                (
                    mistakes["uniform"],
                    "that is the gradient of the average log-weight (the "
                    "ELBO's estimate): weight each draw's gradient by its normalised weight",
                ),
                (
                    mistakes["no entropy"],
                    "the log s entry misses +1: log q(z_k) = −log s − ε_k²/2 "
                    "− ½ log 2π along the path, so −log q(z_k) adds +1 to ∂ log r_k / ∂ log s",
                ),
                (
                    mistakes["no path"],
                    "you held z_k fixed inside log q(z_k): z_k moves with μ "
                    "and s, and that motion cancels the density's own dependence on them",
                ),
                (
                    mistakes["no density"],
                    "you let log q(z_k) change only through z_k: q's "
                    "parameters enter its density too (the two together give ∂ log q(z_k) = "
                    "−∂ log s)",
                ),
            ],
            shapes={(2,): "three entries: (μ, log s, w), the decoder's weight w included"},
            nonfinite="the gradient is finite: compute it from the normalised weights",
        )
    return (
        "∇ log (1/K) Σ r_k = Σ_k r̃_k ∇ log r_k, with ∂ log r_k/∂μ = g(z_k), ∂/∂ log s = "
        "g(z_k) s ε_k + 1 and ∂/∂w = (x − w z_k) z_k / σ², g(z) = −z + w (x − w z)/σ²."
    )


# Exercise 2 · notebook 16 -----------------------------------------------------------------------

_HERMITE = np.polynomial.hermite.hermgauss(24)
_LEGENDRE = np.polynomial.legendre.leggauss(120)


def _mean_field_elbo(x, mu0, nu0, kappa0, eta0, m, s2, a, b):
    r"""The mean-field ELBO :math:`\mathbb E_q[\log p(x, \mu, \tau)] + H[q(\mu)] + H[q(\tau)]` of
    :math:`q(\mu)q(\tau) = \mathcal N(m, s^2)\,\mathrm{Gamma}(a, b)` (shape a, rate b) by
    quadrature: Gauss–Hermite in μ, Gauss–Legendre in log τ (whose density is
    ``scipy.stats.loggamma``'s, shifted by −log b), with the log-joint and the entropies from
    ``scipy.stats``."""
    t, wt = _HERMITE
    mus = m + math.sqrt(2 * s2) * t
    lo, hi = special.digamma(a) - 35 / a - 2, math.log(a + 40 * math.sqrt(a) + 40)  # 1e-15 tails
    u = (lo + hi) / 2 + (hi - lo) / 2 * _LEGENDRE[0]
    wy = _LEGENDRE[1] * (hi - lo) / 2 * stats.loggamma.pdf(u, a)
    taus = np.exp(u) / b
    mu_grid, tau_grid = mus[:, None], taus[None, :]
    sd = 1 / np.sqrt(tau_grid)
    log_joint = (
        stats.norm.logpdf(np.asarray(x)[:, None, None], mu_grid, sd).sum(0)
        + stats.norm.logpdf(mu_grid, mu0, sd / math.sqrt(nu0))
        + stats.gamma.logpdf(tau_grid, kappa0, scale=1 / eta0)
    )
    expected = (wt / math.sqrt(math.pi)) @ log_joint @ wy
    return expected + stats.norm(m, math.sqrt(s2)).entropy() + stats.gamma(a, scale=1 / b).entropy()


def _mean_field_optimum(x, mu0, nu0, kappa0, eta0):
    """The (m, s², κ, η) that maximise :func:`_mean_field_elbo`, found by BFGS in (m, log s²,
    log a, log b) from a start built from the data's moments."""
    x = np.asarray(x, dtype=float)
    return _optimum(x.tobytes(), float(mu0), float(nu0), float(kappa0), float(eta0)).copy()


@functools.lru_cache(maxsize=64)
def _optimum(data, mu0, nu0, kappa0, eta0):
    x = np.frombuffer(data)
    n = len(x)
    start = np.array(
        [
            x.mean(),
            math.log((x.var() + 1) / n),
            math.log(kappa0 + n / 2),
            math.log(eta0 + n * x.var() / 2 + 1),
        ]
    )

    def loss(v):
        return -_mean_field_elbo(x, mu0, nu0, kappa0, eta0, v[0], *np.exp(v[1:]))

    result = optimize.minimize(loss, start, method="BFGS", options={"gtol": 1e-8})
    return np.array([result.x[0], *np.exp(result.x[1:])])


def _normal_gamma_sweeps(x, mu0, nu0, kappa0, eta0, mistake=None, sweeps=500):
    """The coordinate-ascent fixed point as a common ``mistake`` computes it (or right: None)."""
    n, total = len(x), float(np.sum(x))
    m = (nu0 * mu0 + total) / (nu0 + n)
    a = kappa0 + (n if mistake == "half" else n + 1) / 2
    e_tau = kappa0 / eta0
    for _ in range(sweeps):
        precision = (n if mistake == "no prior" else nu0 + n) * e_tau
        s2 = 1 / precision
        spread = 0.0 if mistake == "plug-in" else s2
        b = eta0 + 0.5 * (np.sum((x - m) ** 2) + n * spread + nu0 * ((m - mu0) ** 2 + spread))
        e_tau = a / b
    return np.array([m, s2, a, 1 / b if mistake == "scale" else b])


@exercise("Exercise 2, cavi_normal_gamma")
def check_cavi_normal_gamma(cavi_normal_gamma):
    r"""``cavi_normal_gamma(x, mu0, nu0, kappa0, eta0) -> (m, s2, kappa, eta)``: the fixed point of
    coordinate ascent for :math:`x_i \sim \mathcal N(\mu, 1/\tau)`,
    :math:`\mu \mid \tau \sim \mathcal N(\mu_0, 1/(\nu_0\tau))`,
    :math:`\tau \sim \mathrm{Gamma}(\kappa_0, \eta_0)` (rate :math:`\eta_0`) with
    :math:`q = \mathcal N(m, s^2)\,\mathrm{Gamma}(\kappa, \eta)` (Bishop's λ₀, a, b renamed: λ
    and b mean other things in this course), against the maximum of the mean-field ELBO found
    numerically (quadrature and BFGS)."""
    rng = input_rng(2)
    n = int(rng.integers(6, 25))
    cases = [
        (
            f"N = {n} points and a prior drawn at random",
            rng.normal(rng.normal(0, 3), rng.uniform(0.5, 3), n),
            float(rng.normal()),
            float(rng.uniform(0.2, 3)),
            float(rng.uniform(1, 4)),
            float(rng.uniform(0.5, 3)),
        ),
        (
            "a single point x = (2.5), μ₀ = 0, ν₀ = 1, κ₀ = 2, η₀ = 1",
            np.array([2.5]),
            0.0,
            1.0,
            2.0,
            1.0,
        ),
        (
            "five points far from the prior's mean: x = (9.1, 10.4, 8.7, 11.2, 9.9), μ₀ = -1, "
            "ν₀ = 4, κ₀ = 1.35, η₀ = 2",
            np.array([9.1, 10.4, 8.7, 11.2, 9.9]),
            -1.0,
            4.0,
            1.35,
            2.0,
        ),
    ]
    for case, x, mu0, nu0, kappa0, eta0 in cases:
        expected = _mean_field_optimum(x, mu0, nu0, kappa0, eta0)
        got = call(cavi_normal_gamma, x.copy(), mu0, nu0, kappa0, eta0)
        if not (isinstance(got, tuple | list) and len(got) == 4):
            raise Wrong(
                f"you returned a {type(got).__name__}: return the four numbers (m, s2, kappa, eta)."
            )
        got = np.array(
            [float(numbers(v).reshape(-1)[0]) if numbers(v).size == 1 else np.nan for v in got]
        )

        model = (x, mu0, nu0, kappa0, eta0)
        compare(
            got,
            expected,
            case,
            mistakes=[
                (
                    _normal_gamma_sweeps(*model, "half"),
                    "κ = κ₀ + N/2 forgets that μ's prior also carries τ: "
                    "p(μ | τ) = N(μ₀, 1/(ν₀τ)) contributes τ^{1/2}, so κ = κ₀ + (N + 1)/2",
                ),
                (
                    _normal_gamma_sweeps(*model, "plug-in"),
                    "your η uses (x_i − m)² where E_q[(x_i − μ)²] = "
                    "(x_i − m)² + s² belongs (and likewise for ν₀(μ − μ₀)²)",
                ),
                (
                    _normal_gamma_sweeps(*model, "no prior"),
                    "the precision of q(μ) is (ν₀ + N)·E[τ]: the prior's ν₀ is missing",
                ),
                (
                    _normal_gamma_sweeps(*model, "scale"),
                    "η is the rate of the Gamma (mean κ/η), not its scale",
                ),
            ],
            rtol=1e-4,
            nonfinite="every update is finite for N ≥ 1",
        )
    return (
        "It is the maximum of the mean-field ELBO. Note m = (ν₀μ₀ + Σx_i)/(ν₀ + N), the exact "
        "posterior mean of μ, while s² is smaller than the exact posterior variance."
    )


# Exercise 3 · notebook 13 -----------------------------------------------------------------------


def _log_mean_exp(log_w):
    top = np.max(log_w)
    return top + math.log(np.mean(np.exp(log_w - top)))


@exercise("Exercise 3, largest_drop")
def check_largest_drop(largest_drop):
    r"""``largest_drop(m, K) -> (drop, log_w)``: the supremum over single draws of
    :math:`\hat{\mathcal L}_m - \hat{\mathcal L}_K` (the first m of the same K log-weights),
    :math:`\log(K/m)`, and finite log-weights whose drop comes within 0.01 nats of it."""
    rng = input_rng(3)
    k_drawn = int(rng.integers(5, 40))
    drawn = (int(rng.integers(2, k_drawn)), k_drawn)
    for m, k in ((1, 2), drawn, (3, 4), (1, 50)):
        case = f"m = {m}, K = {k}"
        drop, log_w = pair(call(largest_drop, m, k), "(drop, log_w)")
        supremum = math.log(k / m)
        drop = numbers(drop)
        if drop.size != 1:
            raise Wrong(f"for {case} the drop has shape {drop.shape}: return one number.")
        compare(
            drop.reshape(()),
            supremum,
            case + ", the largest drop",
            mistakes=[
                (0.0, "a single draw can fall: with K = 2, L̂₂ < L̂₁ whenever r₂ < r₁"),
                (
                    math.log(2),
                    "log 2 is the largest fall from K = 2 to m = 1 only: redo the bound for m of K",
                ),
                (math.log(k), "the largest fall depends on m as well as K"),
            ],
            nonfinite="the drop is bounded: the K weights include the first m",
        )
        log_w = finite(
            log_w,
            case,
            "give finite log-weights: the supremum is approached as the "
            "other weights shrink, never reached",
        )
        if log_w.shape != (k,):
            raise Wrong(
                f"for {case} your log-weights have shape {log_w.shape}: return K = {k} of them."
            )
        fall = _log_mean_exp(log_w[:m]) - _log_mean_exp(log_w)
        if fall < supremum - 0.01:
            raise Wrong(
                f"for {case} your log-weights fall by {fall:.4f} nats from L̂_m to L̂_K, more "
                "than 0.01 below the largest drop: make the last K − m weights much smaller "
                "than the first m"
            )
    return (
        "A single draw of L̂_K can lie up to log(K/m) below L̂_m, and only in expectation does the "
        "bound rise with K."
    )


# Exercise 4 · notebook 14 -----------------------------------------------------------------------


def _radial_reference(z, z0, alpha, gamma, constrain=True):
    """The radial map's value at each row of z and log |det| of autograd's Jacobian."""
    gamma_hat = -alpha + torch.nn.functional.softplus(gamma) if constrain else gamma

    def radial_map(point):
        r = (point - z0).norm()
        return point + gamma_hat / (alpha + r) * (point - z0)

    out = torch.stack([radial_map(p) for p in z])
    log_det = torch.stack(
        [torch.linalg.slogdet(torch.autograd.functional.jacobian(radial_map, p))[1] for p in z]
    )
    return out, log_det


def _radial_mistakes(z, z0, alpha, gamma):
    """What common mistakes return for the log-determinant."""
    d = z.shape[-1]
    gamma_hat = -alpha + torch.nn.functional.softplus(gamma)
    r = (z - z0).norm(dim=-1)
    h = 1 / (alpha + r)
    one = 1 + gamma_hat * h
    last = one - gamma_hat * h**2 * r
    return [
        (d * one.log() + last.log(), "the power of (1 + γ̂h) is d − 1, not d"),
        (
            d * one.log(),
            "the last factor is 1 + γ̂h + γ̂h′(ρ)ρ, with h′ = −1/(α + ρ)²: the "
            "derivative of h along the radius is missing",
        ),
        (
            (d - 1) * one.log() + (one + gamma_hat * h**2 * r).log(),
            "h′(ρ) = −1/(α + ρ)²: the sign of the derivative is flipped",
        ),
    ]


@exercise("Exercise 4, radial_flow")
def check_radial_flow(radial_flow):
    r"""``radial_flow(z, z0, alpha, gamma) -> (out, log_det)``: the radial layer of Rezende &
    Mohamed (2015), :math:`f(z) = z + \hat\gamma\,h(\alpha, \rho)(z - z_0)`,
    :math:`\rho = \|z - z_0\|`, :math:`h = 1/(\alpha + \rho)`, with
    :math:`\hat\gamma = -\alpha + \log(1 + e^\gamma)` (the paper's β, renamed: β weighs the KL
    here), on rows of z, and its :math:`\log|\det \partial f/\partial z|`, against
    ``torch.autograd``."""
    gen = input_generator(41)
    d = int(torch.randint(2, 6, (1,), generator=gen))
    drawn = (
        torch.randn(6, d, generator=gen, dtype=torch.float64) * 2,
        torch.randn(d, generator=gen, dtype=torch.float64),
        torch.rand((), generator=gen, dtype=torch.float64) * 2 + 0.1,
        torch.randn((), generator=gen, dtype=torch.float64) * 2,
    )
    t = torch.tensor
    f64 = torch.float64
    cases = [
        (f"6 points in d = {d}, z₀, α and γ drawn at random", *drawn),
        (
            "d = 1, z = (-2, 0.5, 3), z₀ = 0.5, α = 1, γ = 0",
            t([[-2.0], [0.5], [3.0]], dtype=f64),
            t([0.5], dtype=f64),
            t(1.0, dtype=f64),
            t(0.0, dtype=f64),
        ),
        (
            "d = 3, γ = -6 (γ̂ close to -α: the strongest contraction), α = 0.4",
            t([[0.3, -1.0, 2.0], [0.1, 0.1, 0.1], [4.0, 0.0, -3.0]], dtype=f64),
            t([0.0, 0.0, 0.5], dtype=f64),
            t(0.4, dtype=f64),
            t(-6.0, dtype=f64),
        ),
        (
            "d = 2, α = 0.2, γ = 3, one point at z₀ itself",
            t([[1.0, -1.0], [0.0, 2.0], [1.5, 0.5]], dtype=f64),
            t([1.0, -1.0], dtype=f64),
            t(0.2, dtype=f64),
            t(3.0, dtype=f64),
        ),
    ]
    for case, z, z0, alpha, gamma in cases:
        out, log_det = _radial_reference(z, z0, alpha, gamma)
        got_out, got_log_det = pair(
            call(radial_flow, z.clone(), z0.clone(), alpha.clone(), gamma.clone()), "(out, log_det)"
        )
        raw, _ = _radial_reference(z, z0, alpha, gamma, constrain=False)
        compare(
            got_out,
            out.detach(),
            case + ", f(z)",
            mistakes=[
                (
                    raw.detach(),
                    "use γ̂ = −α + log(1 + e^γ), which keeps γ̂ ≥ −α and the "
                    "map invertible (Rezende & Mohamed 2015, appendix A.2), not γ itself",
                )
            ],
            shapes={tuple(z.shape[::-1]): "one row per point: (n, d)"},
            nonfinite="f is finite everywhere, even at z = z₀ (ρ = 0)",
        )
        compare(
            got_log_det,
            log_det.detach(),
            case + ", log |det|",
            mistakes=_radial_mistakes(z, z0, alpha, gamma),
            shapes={(): "one log-determinant per point: shape (n,)"},
            nonfinite="log |det| is finite: 1 + γ̂h > 0 whenever γ̂ > −α",
        )
    return (
        "log |det| = (d − 1) log(1 + γ̂h) + log(1 + γ̂h + γ̂h′ρ): one radial direction and d − 1 "
        "tangential ones, as autograd's full Jacobian says."
    )


# Exercise 6 · notebook 14, the mini-project -------------------------------------------------------

BANANA_NOISE = 0.1  # σ² of x given z in the mini-project's model
PROJECT_FACTOR = 0.25  # the flow's KL must be at most this share of the best Gaussian's
PROJECT_MAX_LAYERS = 16
PROJECT_TIME_LIMIT = 60.0  # seconds for the answer's fit (the solution takes about 4 when idle)
_KL_DRAWS = 20_000  # draws of the flow's Monte Carlo ELBO
_AXIS = np.linspace(-6.0, 6.0, 241)  # the quadrature grid of each latent coordinate


def _banana_log_joint(x, z):
    r""":math:`\log p(x, z)` for :math:`z \sim \mathcal N(0, I_2)`,
    :math:`x \mid z \sim \mathcal N(z_2 + z_1^2, \sigma^2)`, σ² = :data:`BANANA_NOISE`, at points
    z (..., 2) (numpy or torch): a posterior curved along the parabola :math:`z_2 = x - z_1^2`."""
    z1, z2 = z[..., 0], z[..., 1]
    return (
        -0.5 * (z1**2 + z2**2)
        - math.log(2 * math.pi)
        - 0.5 * (x - z2 - z1**2) ** 2 / BANANA_NOISE
        - 0.5 * math.log(2 * math.pi * BANANA_NOISE)
    )


def _banana_grid(x):
    """The log-joint on the grid (601, 601) and log p(x) by quadrature."""
    z = np.stack(np.meshgrid(_AXIS, _AXIS, indexing="ij"), axis=-1)
    log_joint = _banana_log_joint(x, z)
    cell = (_AXIS[1] - _AXIS[0]) ** 2
    top = log_joint.max()
    return log_joint, top + math.log(np.exp(log_joint - top).sum() * cell)


def _best_gaussian_kl(x):
    r""":math:`\min \mathrm{KL}(\mathcal N(m, \mathrm{diag}\, s^2)\,\|\,p(z \mid x))` over the
    diagonal Gaussians, the KL by quadrature on the grid, minimised by Nelder–Mead."""
    log_joint, log_px = _banana_grid(x)
    log_post = log_joint - log_px
    cell = (_AXIS[1] - _AXIS[0]) ** 2
    a, b = np.meshgrid(_AXIS, _AXIS, indexing="ij")

    def kl(v):
        log_q = (
            -0.5 * ((a - v[0]) ** 2 / math.exp(v[2]) + (b - v[1]) ** 2 / math.exp(v[3]))
            - math.log(2 * math.pi)
            - 0.5 * (v[2] + v[3])
        )
        q = np.exp(log_q)
        return float(np.sum(q * (log_q - log_post)) * cell)

    starts = [np.array([0.0, x / 2, -1.0, -1.0]), np.array([1.0, x - 1, -1.0, -2.0])]
    fits = [
        optimize.minimize(kl, v, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
        for v in starts
    ]
    return min(f.fun for f in fits)


def _flow_posterior(params):
    """The answer's (mu, logvar, u, w, b) as a float64 FlowPosterior of one image, or Wrong."""
    if not (isinstance(params, tuple | list) and len(params) == 5):
        raise Wrong(
            f"you returned a {type(params).__name__}: return the five arrays "
            "(mu, logvar, u, w, b) of the fitted flow"
        )
    names = ("mu", "logvar", "u", "w", "b")
    mu, logvar, u, w, b = (
        finite(p, f"{name} of your flow", "train with a smaller step size: the fit diverged")
        for p, name in zip(params, names, strict=True)
    )
    length = len(b) if b.ndim == 1 else -1
    wanted = {"mu": (2,), "logvar": (2,), "u": (length, 2), "w": (length, 2), "b": (length,)}
    for name, value in zip(names, (mu, logvar, u, w, b), strict=True):
        if value.shape != wanted[name]:
            raise Wrong(
                f"{name} has shape {value.shape}: return mu and logvar of shape (2,), and the "
                "L layers' u and w of shape (L, 2) and b of shape (L,)"
            )
    if not 1 <= length <= PROJECT_MAX_LAYERS:
        raise Wrong(f"your flow has {length} layers: use between 1 and {PROJECT_MAX_LAYERS}.")
    with seeded(0):  # the layers' random start, overwritten below, leaves torch's state alone
        q = FlowPosterior(torch.tensor(mu)[None], torch.tensor(logvar)[None], length).double()
    with torch.no_grad():
        q.flow.u.copy_(torch.tensor(u)[:, None])
        q.flow.w.copy_(torch.tensor(w)[:, None])
        q.flow.b.copy_(torch.tensor(b)[:, None])
    return q


def _flow_kl(x, q, generator):
    r""":math:`\mathrm{KL}(q \,\|\, p(z \mid x)) = \log p(x) - \mathrm{ELBO}(q)`, the ELBO by
    Monte Carlo over :data:`_KL_DRAWS` draws of q (``FlowPosterior.sample``) and log p(x) by
    quadrature; returns the KL and its standard error."""
    eps = torch.randn(_KL_DRAWS, 1, 2, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        z, log_q = q.sample(eps)
        log_w = (_banana_log_joint(x, z[:, 0]) - log_q[:, 0]).numpy()
    _, log_px = _banana_grid(x)
    return log_px - log_w.mean(), log_w.std(ddof=1) / math.sqrt(_KL_DRAWS)


def _flow_calls():
    """The library calls the mini-project's answer may make: the flow of notebook 14 and Adam."""
    methods = [
        FlowPosterior.__init__,
        FlowPosterior.sample,
        PlanarFlow.__init__,
        PlanarFlow.forward,
        PlanarFlow.u_hat,
        Adam.__init__,
        Adam.zero_grad,
        Adam.step,
    ]
    return frozenset(m.__code__ for m in methods)


_FLOW_CALLS = _flow_calls()


@exercise("Exercise 6, the mini-project")
def check_fit_flow_posterior(fit_flow_posterior):
    r"""``fit_flow_posterior(x, seed) -> (mu, logvar, u, w, b)``: a planar flow
    (:class:`elbo_lib.flows.FlowPosterior` of one image, 1 to 16 layers) fitted to the posterior of
    :func:`_banana_log_joint` at an x drawn at grading time. Its
    :math:`\mathrm{KL}(q\,\|\,p(z \mid x))`, measured here from the returned parameters (Monte
    Carlo ELBO, log p(x) by quadrature), plus three standard errors, must be at most a quarter of
    the best diagonal Gaussian's, which the check finds itself (quadrature and Nelder–Mead)."""
    rng = input_rng(6)
    x, seed = round(float(rng.uniform(0.5, 2.0)), 3), int(rng.integers(1000))
    with torch_threads():
        params = call(fit_flow_posterior, x, seed, limit=PROJECT_TIME_LIMIT, allow=_FLOW_CALLS)
        q = _flow_posterior(params)
        kl, se = _flow_kl(x, q, input_generator(60))
        gaussian = _best_gaussian_kl(x)
    told = (
        f"at x = {x}: KL(q ‖ p(z|x)) = {kl:.3f} ± {se:.3f} nats for your flow of {len(q.flow.b)} "
        f"layers, {gaussian:.3f} for the best diagonal Gaussian"
    )
    if not kl + 3 * se <= PROJECT_FACTOR * gaussian:
        raise Wrong(
            f"{told}: reach {PROJECT_FACTOR * gaussian:.3f} nats (a quarter of the Gaussian's). "
            "Start q wide (at the prior), anneal the log-joint's weight from 0 to 1 over the first "
            "steps, and give the fit more steps or layers"
        )
    return f"{told}: cut ≈ {gaussian / kl:.0f}-fold." if kl > 0 else f"{told}."


ALLOWED_CALLS = _FLOW_CALLS  # every library call some answer of this set may make

r"""Training on the importance-weighted bound (notebook 13): the encoder gradient's signal-to-noise
ratio, and VAEs trained with K importance samples, measured over seeds.

:math:`\mathcal L_K(x) = \mathbb E\big[\log \frac1K \sum_k r_k\big]`,
:math:`r_k = p(x, z_k) / q(z_k \mid x)`, rises with K towards :math:`\log p(x)` (Burda et al.
2016); its reparameterised gradient for the encoder grows noisier relative to its mean as K grows
(Rainforth et al. 2018), and the doubly reparameterised gradient does not (Tucker et al. 2019).
"""

import math

import numpy as np
import torch
from matplotlib import ticker

from elbo_lib._torch import seeded, torch_threads
from elbo_lib.adam import LR_LIMIT
from elbo_lib.bounds import iwae_bound
from elbo_lib.diagnostics import (
    KL_UNIT,
    active_units,
    evaluate_elbo,
    importance_log_likelihood,
    kl_per_dimension,
)
from elbo_lib.vae import (
    COUNT_LIMIT,
    ESTIMATOR,
    SIZE_LIMIT,
    VAE,
    log_weights_of_draws,
    reparameterize,
    train_vae,
)
from elbo_lib.validation import (
    anything,
    axes,
    choice,
    count,
    instance,
    model_data,
    optional,
    positive_real,
    real,
    seed,
    skip_validation,
    validate,
)

DRAWS = count(limit=10**5)

_BUDGET = 2**15  # draws × samples × images decoded at once: ~35 MB of activations


@validate(
    model_data("x", model="model"),
    model=instance(VAE),
    k=count(limit=COUNT_LIMIT),
    estimator=ESTIMATOR,
    draws=DRAWS,
    seed=seed,
)
def encoder_gradients(model, x, k, estimator="pathwise", draws=100, seed=0):
    r"""``draws`` independent estimates of the gradient of :math:`\log \frac1K \sum_k r_k` with
    respect to each image's :math:`(\mu, \log s^2)`, the encoder's outputs (every encoder
    weight's gradient is a sum of these), by ``estimator`` as in
    :func:`elbo_lib.vae.importance_weighted_loss`. Returns a tensor (draws, n, 2 · z_dim), the μ
    entries first."""
    with torch.no_grad():
        mu0, logvar0 = model.encode(x)
    chunk = max(1, _BUDGET // (k * len(x)))
    gradients = []
    with seeded(seed), torch_threads(), skip_validation():  # the model's own outputs
        for start in range(0, draws, chunk):
            size = min(chunk, draws - start)
            # one copy of (μ, log s²) per draw, so that each draw's gradient is kept apart
            mu = mu0.expand(size, *mu0.shape).clone().requires_grad_()
            logvar = logvar0.expand(size, *logvar0.shape).clone().requires_grad_()
            eps = torch.randn((size, k, *mu0.shape), dtype=mu0.dtype)
            z = reparameterize(mu.unsqueeze(1), logvar.unsqueeze(1), eps)
            log_joint = model.log_likelihood(x, z) + model.log_prior(z)
            log_w = log_weights_of_draws(
                z, log_joint, mu.unsqueeze(1), logvar.unsqueeze(1), estimator
            )
            bound = iwae_bound(log_w, axis=1)  # (size, n)
            gradients.append(torch.cat(torch.autograd.grad(bound.sum(), [mu, logvar]), -1))
    return torch.cat(gradients)


@validate(
    model=anything,
    x=anything,
    k=anything,
    estimator=anything,
    draws=count(low=2, limit=10**5),
    seed=anything,
)
def encoder_gradient_snr(model, x, k, estimator="pathwise", draws=100, seed=0):
    r"""The signal-to-noise ratio :math:`|\bar g| / \mathrm{sd}(g)` over ``draws`` draws of each
    entry of :func:`encoder_gradients`: a tensor (n, 2 · z_dim). An entry whose gradient has
    mean 0 still shows about :math:`\sqrt{2/\pi}/\sqrt{\text{draws}}` (:func:`snr_floor`)."""
    g = encoder_gradients(model, x, k, estimator, draws, seed)
    return g.mean(0).abs() / g.std(0)


@validate(draws=DRAWS)
def snr_floor(draws):
    r""":math:`\mathbb E|\bar g| / \sigma = \sqrt{2/\pi}/\sqrt{S}` for S = ``draws`` normal
    draws of mean 0: the SNR that noise alone shows."""
    return math.sqrt(2 / math.pi / draws)


@validate(
    x_train=anything,
    x_test=anything,
    k=count(limit=COUNT_LIMIT),
    seed=seed,
    epochs=count(limit=COUNT_LIMIT),
    lr=real(0.0, LR_LIMIT),
    k_eval=count(limit=COUNT_LIMIT),
    estimator=ESTIMATOR,
    z_dim=count(limit=SIZE_LIMIT),
)
def iwae_run(x_train, x_test, *, k, seed, epochs, lr, k_eval, estimator="pathwise", z_dim=8):
    r"""Train a VAE (one hidden layer of 256, ``z_dim`` latent units, initialised with ``seed``)
    on ``x_train`` with K = ``k`` and measure it on ``x_test``. Returns a dict: the settings
    (``k``, ``estimator``, ``seed``), ``history`` (:func:`~elbo_lib.vae.train_vae`'s),
    ``log_likelihood`` (a numpy array, each test image's :math:`\log p(x)` by importance
    sampling with ``k_eval`` samples), ``elbo`` and ``kl`` (numpy arrays per test image),
    ``active_units`` (count, :data:`~elbo_lib.diagnostics.ACTIVE_THRESHOLD`),
    ``kl_per_dimension`` (numpy, z_dim), ``kl_units`` (units with KL above
    :data:`~elbo_lib.diagnostics.KL_UNIT`) and the trained ``model``."""
    with seeded(seed):
        model = VAE(z_dim=z_dim, hidden=(256,))
    history = train_vae(model, x_train, epochs=epochs, lr=lr, seed=seed, k=k, estimator=estimator)
    elbo = evaluate_elbo(model, x_test, seed=seed)
    per_dimension = kl_per_dimension(model, x_test).numpy()
    return {
        "k": k,
        "estimator": estimator,
        "seed": seed,
        "history": history,
        "log_likelihood": importance_log_likelihood(model, x_test, k=k_eval, seed=seed).numpy(),
        "elbo": elbo["elbo"].numpy(),
        "kl": elbo["kl"].numpy(),
        "active_units": int(active_units(model, x_test).sum()),
        "kl_per_dimension": per_dimension,
        "kl_units": int((per_dimension > KL_UNIT).sum()),
        "model": model,
    }


@validate(
    rows=anything,
    key=choice("log_likelihood", "elbo"),
    k=count(limit=COUNT_LIMIT),
    baseline=count(limit=COUNT_LIMIT),
)
def paired_difference(rows, key, k, baseline=1):
    r"""Mean over seeds and test images of ``key`` (``"log_likelihood"`` or ``"elbo"``) of the
    runs with K = ``k`` minus those with K = ``baseline``, seed by seed, and its standard error
    over seeds (:math:`s/\sqrt{\text{seeds}}`; 0 for one seed). Returns (difference, se)."""
    by_seed = {}
    for row in _check_rows(rows):
        by_seed.setdefault(row["seed"], {})[row["k"]] = float(np.mean(row[key]))
    if not all(k in runs and baseline in runs for runs in by_seed.values()):
        raise ValueError(f"rows need a run with K = {k!r} and K = {baseline!r} for every seed")
    differences = np.array([runs[k] - runs[baseline] for runs in by_seed.values()])
    if len(differences) < 2:
        return float(differences.mean()), 0.0
    return float(differences.mean()), float(differences.std(ddof=1) / math.sqrt(len(differences)))


@validate(ax=axes, rows=anything)
def plot_bounds_against_k(ax, rows):
    """Test log p(x) and test ELBO (nats per image, averaged over the test images) of each run
    against the K it was trained with, one marker per seed and a line through the means."""
    ks = sorted({row["k"] for row in _check_rows(rows)})
    for key, label, color in (("log_likelihood", "log p(x)", "C0"), ("elbo", "ELBO", "C3")):
        means = []
        for k in ks:
            values = [float(np.mean(row[key])) for row in rows if row["k"] == k]
            ax.plot([k] * len(values), values, "o", color=color, alpha=0.5, markersize=4)
            means.append(np.mean(values))
        ax.plot(ks, means, "-", color=color, label=f"test {label} (mean over seeds)")
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("K, importance samples in training")
    ax.set_ylabel("nats per test image")
    ax.legend()


@validate(ax=axes, rows=anything, seed=seed)
def plot_unit_kl(ax, rows, seed=0):
    """Each latent unit's test KL (nats, largest first) in the runs of ``seed``, one line per K,
    beside the 0.1-nat line under which a unit carries almost no information."""
    if not any(row["seed"] == seed for row in _check_rows(rows)):
        raise ValueError(f"rows hold no run with seed {seed!r}")
    for row in rows:
        if row["seed"] == seed:
            units = np.sort(row["kl_per_dimension"])[::-1]
            ax.plot(np.arange(1, len(units) + 1), units, "o-", label=f"K = {row['k']}")
    ax.axhline(KL_UNIT, color="grey", linestyle="--", label=f"{KL_UNIT} nats")
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("latent unit (largest KL first)")
    ax.set_ylabel("test average KL(q(z_j | x) ‖ p(z_j)), nats")
    ax.set_title(f"Seed {seed}")
    ax.legend()


@validate(ax=axes, ks=anything, snr=anything, floor=optional(positive_real))
def plot_snr_against_k(ax, ks, snr, floor=None):
    """The encoder gradient's signal-to-noise ratio against K, one line per estimator: ``snr``
    maps an estimator's name to its SNRs, one per K of ``ks``; ``floor`` (:func:`snr_floor`), if
    given, as a dotted line."""
    if not (isinstance(snr, dict) and snr and all(len(v) == len(ks) for v in snr.values())):
        raise ValueError(f"snr must map each estimator to one SNR per K of ks, got {snr!r}")
    for (name, values), marker in zip(snr.items(), "os", strict=False):
        ax.plot(ks, values, marker=marker, label=name)
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle=":", label="noise alone")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("K, importance samples")
    ax.set_ylabel("SNR of the encoder's gradient")
    ax.legend()


def _check_rows(rows):
    if not (isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows)):
        raise ValueError(f"rows must be a non-empty list of iwae_run dicts, got {rows!r}")
    return rows


def _plain_log_ticks(axis):
    """Ticks of a logarithmic axis at 1, 2, 3 and 5 times the powers of ten, written as numbers
    (0.05, 0.1, 0.2, …), not as powers of ten."""
    axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    axis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(ticker.NullFormatter())

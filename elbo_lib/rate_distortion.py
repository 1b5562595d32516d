r"""Rate and distortion of a VAE, and the β sweep of notebook 11.

The negative ELBO, averaged over the data, splits into a distortion and a rate (Alemi et al. 2018),

.. math:: -\mathrm{ELBO} = \underbrace{\mathbb E_x \mathbb E_{q(z \mid x)}[-\log p(x \mid z)]}_{D}
          + \underbrace{\mathbb E_x \mathrm{KL}(q(z \mid x)\,\|\,p(z))}_{R},

both in nats per image. The β-VAE minimises :math:`D + \beta R`: β = 0 is an autoencoder with a
noisy code, β = 1 the VAE, β > 1 buys a cheaper code with worse reconstructions.
"""

import numpy as np
from tqdm.auto import tqdm

from elbo_lib._torch import seeded
from elbo_lib.adam import LR_LIMIT
from elbo_lib.data import check_images
from elbo_lib.diagnostics import (
    ACTIVE_THRESHOLD,
    KL_UNIT,
    active_units,
    evaluate_elbo,
    kl_per_dimension,
)
from elbo_lib.vae import VAE, train_vae
from elbo_lib.validation import (
    anything,
    as_numpy,
    axes,
    count,
    finite_values,
    flag,
    function,
    hidden,
    non_negative,
    numpy_finite,
    optional,
    positive_real,
    real,
    seed,
    vae_model,
    validate,
)


@validate(model=vae_model, x=anything, n_samples=count(limit=10**6), seed=seed)
def rate_distortion(model, x, n_samples=10, seed=0):
    r"""(R, D) of ``model`` on ``x``: the average KL and the average
    :math:`-\mathbb E_q[\log p(x \mid z)]` (``n_samples`` draws per image), floats in nats."""
    terms = evaluate_elbo(model, x, n_samples=n_samples, seed=seed)
    return float(terms["kl"].mean()), float(-terms["reconstruction"].mean())


@validate(
    beta=non_negative,
    x=anything,
    z_dim=count(limit=2**14),
    hidden=hidden,
    epochs=count(limit=10**5),
    lr=real(0.0, LR_LIMIT),
    seed=seed,
    callback=optional(function),
    progress=flag,
)
def train_beta_vae(
    beta, x, *, z_dim=8, hidden=(128,), epochs=30, lr=3e-3, seed=0, callback=None, progress=False
):
    r"""A :class:`~elbo_lib.vae.VAE` initialised with ``seed`` and trained on ``x`` to minimise
    :math:`D + \beta R` (:func:`~elbo_lib.vae.train_vae`, which calls ``callback`` after each
    epoch); the global random state is left untouched."""
    check_images(x, "x", unit_interval=True)
    with seeded(seed):
        model = VAE(x_dim=x.shape[1], z_dim=z_dim, hidden=hidden)
    train_vae(
        model,
        x,
        epochs=epochs,
        beta=float(beta),
        lr=lr,
        seed=seed,
        progress=progress,
        callback=callback,
    )
    return model


@validate(
    betas=numpy_finite, x_train=anything, x_test=anything, threshold=non_negative, progress=flag
)
def beta_sweep(betas, x_train, x_test, *, threshold=ACTIVE_THRESHOLD, progress=False, **training):
    r"""Train one β-VAE per β (keyword arguments as :func:`train_beta_vae`) and measure it on
    ``x_test``; ``progress`` shows a progress bar of the β values. Returns a dict of numpy
    arrays, one row per β: ``"beta"``, ``"rate"``, ``"distortion"``, ``"active_units"`` (count
    with :math:`\mathrm{Var}_x \mathbb E_q[z_j]` above ``threshold``) and ``"kl_per_dimension"``
    (len(betas), z_dim); and ``"models"``, the list of trained models."""
    if betas.ndim != 1 or betas.size == 0 or np.any(betas < 0):
        raise ValueError(f"betas must be a non-empty list of non-negative numbers, got {betas!r}")
    check_images(x_train, "x_train", unit_interval=True)
    check_images(x_test, "x_test", x_train.shape[1], unit_interval=True)
    rows = []
    for beta in tqdm(betas, desc="β sweep", unit="model", disable=not progress):
        model = train_beta_vae(float(beta), x_train, **training)
        rate, distortion = rate_distortion(model, x_test)
        units = int(active_units(model, x_test, threshold=threshold).sum())
        rows.append((rate, distortion, units, kl_per_dimension(model, x_test).numpy(), model))
    rate, distortion, units, per_dim, models = zip(*rows, strict=True)
    return {
        "beta": betas,
        "rate": np.array(rate),
        "distortion": np.array(distortion),
        "active_units": np.array(units),
        "kl_per_dimension": np.stack(per_dim),
        "models": list(models),
    }


@validate(
    ax=axes, rate=anything, distortion=anything, beta=anything, mark_beta=anything, latest=anything
)
def plot_rate_distortion(ax, rate, distortion, beta, *, mark_beta=1.0, latest=None):
    r"""Points (R, D) on the rate–distortion plane, coloured by log β and labelled with β. The
    point at ``mark_beta`` (if present) is starred with its line :math:`D + R` = const: every
    point on a line of slope −1 has the same ELBO. ``latest`` (an index) rings one point."""
    rate, distortion, beta = (
        np.atleast_1d(as_numpy(a, name))
        for a, name in ((rate, "rate"), (distortion, "distortion"), (beta, "beta"))
    )
    if rate.size:
        ax.scatter(
            rate,
            distortion,
            c=np.log10(np.maximum(beta, 10**-2)),  # β below 0.01 (even 0) takes the lowest colour
            cmap="viridis",
            vmin=-2,
            vmax=np.log10(20),
            s=40,
            zorder=3,
            edgecolor="k",
            linewidth=0.5,
            label="trained β-VAEs",
        )
    span = np.ptp(np.r_[rate, distortion]) if rate.size else 0.0
    for i, (r, d, b) in enumerate(zip(rate, distortion, beta, strict=True)):
        # a point close to an earlier one gets its label further out, with a leader line
        close = i > 0 and np.hypot(r - rate[:i], d - distortion[:i]).min() < 0.05 * span
        ax.annotate(
            f"β={b:.2g}",
            (r, d),
            textcoords="offset points",
            xytext=(22, 12) if close else (5, 4),
            fontsize=7,
            arrowprops={"arrowstyle": "-", "lw": 0.5} if close else None,
        )
    marked = np.flatnonzero(np.isclose(beta, mark_beta))
    if marked.size:
        r, d = rate[marked[0]], distortion[marked[0]]
        ax.plot([r], [d], "*", color="C3", ms=15, zorder=4, label=f"β = {mark_beta:g}: the ELBO")
        ax.axline((r, d), slope=-1, color="C3", ls="--", lw=1, label=f"D + R = {r + d:.1f} nats")
    if latest is not None:
        ax.plot(
            rate[latest],
            distortion[latest],
            "o",
            ms=14,
            mfc="none",
            mec="C3",
            mew=2,
            zorder=5,
            label="latest",
        )
    ax.set(
        xlabel="rate R = E KL(q(z|x) ‖ p(z))  (nats)",
        ylabel="distortion D = −E log p(x|z)  (nats)",
        title="Rate–distortion plane (test digits)",
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=7)


@validate(
    ax=axes,
    beta=numpy_finite,
    kl_per_dimension=numpy_finite,
    active_units=finite_values,
    threshold=non_negative,
    floor=positive_real,
)
def plot_units_against_beta(
    ax, beta, kl_per_dimension, active_units, threshold=ACTIVE_THRESHOLD, floor=1e-3
):
    """The KL of every latent unit (sorted, largest first; log scale, values below ``floor``
    drawn at it) against β, and the number of units counted active on a second axis."""
    ranked = -np.sort(-kl_per_dimension, axis=1)
    for rank in range(ranked.shape[1]):
        shade = rank / max(1, ranked.shape[1] - 1)
        ax.plot(beta, np.maximum(ranked[:, rank], floor), "-", color=(0.1, 0.3 + 0.5 * shade, 0.8))
    ax.axhline(KL_UNIT, color="0.5", ls=":", lw=1, label=f"{KL_UNIT} nats")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor / 1.5, None)
    ax.set(xlabel="β", ylabel="KL of each unit (nats)", title="Units switch off as β grows")
    ax.legend(loc="lower left", fontsize=7)
    counts = ax.twinx()
    counts.plot(beta, active_units, "o-", color="C3", lw=2, label=f"active units (>{threshold})")
    counts.set_ylabel("active units", color="C3")
    counts.set_ylim(-0.5, ranked.shape[1] + 0.5)
    counts.legend(loc="lower center", fontsize=7)

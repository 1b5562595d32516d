r"""Figures of the VAE notebooks (08–10). Each function draws on a matplotlib Axes (axes labelled,
log-quantities in nats) and returns nothing; images are rows of 64 pixels, as numpy arrays or
torch tensors. :func:`gap_explorer` puts one figure behind a slider with
:class:`elbo_lib.widgets.SliderFigure`.
"""

import math

import numpy as np

from elbo_lib._arrays import as_numpy, check_finite, positive_int
from elbo_lib.data import IMAGE_SHAPE
from elbo_lib.plots import latent_scatter

AMORTIZED, REFINED, LOG_PX = "C0", "C2", "k"
APPROXIMATION, AMORTIZATION = "C1", "C0"


def image_grid(ax, images, ncols=10, row_labels=None, title=None):
    """Tile 8×8 images row by row, ``ncols`` per row (black ink on white); ``row_labels`` name
    the rows."""
    images = as_numpy(images, "images")
    if images.size == 0 or images.size % 64:
        raise ValueError(f"images must be rows of 64 pixels, got shape {images.shape}")
    images = images.reshape(-1, *IMAGE_SHAPE)
    ncols = positive_int(ncols, "ncols")
    nrows = math.ceil(len(images) / ncols)
    h, w = IMAGE_SHAPE
    canvas = np.full((nrows * (h + 1) - 1, ncols * (w + 1) - 1), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([] if row_labels is None else np.arange(nrows) * (h + 1) + h / 2 - 0.5)
    if row_labels is not None:
        ax.set_yticklabels(row_labels)
        ax.tick_params(left=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)


def training_curve(ax, history, reference=None, reference_label=None):
    """The per-epoch training ELBO from :func:`elbo_lib.vae.train_vae`'s history, with an
    optional horizontal ``reference`` line."""
    if not len(history["elbo"]):
        raise ValueError("history holds no epochs")
    check_finite(history=history["elbo"])
    epochs = np.arange(1, len(history["elbo"]) + 1)
    ax.plot(epochs, history["elbo"], color=AMORTIZED, label="training ELBO")
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    ax.set(xlabel="epoch", ylabel="nats per image", title="Training")
    ax.legend(fontsize=8, loc="lower right")


def iwae_against_k(ax, ks, log_likelihoods, amortized_elbo, refined_elbo):
    r"""The importance-sampled :math:`\log p(x)` estimates (average over images) against the
    number of samples K, beside the amortized and refined ELBOs they bound from above."""
    check_finite(
        ks=ks,
        log_likelihoods=log_likelihoods,
        amortized_elbo=amortized_elbo,
        refined_elbo=refined_elbo,
    )
    ax.plot(ks, log_likelihoods, "o-", color=LOG_PX, label=r"IWAE bound $\mathcal{L}_K$")
    ax.axhline(refined_elbo, color=REFINED, ls="--", label="refined ELBO (best Gaussian q)")
    ax.axhline(amortized_elbo, color=AMORTIZED, ls=":", label="amortized ELBO (encoder's q)")
    ax.set_xscale("log")
    ax.set(xlabel="number of importance samples K", ylabel="nats per image")
    ax.set_title("Importance sampling tightens the bound")
    ax.legend(fontsize=8, loc="lower right")


def gap_bars(ax, log_likelihood, refined_elbo, amortized_elbo, title=None):
    r"""The three numbers of one image (or averages) as points on a common nats axis, with the
    two gaps of :math:`\log p(x) - \mathrm{ELBO} = \text{approximation gap} +
    \text{amortization gap}` stacked in a floating bar that ends at log p(x)."""
    check_finite(
        log_likelihood=log_likelihood, refined_elbo=refined_elbo, amortized_elbo=amortized_elbo
    )
    values = [amortized_elbo, refined_elbo, log_likelihood]
    names = ["amortized\nELBO", "refined\nELBO", "log p(x)\n(IWAE)", "gaps"]
    approximation = log_likelihood - refined_elbo
    amortization = refined_elbo - amortized_elbo
    span = max(log_likelihood - amortized_elbo, 0.2)
    for i, (value, color) in enumerate(zip(values, [AMORTIZED, REFINED, "0.4"], strict=True)):
        ax.axhline(value, color=color, lw=0.8, ls=":")
        ax.plot(i, value, "o", color=color, ms=8)
        ax.text(i, value + 0.05 * span, f"{value:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(4), names)
    ax.set_xlim(-0.6, 3.6)
    ax.bar(
        3,
        amortization,
        bottom=amortized_elbo,
        color=AMORTIZATION,
        alpha=0.5,
        width=0.6,
        label=f"amortization gap {amortization:.2f}",
    )
    ax.bar(
        3,
        approximation,
        bottom=refined_elbo,
        color=APPROXIMATION,
        alpha=0.7,
        width=0.6,
        label=f"approximation gap {approximation:.2f}",
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylim(amortized_elbo - 0.5 * span, log_likelihood + 1.2 * span)
    ax.set(ylabel="nats", title=title or "log p(x) − ELBO = approximation + amortization gap")


def gap_explorer(images, gaps):
    """A slider over ``images`` showing each one beside its :func:`gap_bars`; ``gaps`` is the
    per-image dict of :func:`elbo_lib.diagnostics.inference_gaps`."""
    import ipywidgets

    from elbo_lib.widgets import SliderFigure

    images = as_numpy(images, "images")
    if not len(images):
        raise ValueError("images holds no image")
    if not {"log_likelihood", "refined_elbo", "amortized_elbo"} <= set(gaps):
        raise ValueError("gaps must be the dict of elbo_lib.diagnostics.inference_gaps")
    numbers = {key: as_numpy(value, f"gaps[{key!r}]") for key, value in gaps.items()}
    slider = ipywidgets.IntSlider(
        value=0, min=0, max=len(images) - 1, description="test image", continuous_update=True
    )

    def draw(ax_image, ax_bars, index):
        image_grid(ax_image, images[index : index + 1], ncols=1, title=f"test image {index}")
        gap_bars(
            ax_bars,
            numbers["log_likelihood"][index],
            numbers["refined_elbo"][index],
            numbers["amortized_elbo"][index],
            title="its ELBOs and log p(x)",
        )

    return SliderFigure(draw, {"index": slider}, ncols=2, width_ratios=(1, 3), figsize=(8, 3.4))


def aggregate_posterior(ax, z, labels, title=None):
    r"""Samples of the aggregate posterior :math:`q(z) = \frac1N\sum_n q(z \mid x_n)` in a 2-D
    latent space, coloured by digit, over the prior's 1-, 2- and 3-σ circles."""
    check_finite(z=z, labels=labels)
    latent_scatter(ax, np.asarray(z), np.asarray(labels))
    angle = np.linspace(0, 2 * np.pi, 200)
    for radius in (1, 2, 3):
        ax.plot(
            radius * np.cos(angle),
            radius * np.sin(angle),
            color="k",
            lw=0.8,
            ls="--",
            label="prior N(0, I): 1, 2, 3 σ" if radius == 1 else None,
        )
    ax.set_aspect("equal")
    ax.set_title(title or "Aggregate posterior q(z) against the prior p(z)")


def surgery_bar(ax, surgery, n):
    r"""The average KL as a stacked bar: :math:`I_q(X; Z)` + KL(q(z) ‖ p(z)), with log N, the
    ceiling of the mutual information over N images."""
    positive_int(n, "n")
    mi, marginal, average = (
        surgery["mutual_information"],
        surgery["marginal_kl"],
        surgery["average_kl"],
    )
    ax.bar(["average KL"], [average], color="0.6", width=0.5)
    ax.bar(["split"], [mi], color="C0", width=0.5, label=f"I(X; Z) = {mi:.2f}")
    ax.bar(
        ["split"],
        [marginal],
        bottom=[mi],
        color="C1",
        width=0.5,
        label=f"KL(q(z) ‖ p(z)) = {marginal:.2f}",
    )
    ax.axhline(math.log(n), color="k", ls="--", lw=1, label=f"log N = {math.log(n):.2f}")
    ax.text(0, average, f"{average:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="nats per image", title="ELBO surgery: average KL = I(X; Z) + marginal KL")
    ax.legend(fontsize=8, loc="upper right")


def surgery_against_beta(ax, betas, results, n):
    """The three terms of :func:`elbo_lib.diagnostics.elbo_surgery` against β (log scale),
    with log N."""
    check_finite(betas=betas)
    for key, label, colour in (
        ("average_kl", "average KL (rate)", "0.4"),
        ("mutual_information", "I(X; Z)", "C0"),
        ("marginal_kl", "KL(q(z) ‖ p(z))", "C1"),
    ):
        ax.plot(betas, [r[key] for r in results], "o-", color=colour, label=label)
    ax.axhline(math.log(n), color="k", ls="--", lw=1, label="log N")
    ax.set_xscale("log")
    ax.set(xlabel="β", ylabel="nats per image", title="The terms of the KL against β")
    ax.legend(fontsize=8)

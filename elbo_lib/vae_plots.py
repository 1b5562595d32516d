r"""Figures of the VAE notebooks (07–12). Each function draws on a matplotlib Axes (axes labelled,
log-quantities in nats) and returns nothing (:func:`traversal_images` computes a figure's images);
images are rows of 64 pixels, as numpy arrays or torch tensors. The explorers that put these
figures behind sliders live in :mod:`elbo_lib.widgets`.
"""

import math

import numpy as np
import torch
from matplotlib.figure import FigureBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from elbo_lib.data import IMAGE_SHAPE
from elbo_lib.plots import latent_scatter
from elbo_lib.validation import (
    COUNT_LIMIT,
    anything,
    as_numpy,
    axes,
    check_finite,
    count,
    finite_values,
    flag,
    gaussian_pair,
    instance,
    integer,
    numpy_finite,
    optional,
    positive_real,
    text,
    vae_model,
    validate,
)

AMORTIZED, REFINED, LOG_PX = "C0", "C2", "k"
APPROXIMATION, AMORTIZATION = "C1", "C0"


@validate(
    ax=axes, images=numpy_finite, ncols=count(limit=1000), row_labels=anything, title=optional(text)
)
def image_grid(ax, images, ncols=10, row_labels=None, title=None):
    """Tile 8×8 images row by row, ``ncols`` per row (black ink on white); ``row_labels`` name
    the rows."""
    if images.size == 0 or images.size % 64:
        raise ValueError(f"images must be rows of 64 pixels, got shape {images.shape}")
    images = images.reshape(-1, *IMAGE_SHAPE)
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


@validate(ax=axes, history=anything, reference=anything, reference_label=optional(text))
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


@validate(
    ax=axes,
    ks=finite_values,
    log_likelihoods=finite_values,
    amortized_elbo=finite_values,
    refined_elbo=finite_values,
)
def iwae_against_k(ax, ks, log_likelihoods, amortized_elbo, refined_elbo):
    r"""The importance-sampled :math:`\log p(x)` estimates (average over images) against the
    number of samples K, beside the amortized and refined ELBOs they bound from above."""
    ax.plot(ks, log_likelihoods, "o-", color=LOG_PX, label=r"IWAE bound $\mathcal{L}_K$")
    ax.axhline(refined_elbo, color=REFINED, ls="--", label="refined ELBO (per-image Gaussian q*)")
    ax.axhline(amortized_elbo, color=AMORTIZED, ls=":", label="amortized ELBO (encoder's q)")
    ax.set_xscale("log")
    ax.set(xlabel="number of importance samples K", ylabel="nats per image")
    ax.set_title("Importance sampling tightens the bound")
    ax.legend(fontsize=8, loc="lower right")


@validate(
    ax=axes,
    log_likelihood=finite_values,
    refined_elbo=finite_values,
    amortized_elbo=finite_values,
    title=optional(text),
)
def gap_bars(ax, log_likelihood, refined_elbo, amortized_elbo, title=None):
    r"""The three numbers of one image (or averages) as points on a common nats axis, with the
    two gaps of :math:`\log p(x) - \mathrm{ELBO} = \text{approximation gap} +
    \text{amortization gap}` stacked in a floating bar that ends at log p(x)."""
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


@validate(ax=axes, z=finite_values, labels=finite_values, title=optional(text))
def aggregate_posterior(ax, z, labels, title=None):
    r"""Samples of the aggregate posterior :math:`\bar q(z) = \frac1N\sum_n q(z \mid x_n)` in a 2-D
    latent space, coloured by digit, over the prior's circles of radius 1, 2 and 3."""
    latent_scatter(ax, np.asarray(z), np.asarray(labels))
    angle = np.linspace(0, 2 * np.pi, 200)
    for radius in (1, 2, 3):
        ax.plot(
            radius * np.cos(angle),
            radius * np.sin(angle),
            color="k",
            lw=0.8,
            ls="--",
            label="prior N(0, I): 1, 2, 3 sd" if radius == 1 else None,
        )
    ax.set_aspect("equal")
    ax.set_title(title or "Aggregate posterior q̄(z) against the prior p(z)")


@validate(ax=axes, surgery=anything, n=count(limit=COUNT_LIMIT))
def surgery_bar(ax, surgery, n):
    r"""The average KL as a stacked bar: :math:`I_q(X; Z)` + KL(q̄(z) ‖ p(z)), with log N, the
    ceiling of the mutual information over N images."""
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
        label=f"KL(q̄(z) ‖ p(z)) = {marginal:.2f}",
    )
    ax.axhline(math.log(n), color="k", ls="--", lw=1, label=f"log N = {math.log(n):.2f}")
    ax.text(0, average, f"{average:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="nats per image", title="ELBO surgery: average KL = I(X; Z) + marginal KL")
    ax.legend(fontsize=8, loc="upper right")


@validate(ax=axes, surgeries=anything, n=count(limit=COUNT_LIMIT))
def surgery_by_model(ax, surgeries, n):
    r"""One stacked bar per model: :math:`I_q(X; Z)` + KL(q̄(z) ‖ p(z)) from
    :func:`elbo_lib.diagnostics.elbo_surgery`, keyed by the model's name, with log N."""
    if not surgeries:
        raise ValueError("surgeries must name at least one model")
    names = list(surgeries)
    mi = [surgeries[name]["mutual_information"] for name in names]
    marginal = [surgeries[name]["marginal_kl"] for name in names]
    check_finite(mutual_information=mi, marginal_kl=marginal)
    ax.bar(names, mi, color="C0", width=0.5, label="I(X; Z)")
    ax.bar(names, marginal, bottom=mi, color="C1", width=0.5, label="KL(q̄(z) ‖ p(z))")
    ax.axhline(math.log(n), color="k", ls="--", lw=1, label=f"log N = {math.log(n):.2f}")
    ax.set(ylabel="nats per image", title="Average KL = I(X; Z) + marginal KL, by prior")
    ax.legend(fontsize=8, loc="lower right")


@validate(ax=axes, betas=finite_values, results=anything, n=count(limit=COUNT_LIMIT))
def surgery_against_beta(ax, betas, results, n):
    """The three terms of :func:`elbo_lib.diagnostics.elbo_surgery` against β (log scale),
    with log N."""
    for key, label, colour in (
        ("average_kl", "average KL (rate)", "0.4"),
        ("mutual_information", "I(X; Z)", "C0"),
        ("marginal_kl", "KL(q̄(z) ‖ p(z))", "C1"),
    ):
        ax.plot(betas, [r[key] for r in results], "o-", color=colour, label=label)
    ax.axhline(math.log(n), color="k", ls="--", lw=1, label="log N")
    ax.set_xscale("log")
    ax.set(xlabel="β", ylabel="nats per image", title="The terms of the KL against β")
    ax.legend(fontsize=8)


@validate(model=vae_model, unit=anything, values=anything)
def traversal_images(model, unit, values):
    r"""The decoder's output along one latent axis: :math:`z = v\,e_{\text{unit}}` for each v in
    ``values``, every other unit at the prior mean 0. Pixel probabilities (Bernoulli decoder) or
    means (Gaussian), a tensor (len(values), x_dim)."""
    if integer(unit, "unit") >= model.z_dim:
        raise ValueError(f"unit must be an integer in [0, {model.z_dim}), got {unit!r}")
    values = torch.as_tensor(as_numpy(values, "values", np.float32))
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("values must be a non-empty 1-D array of finite numbers")
    z = torch.zeros(len(values), model.z_dim)
    z[:, unit] = values
    with torch.no_grad():
        out = model.decode(z)
    return model.pixel_means(out)


@validate(
    ax=axes,
    model=vae_model,
    units=anything,
    values=anything,
    row_labels=anything,
    title=optional(text),
)
def latent_traversals(ax, model, units, values, row_labels=None, title=None):
    """Latent traversals: one row per unit of ``units``, the decoder's output as that unit runs
    over ``values`` (:func:`traversal_images`), left to right."""
    if not (isinstance(units, list | tuple | range) and units) or not all(
        isinstance(u, int) and not isinstance(u, bool) and 0 <= u < model.z_dim for u in units
    ):
        raise ValueError(
            f"units must be a non-empty list of units in [0, {model.z_dim}), got {units!r}"
        )
    images = torch.cat([traversal_images(model, unit, values) for unit in units])
    image_grid(ax, images, ncols=len(values), row_labels=row_labels, title=title)
    ax.set_xlabel(f"z_unit from {values[0]:g} to {values[-1]:g} (other units 0)")


# 1 − e^{−k²/2}: the mass inside the k-σ ellipse of a 2-D Gaussian, k = 1, 2, 3
ELLIPSE_MASSES = (0.393, 0.865, 0.989)
POSTERIOR = "C1"
_Q_STYLES = ((AMORTIZED, "-"), (REFINED, "--"))  # q(z | x) and the refined q*


@validate(
    ax=axes,
    z1=anything,
    z2=anything,
    log_posterior=anything,
    mu=numpy_finite,
    logvar=numpy_finite,
    refined=anything,
    title=optional(text),
    legend=flag,
)
def posterior_and_q(ax, z1, z2, log_posterior, mu, logvar, refined=None, title=None, legend=True):
    r"""The true posterior p(z | x) of a 2-D latent on a grid (``log_posterior`` of shape
    (len(z2), len(z1)), normalised, from :func:`elbo_lib.diagnostics.posterior_on_grid`) as the
    shaded regions of highest density that hold 39 %, 86 % and 99 % of its mass, under the
    ellipses of :math:`q(z \mid x) = \mathcal N(\mu, \mathrm{diag}\,e^{\log s^2})` at 1, 2 and 3
    standard deviations, which hold the same masses of q: where q is the posterior, the lines
    trace the shading's edges. ``refined`` = (mu, logvar) adds a second Gaussian, dashed. The view
    is the square that holds both; the key goes right of the axes, or with ``legend=False`` to
    :func:`posterior_legend`."""
    _check_posterior(z1, z2, log_posterior)
    for name, value in (("mu", mu), ("logvar", logvar)):
        if value.shape != (2,):
            raise ValueError(f"{name} must hold two numbers, got shape {value.shape}")
    if refined is not None:
        refined = gaussian_pair(refined, "refined", (2,))
    z1, z2 = np.asarray(z1, dtype=float), np.asarray(z2, dtype=float)
    density = np.exp(np.asarray(log_posterior, dtype=float))
    levels = _mass_levels(density, ELLIPSE_MASSES)
    top = 1.001 * density.max()  # above every level, even when one cell holds 39 % of the mass
    ax.contourf(z1, z2, density, levels=[*levels, top], cmap="Oranges", alpha=0.85)
    inside = density >= levels[0]
    box = [z1[inside.any(0)].min(), z1[inside.any(0)].max()]
    box += [z2[inside.any(1)].min(), z2[inside.any(1)].max()]
    gaussians = [(mu, logvar)] if refined is None else [(mu, logvar), refined]
    for (m, lv), (colour, style) in zip(gaussians, _Q_STYLES, strict=False):
        box = _sd_ellipses(ax, m, lv, box, colour, style, lw=1.2)
    handles = _posterior_handles(refined is not None) if legend else None
    _square_view(ax, box, title or "True posterior and q", handles)


def _sd_ellipses(ax, mu, logvar, box, colour, style, lw):
    r"""The ellipses of :math:`\mathcal N(\mu, \mathrm{diag}\,e^{\log s^2})` at 1, 2 and 3
    standard deviations; returns ``box`` (x min, x max, y min, y max) grown to hold the last."""
    m, sd = np.asarray(mu, dtype=float), np.exp(0.5 * np.asarray(logvar, dtype=float))
    angle = np.linspace(0, 2 * np.pi, 100)
    for k in (1, 2, 3):
        ax.plot(
            m[0] + k * sd[0] * np.cos(angle),
            m[1] + k * sd[1] * np.sin(angle),
            color=colour,
            ls=style,
            lw=lw,
        )
    return [
        min(box[0], m[0] - 3 * sd[0]),
        max(box[1], m[0] + 3 * sd[0]),
        min(box[2], m[1] - 3 * sd[1]),
        max(box[3], m[1] + 3 * sd[1]),
    ]


def _square_view(ax, box, title, handles=None):
    """The square (with a margin) around ``box`` in the latent plane, its labels and title, and
    a key right of the axes from ``handles`` (None: no key)."""
    centre = np.array([box[0] + box[1], box[2] + box[3]]) / 2
    half = 0.55 * max(box[1] - box[0], box[3] - box[2])
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half))
    ax.set_aspect("equal", adjustable="box")
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title=title)
    if handles is not None:
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))


@validate(fig=instance(FigureBase, what="matplotlib Figure"), refined=flag)
def posterior_legend(fig, refined=True):
    """One key below all the :func:`posterior_and_q` panels of ``fig`` (constrained layout)."""
    fig.legend(handles=_posterior_handles(refined), loc="outside lower center", ncols=3)


def _posterior_handles(refined):
    labels = ("q(z | x): 1, 2, 3 sd", "refined q*: 1, 2, 3 sd")[: 2 if refined else 1]
    return [
        Patch(color=POSTERIOR, alpha=0.6, label="p(z | x): 39, 86, 99 % of mass"),
        *(
            Line2D([], [], color=colour, ls=style, label=label)
            for label, (colour, style) in zip(labels, _Q_STYLES, strict=False)
        ),
    ]


FLOW = "C3"


@validate(
    ax=axes,
    z1=anything,
    z2=anything,
    log_posterior=anything,
    log_q=anything,
    gaussian=anything,
    title=optional(text),
    legend=flag,
)
def posterior_and_flow(ax, z1, z2, log_posterior, log_q, gaussian=None, title=None, legend=True):
    r"""The true posterior p(z | x) on a grid, shaded as in :func:`posterior_and_q`, under the
    lines of a density q given on the same grid (``log_q``, e.g. a flow's,
    :func:`elbo_lib.flows.grid_log_density`) that enclose 39 %, 86 % and 99 % of q's mass: where
    q is the posterior, the lines trace the shading's edges. ``gaussian`` = (mu, logvar) adds a
    diagonal Gaussian's ellipses at 1, 2 and 3 standard deviations (the same masses), dashed.
    The view is the square that holds the posterior's 99 % and q's 99 %."""
    _check_posterior(z1, z2, log_posterior)
    _check_posterior(z1, z2, log_q, name="log_q")
    if gaussian is not None:
        gaussian = gaussian_pair(gaussian, "gaussian", (2,))
    z1, z2 = np.asarray(z1, dtype=float), np.asarray(z2, dtype=float)
    box = [np.inf, -np.inf, np.inf, -np.inf]
    for log_density, filled in ((log_posterior, True), (log_q, False)):
        density = np.exp(np.asarray(log_density, dtype=float))
        levels = _mass_levels(density, ELLIPSE_MASSES)
        if filled:
            top = 1.001 * density.max()
            ax.contourf(z1, z2, density, levels=[*levels, top], cmap="Oranges", alpha=0.85)
        else:
            ax.contour(z1, z2, density, levels=levels, colors=FLOW, linewidths=1.2)
        inside = density >= levels[0]
        box = [
            min(box[0], z1[inside.any(0)].min()),
            max(box[1], z1[inside.any(0)].max()),
            min(box[2], z2[inside.any(1)].min()),
            max(box[3], z2[inside.any(1)].max()),
        ]
    if gaussian is not None:  # the view stays on the posterior and q
        _sd_ellipses(ax, *gaussian, box, REFINED, "--", lw=1.0)
    handles = _flow_handles(gaussian is not None) if legend else None
    _square_view(ax, box, title or "True posterior and the flow's q", handles)


@validate(fig=instance(FigureBase, what="matplotlib Figure"), gaussian=flag)
def flow_legend(fig, gaussian=True):
    """One key below all the :func:`posterior_and_flow` panels of ``fig`` (constrained layout)."""
    fig.legend(handles=_flow_handles(gaussian), loc="outside lower center", ncols=3)


def _flow_handles(gaussian):
    handles = [
        Patch(color=POSTERIOR, alpha=0.6, label="p(z | x): 39, 86, 99 % of mass"),
        Line2D([], [], color=FLOW, label="flow q: 39, 86, 99 % of mass"),
    ]
    if gaussian:
        handles.append(Line2D([], [], color=REFINED, ls="--", label="best Gaussian: 1, 2, 3 sd"))
    return handles


@validate(ax=axes, lengths=numpy_finite, kl=numpy_finite, names=anything)
def kl_against_length(ax, lengths, kl, names=None):
    r""":math:`\mathrm{KL}(q \,\|\, p(z \mid x))` in nats against the flow's length: ``kl`` of
    shape (len(lengths), n_images), one thin line per image (labelled by ``names`` where given,
    None for none), their mean in black. Length 0 is the diagonal Gaussian; the y-axis is
    logarithmic."""
    if lengths.ndim != 1 or len(lengths) < 2:
        raise ValueError(f"lengths must be a 1-D array of at least two lengths, got {lengths}")
    if kl.ndim != 2 or kl.shape[0] != len(lengths) or kl.shape[1] == 0 or np.any(kl <= 0):
        raise ValueError("kl must be positive, of shape (len(lengths), n_images)")
    if names is not None and (isinstance(names, str) or len(names) != kl.shape[1]):
        raise ValueError(f"names must hold one label (or None) per image, got {names!r}")
    names = [None] * kl.shape[1] if names is None else list(names)
    for i, name in enumerate(names):
        style = {"color": "0.75", "lw": 0.8} if name is None else {"lw": 1.5, "label": name}
        ax.plot(lengths, kl[:, i], marker=".", **style)
    ax.plot(lengths, kl.mean(1), "k-o", lw=2, label="mean over the images")
    ax.set_yscale("log")
    ax.set_xticks(lengths)
    ax.set(
        xlabel="flow length L (planar layers; 0: the diagonal Gaussian)",
        ylabel="KL(q ‖ p(z | x)), nats",
        title="The gap to the true posterior against flow length",
    )
    ax.legend(fontsize=8)


@validate(ax=axes, images=anything, extent=positive_real)
def latent_manifold(ax, images, extent):
    r"""The decoded images of an m × m grid of latent points over :math:`[-e, e]^2`
    (e = ``extent``), tiled at their positions: ``images`` has shape (m, m, 64), row i and
    column j decoded at :math:`(z_1, z_2) = (z1_j, z2_i)` with z1 and z2 ascending."""
    pixels = as_numpy(images, "images")
    if pixels.ndim != 3 or pixels.shape[0] != pixels.shape[1] or pixels.shape[0] < 2:
        raise ValueError(f"images must have shape (m, m, 64) with m ≥ 2, got {pixels.shape}")
    if pixels.shape[2] != 64 or np.any((pixels < 0) | (pixels > 1)):
        raise ValueError("images must hold 64 pixels per tile, each in [0, 1]")
    images = np.asarray(images, dtype=float)
    m = images.shape[0]
    h, w = IMAGE_SHAPE
    tiles = np.full((m, m, h + 1, w + 1), np.nan)  # one blank row and column between tiles
    tiles[:, :, :h, :w] = images.reshape(m, m, h, w)[::-1]  # the top row is the largest z2
    canvas = tiles.transpose(0, 2, 1, 3).reshape(m * (h + 1), m * (w + 1))[:-1, :-1]
    pixel = 2 * extent / ((w + 1) * (m - 1))  # tile centres 2e/(m - 1) = w + 1 pixels apart
    edge = extent + w / 2 * pixel
    ax.imshow(
        canvas,
        cmap="gray_r",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        extent=(-edge, edge, -edge, edge),
    )
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title="Decoded digits over the latent plane")


@validate(ax=axes, z=numpy_finite, labels=anything, point=numpy_finite)
def latent_codes(ax, z, labels, point):
    r"""Points in a 2-D latent space (e.g. posterior means) coloured by class label, each label
    written at the median of its points (cheaper to redraw than a legend), and ``point``
    :math:`(z_1, z_2)` marked with a cross."""
    if z.ndim != 2 or z.shape[1:] != (2,) or len(z) == 0:
        raise ValueError(f"z must have shape (n, 2) with n ≥ 1, got {np.shape(z)}")
    if labels is None or np.shape(labels) != (len(z),):
        raise ValueError(f"labels must hold one label per point of z, got {labels!r}")
    if point.shape != (2,):
        raise ValueError(f"point must be two numbers (z1, z2), got {point!r}")
    labels = np.asarray(labels)
    classes = np.unique(labels)
    colours = {c: f"C{i % 10}" for i, c in enumerate(classes)}
    ax.scatter(z[:, 0], z[:, 1], c=[colours[c] for c in labels], s=6, alpha=0.6)
    for c in classes:
        centre = np.median(z[labels == c], axis=0)
        ax.text(
            *centre,
            str(c),
            color=colours[c],
            fontsize=13,
            weight="bold",
            ha="center",
            va="center",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1},
        )
    ax.plot(*point, "k+", ms=16, mew=2.5)
    ax.set(xlabel="$z_1$", ylabel="$z_2$", title="Codes of the digits (labels at their medians)")


def _mass_levels(density, masses):
    """The density values above which the grid holds each of ``masses`` (largest mass first)."""
    values = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(values) / values.sum()
    index = np.searchsorted(cumulative, sorted(masses, reverse=True))
    return sorted(set(values[np.minimum(index, len(values) - 1)].tolist()))


def _check_posterior(z1, z2, log_posterior, name="log_posterior"):
    """Raise a ValueError naming the argument unless z1 and z2 are 1-D finite axes of at least
    two points and ``log_posterior`` (len(z2), len(z1)) is finite or -inf, with a finite entry."""
    for axis, values in (("z1", z1), ("z2", z2)):
        if as_numpy(values, axis).ndim != 1 or len(values) < 2:
            raise ValueError(f"{axis} must be a 1-D axis of at least two points")
    log_posterior = as_numpy(log_posterior, name, finite=False)
    if log_posterior.shape != (len(z2), len(z1)):
        raise ValueError(f"{name} must have shape (len(z2), len(z1)), got {log_posterior.shape}")
    if np.any(log_posterior == np.inf) or not np.any(np.isfinite(log_posterior)):
        raise ValueError(f"{name} must be finite or -inf, with at least one finite entry")

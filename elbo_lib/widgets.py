r"""Slider-driven figures for the notebooks: each explorer is one cell, ``explorer(...)``.

A :class:`SliderFigure` keeps one matplotlib :class:`~matplotlib.figure.Figure` on the Agg
canvas (no pyplot state, so nothing leaks into the notebook's own figures). When a slider's
``value`` changes, the data artists of its axes are removed (the axes, their ticks and layout
stay), a pure plotting function from :mod:`elbo_lib.plots` redraws them, the canvas renders them
over the axes' backdrop (ticks and labels, rendered again only when they change) and Pillow
encodes the pixels as PNG into an :class:`ipywidgets.Image`. The layout is solved on the first
frame and then frozen, frames are 80 dpi with fast PNG compression, and BLAS runs one thread per
redraw (the measurements behind these choices: ``benchmarks/RESULTS.md``).

Everything is driven by plain ``value`` changes of standard ipywidgets sliders, so setting
``explorer.sliders["mu"].value = 1.0`` in the kernel redraws synchronously (a benchmark can
time it) and a browser that moves a slider sees ``explorer.image`` change. A reader of stored
outputs gets the same frame as a static image from :meth:`SliderFigure.snapshot`.
"""

import io
import itertools
import math

import ipywidgets
import numpy as np
import PIL.Image
from IPython.display import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from elbo_lib import plots
from elbo_lib.ascent import elbo_ascent, kl_descent
from elbo_lib.divergences import factorised_fit, fit_gaussian, mixture_log_density
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.validation import (
    anything,
    as_numpy,
    count,
    flag,
    function,
    gaussian_pair,
    instance,
    integer,
    linear_gaussian_model,
    number,
    numpy_finite,
    positive_real,
    real_number,
    seed,
    text,
    vae_2d,
    validate,
)

STYLE = {"description_width": "initial"}  # of every slider: the label in full, 420 px wide
LAYOUT = {"width": "420px"}
_SLIDERS = (ipywidgets.FloatSlider, ipywidgets.FloatLogSlider, ipywidgets.IntSlider)


@validate(
    description=text,
    low=real_number,
    high=real_number,
    value=real_number,
    step=positive_real,
    continuous=flag,
)
def float_slider(description, low, high, value, step=0.01, *, continuous=True):
    """A :class:`ipywidgets.FloatSlider` labelled with ``description`` (use the symbol)."""
    _check_range(low, high, value)
    return ipywidgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=continuous,
        style=STYLE,
        layout=LAYOUT,
    )


@validate(
    description=text, low=positive_real, high=positive_real, value=positive_real, continuous=flag
)
def log_slider(description, low, high, value, *, continuous=True):
    """A :class:`ipywidgets.FloatLogSlider` from ``low`` to ``high`` (values, not exponents),
    for scales such as variances."""
    _check_range(low, high, value)
    return ipywidgets.FloatLogSlider(
        value=value,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=(math.log10(high) - math.log10(low)) / 200,
        description=description,
        readout_format=".3g",
        continuous_update=continuous,
        style=STYLE,
        layout=LAYOUT,
    )


@validate(slider=instance(*_SLIDERS, what="ipywidgets slider"))
def value_range(slider):
    """(lowest, highest) value a slider can take; a log slider's ends in values, not exponents."""
    if isinstance(slider, ipywidgets.FloatLogSlider):
        return slider.base**slider.min, slider.base**slider.max
    return slider.min, slider.max


class SliderFigure(ipywidgets.VBox):
    """Sliders above a figure that ``draw(*axes, **values)`` redraws whenever a slider moves.

    ``sliders`` maps each keyword of ``draw`` to its slider. ``nrows``, ``ncols`` and
    ``width_ratios`` lay out the axes. Attributes: ``sliders``, ``image`` (the
    :class:`ipywidgets.Image` showing the frame), ``figure`` and ``axes``.
    """

    @validate(
        draw=function,
        sliders=anything,
        nrows=count(limit=10),
        ncols=count(limit=10),
        width_ratios=anything,
        figsize=anything,
    )
    def __init__(self, draw, sliders, *, nrows=1, ncols=1, width_ratios=None, figsize=(8, 3.4)):
        self.sliders = dict(sliders)
        self.figure = Figure(figsize=figsize, dpi=80, layout="constrained")
        FigureCanvasAgg(self.figure)
        self.axes = tuple(
            self.figure.subplots(nrows, ncols, squeeze=False, width_ratios=width_ratios).ravel()
        )
        self.image = ipywidgets.Image(format="png")
        self._draw = draw
        self._backdrop_state, self._backdrop = None, None  # what the backdrop shows, its pixels
        self.redraw()
        self.figure.set_layout_engine("none")  # keep the first frame's layout: faster frames
        for slider in self.sliders.values():
            slider.observe(self.redraw, names="value")
        super().__init__([*self.sliders.values(), self.image])

    @property
    def values(self):
        """The sliders' current values, by keyword."""
        return {name: slider.value for name, slider in self.sliders.items()}

    @validate(change=anything)
    def redraw(self, change=None):
        """Draw the frame for the current slider values and show it in ``image``. A value that is
        not a finite number (set from code) is undone and refused with a ``ValueError``."""
        if change is not None and not np.isfinite(change["new"]):
            name = next(k for k, s in self.sliders.items() if s is change["owner"])
            change["owner"].value = change["old"]
            raise ValueError(f"slider {name!r} must be a finite number, got {change['new']!r}")
        for ax in self.axes:
            _remove_artists(ax)
        with threadpool_limits(1, user_api="blas"):  # BLAS threads only spin on these sizes
            self._draw(*self.axes, **self.values)
        self._render()
        buffer = io.BytesIO()
        pixels = PIL.Image.fromarray(np.asarray(self.figure.canvas.buffer_rgba()))
        pixels.save(buffer, "png", compress_level=1)
        self.image.value = buffer.getvalue()

    def _render(self):
        """Render the frame on the canvas. While the axes' backdrop (background, ticks, tick and
        axis labels) stays as it was in the last frame, it is kept as pixels and only what
        ``draw`` drew, the spines and the titles are rendered over it ("animated" artists, in
        the order of ``Axes.draw``: blitting); a frame whose backdrop changed is rendered whole
        (the first one also solves the layout)."""
        steady = [_backdrop_state(ax) for ax in self.axes] == self._backdrop_state
        layers = [_frame_artists(ax) for ax in self.axes]
        for artist in itertools.chain(*layers):
            artist.set_animated(steady)
        canvas = self.figure.canvas
        if not steady:
            self._backdrop = None
            canvas.draw()
            # read once drawn: the first frame's layout moves the axes
            self._backdrop_state = [_backdrop_state(ax) for ax in self.axes]
            return
        if self._backdrop is None:
            canvas.draw()  # the animated artists are left out
            self._backdrop = canvas.copy_from_bbox(self.figure.bbox)
        else:
            canvas.restore_region(self._backdrop)
        for ax, artists in zip(self.axes, layers, strict=True):
            for artist in artists:
                ax.draw_artist(artist)

    @validate()
    def snapshot(self):
        """The current frame as a static image, for readers of the stored outputs."""
        return Image(data=bytes(self.image.value), format="png")


def _check_range(low, high, value):
    if not low < high:
        raise ValueError(f"low must be below high, got {low!r} and {high!r}")
    number(value, "value", low=low, high=high, strict=False)


def _frame_artists(ax):
    """The artists of ``ax`` that every frame renders anew, sorted by zorder as ``Axes.draw``
    sorts them: all but its background and its x and y axes (the spines where it has a frame;
    inset axes whole)."""
    backdrop = {ax.patch, ax.xaxis, ax.yaxis}
    if not (ax.axison and ax.get_frame_on()):
        backdrop.update(ax.spines.values())
    return sorted((a for a in ax.get_children() if a not in backdrop), key=lambda a: a.get_zorder())


def _backdrop_state(ax):
    """What the backdrop of ``ax`` shows: its place, limits, scales, ticks, tick labels (with
    any offset) and axis labels. A frame whose state is unchanged reuses the backdrop."""
    ax.apply_aspect()
    state = [ax.get_position().bounds, ax.get_xlim(), ax.get_ylim(), ax.axison]
    for axis in (ax.xaxis, ax.yaxis):
        state += [axis.get_scale(), axis.label.get_text()]
        for ticker in (axis.major, axis.minor):
            ticks = [float(t) for t in ticker.locator()]
            state += [ticks, ticker.formatter.format_ticks(ticks), ticker.formatter.get_offset()]
    return state


def _remove_artists(ax):
    """Empty ``ax`` of what a plotting function drew, keeping the axes and their ticks (cheaper
    than ``Axes.clear``, which rebuilds every tick)."""
    for group in ("collections", "lines", "patches", "texts", "images", "artists"):
        for artist in list(getattr(ax, group)):  # collections first: a contour removes its labels
            artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.containers.clear()
    ax.relim()
    ax.ignore_existing_data_limits = True
    ax.set_autoscale_on(True)  # limits follow the new data unless the plotting function sets them


@validate(seed=seed)
def jensen_explorer(seed=0):
    r"""Jensen's inequality :math:`\log\mathbb E[Y] \ge \mathbb E[\log Y]` for a log-normal Y
    with :math:`\mathbb E[Y] = 1` and spread τ (slider); the gap is :math:`\tau^2/2`."""
    eps = np.random.default_rng(seed).standard_normal(200)
    sigma = float_slider("spread of log Y, τ", 0.05, 2.5, 1.2)

    def draw(ax_curve, ax_gap, sigma):
        plots.jensen_chord(ax_curve, sigma, eps)
        plots.jensen_gap_curve(ax_gap, sigma)

    return SliderFigure(draw, {"sigma": sigma}, ncols=2)


@validate(model=linear_gaussian_model, x=real_number)
def kl_identity_explorer(model, x):
    r"""Sliders for q's mean μ and variance s² move :math:`\log p(x) = \mathrm{ELBO}(q) +
    \mathrm{KL}(q\,\|\,p(z\mid x))` as a stacked bar, beside q and the posterior."""
    sliders = {
        "mu": float_slider("mean of q, μ", -4, 4, round(float(model.posterior(x)[0]) - 1.5, 2)),
        "s2": log_slider("variance of q, s²", 0.01, 10, 1.0),
    }

    def draw(ax_density, ax_bar, mu, s2):
        plots.prior_q_posterior(ax_density, model, x, mu, s2)
        plots.elbo_gap_bar(ax_bar, float(model.log_evidence(x)), float(model.elbo(x, mu, s2)))

    return SliderFigure(draw, sliders, ncols=2, width_ratios=(2, 1))


@validate()
def kl_map_explorer():
    r"""Sliders for q's mean μ and variance s² move q over the map of
    :math:`\mathrm{KL}(\mathcal N(\mu, s^2)\,\|\,\mathcal N(0, 1))`."""
    sliders = {
        "mu": float_slider("mean of q, μ", -3, 3, 1.5),
        "s2": log_slider("variance of q, s²", 0.01, 10, 0.2),
    }

    def draw(ax_map, ax_density, mu, s2):
        plots.kl_map(ax_map, mu, s2, kl_descent(mu, s2))
        plots.q_and_prior(ax_density, mu, s2)

    return SliderFigure(draw, sliders, ncols=2, figsize=(9, 3.6))


@validate()
def elbo_landscape_explorer():
    r"""Sliders for the data point x, the weight w and the noise σ² of
    :math:`p(x \mid z) = \mathcal N(wz, \sigma^2)` reshape the ELBO over (μ, s²); gradient
    ascent and the closed-form optimum are drawn on it, beside prior, likelihood and posterior."""
    sliders = {
        "x": float_slider("data point, x", -4, 4, 2.0, continuous=False),
        "w": float_slider("weight, w", -3, 3, 1.5, continuous=False),
        "sigma2": log_slider("noise variance, σ²", 0.05, 10, 0.5, continuous=False),
    }

    def draw(ax_landscape, ax_density, x, w, sigma2):
        model = LinearGaussian(w, sigma2)
        plots.elbo_landscape(ax_landscape, model, x, elbo_ascent(model, x))
        plots.prior_likelihood_posterior(ax_density, model, x)

    return SliderFigure(draw, sliders, ncols=2, figsize=(10, 3.8))


@validate()
def mode_seeking_explorer():
    r"""Sliders for the separation Δ and the weight π of a two-mode mixture; the reverse-KL
    fit (what the ELBO does) and the forward-KL fit are redrawn."""
    grid = np.linspace(-9, 9, 181)
    sliders = {
        "separation": float_slider("separation of the modes, Δ", 0, 10, 6.0, 0.1, continuous=False),
        "weight": float_slider("weight of the left mode, π", 0.05, 0.95, 0.4, continuous=False),
    }

    def draw(ax, separation, weight):
        log_p = mixture_log_density(grid, separation, weight)
        fits = {
            "reverse KL(q‖p)": fit_gaussian(log_p, grid, "reverse"),
            "forward KL(p‖q)": fit_gaussian(log_p, grid, "forward"),
        }
        plots.mixture_fits(ax, grid, log_p, fits)
        ax.set_title(f"Two modes {separation:.1f} apart, weights {weight:.2f} and {1 - weight:.2f}")

    return SliderFigure(draw, sliders, figsize=(8, 3.4))


@validate()
def factorised_fit_explorer():
    r"""A slider for the correlation ρ of a 2-D Gaussian with unit variances; the factorised
    fits under the reverse KL (variances :math:`1 - \rho^2`) and the forward KL (variances 1)."""
    sliders = {"rho": float_slider("correlation, ρ", -0.95, 0.95, 0.8)}

    def draw(ax, rho):
        cov = np.array([[1.0, rho], [rho, 1.0]])
        covs = {f"p: correlation ρ = {rho:.2f}": cov}
        for label, objective in (("reverse KL(q‖p)", "reverse"), ("forward KL(p‖q)", "forward")):
            _, var = factorised_fit(np.zeros(2), cov, objective)
            covs[f"{label}: variances {var[0]:.2f}"] = np.diag(var)
        plots.gaussian_ellipses(ax, np.zeros(2), covs)
        ax.set(xlim=(-3.2, 3.2), ylim=(-3.2, 3.2))

    return SliderFigure(draw, sliders, figsize=(5, 5))


@validate(description=text, options=anything, value=anything)
def choice_slider(description, options, value):
    """A :class:`ipywidgets.SelectionSlider` over ``options`` (e.g. sample sizes 1, 2, 5, …)."""
    if not (isinstance(options, list | tuple | range) and options):
        raise ValueError(f"options must be a non-empty sequence, got {options!r}")
    if value not in options:
        raise ValueError(f"value must be one of options, got {value!r}")
    return ipywidgets.SelectionSlider(
        options=list(options),
        value=value,
        description=description,
        style=STYLE,
        layout=LAYOUT,
    )


SAMPLE_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500)


@validate(mu=real_number, var=positive_real, repeats=count(2, limit=10**5), seed=seed)
def gradient_estimators_explorer(mu=1.0, var=1.0, repeats=400, seed=0):
    r"""A slider for the number of samples S per estimate: histograms of ``repeats`` estimates
    of :math:`\partial/\partial\mu\ \mathbb E_q[z^2] = 2\mu`, :math:`q = \mathcal N(\mu, s^2)`,
    by the score function (without and with the baseline :math:`b = \mathbb E_q[z^2]
    = \mu^2 + s^2`) and by the pathwise estimator. The single-sample estimates are drawn
    once (``repeats`` rows of the largest S); an S-sample estimate averages the first S of a
    row."""
    # imported here: the other explorers run without torch, which is slow to load
    from elbo_lib.estimators import pathwise_gradients, score_function_gradients

    def square(z):
        return z**2

    largest = SAMPLE_SIZES[-1]
    single = {
        "score function": score_function_gradients(square, mu, var, repeats * largest, seed=seed),
        "score function,\nbaseline E[f]": score_function_gradients(
            square, mu, var, repeats * largest, baseline=mu**2 + var, seed=seed
        ),
        "pathwise": pathwise_gradients(square, mu, var, repeats * largest, seed=seed),
    }
    single = {label: rows[:, 0].reshape(repeats, largest) for label, rows in single.items()}
    exact = 2 * mu
    bins = np.linspace(exact - 4, exact + 4, 81)

    def draw(ax, n_samples):
        estimates = {label: rows[:, :n_samples].mean(axis=1) for label, rows in single.items()}
        plots.estimate_histograms(ax, estimates, exact, bins)
        ax.set_title(
            f"{repeats} estimates of ∂E[z²]/∂μ, each from S = {n_samples} samples of"
            rf" $q = \mathcal{{N}}({mu:g}, {var:g})$"
        )

    slider = choice_slider("samples per estimate, S", SAMPLE_SIZES, 10)
    return SliderFigure(draw, {"n_samples": slider}, figsize=(9, 4))


@validate(
    images=anything,
    grid=anything,
    mu=numpy_finite,
    logvar=numpy_finite,
    refined=anything,
    names=anything,
)
def posterior_explorer(images, grid, mu, logvar, refined=None, names=None):
    r"""A slider over ``images`` (rows of 64 pixels) showing each image beside its true posterior
    and :math:`q(z \mid x)` (:func:`elbo_lib.vae_plots.posterior_and_q`): ``grid`` from
    :func:`elbo_lib.diagnostics.posterior_on_grid` for those images, ``mu`` and ``logvar`` (n, 2)
    the encoder's q, ``refined`` an optional second (mu, logvar), ``names`` the images' titles
    (default: their positions)."""
    from elbo_lib import vae_plots
    from elbo_lib.diagnostics import check_grid

    shape = as_numpy(images, "images").shape
    if len(shape) != 2 or shape[0] == 0 or shape[1] != 64:
        raise ValueError(f"images must have shape (n, 64) with n ≥ 1, got {shape}")
    check_grid(grid, shape[0])
    if mu.shape != (shape[0], 2) or logvar.shape != (shape[0], 2):
        raise ValueError(f"mu and logvar must have shape ({shape[0]}, 2), one row per image")
    if refined is not None:
        refined = gaussian_pair(refined, "refined", mu.shape)
    if names is not None and (isinstance(names, str) or len(names) != shape[0]):
        raise ValueError(f"names must hold one title per image, got {names!r}")
    images = np.asarray(images)
    z1, z2 = np.asarray(grid["z1"]), np.asarray(grid["z2"])
    log_posterior = np.asarray(grid["log_posterior"])
    names = [f"image {i}" for i in range(len(images))] if names is None else list(names)
    slider = ipywidgets.IntSlider(
        value=0, min=0, max=len(images) - 1, description="image", style=STYLE, layout=LAYOUT
    )

    def draw(ax_image, ax_posterior, index):
        vae_plots.image_grid(ax_image, images[index : index + 1], ncols=1, title=names[index])
        vae_plots.posterior_and_q(
            ax_posterior,
            z1,
            z2,
            log_posterior[index],
            mu[index],
            logvar[index],
            refined=None if refined is None else (refined[0][index], refined[1][index]),
            title="its true posterior p(z | x) and q(z | x)",
        )

    return SliderFigure(draw, {"index": slider}, ncols=2, width_ratios=(1, 3), figsize=(8.5, 3.6))


@validate(model=vae_2d, mu=numpy_finite, labels=anything, extent=positive_real)
def latent_explorer(model, mu, labels, extent=3.0):
    r"""Sliders for a latent point :math:`(z_1, z_2)` of a model with a 2-D latent: the point
    over the posterior means ``mu`` (n, 2) of images with digit ``labels``, beside the decoder's
    pixel probabilities (Bernoulli) or means (Gaussian) at that point."""
    import torch

    from elbo_lib import vae_plots

    if mu.ndim != 2 or mu.shape[1] != 2:
        raise ValueError(f"mu must have shape (n, 2), got {mu.shape}")
    if labels is None or np.shape(labels) != (len(mu),):
        raise ValueError(f"labels must hold one label per row of mu, got {labels!r}")
    labels = np.asarray(labels)
    sliders = {
        "z1": float_slider("latent z₁", -extent, extent, 0.0, 0.05),
        "z2": float_slider("latent z₂", -extent, extent, 0.0, 0.05),
    }

    def draw(ax_latent, ax_digit, z1, z2):
        vae_plots.latent_codes(ax_latent, mu, labels, (z1, z2))
        ax_latent.set(xlim=(-extent, extent), ylim=(-extent, extent))
        ax_latent.set_title("Posterior means of the digits; + is z")
        with torch.no_grad():
            decoded = model.decode(torch.tensor([[z1, z2]], dtype=torch.float32))
        pixels = model.pixel_means(decoded)
        title = "p(pixel = 1) at z" if model.likelihood == "bernoulli" else "decoder mean at z"
        vae_plots.image_grid(ax_digit, pixels.numpy(), ncols=1, title=title)

    return SliderFigure(draw, sliders, ncols=2, width_ratios=(1.6, 1), figsize=(7, 3.8))


@validate(
    model=vae_2d,
    images=anything,
    grid=anything,
    fits=anything,
    names=anything,
    max_length=count(limit=10**3),
)
def flow_explorer(model, images, grid, fits=None, names=None, max_length=8):
    r"""Sliders for an image of ``images`` and a flow length L from 0 to ``max_length``: the
    image's flow q of that length drawn against its true posterior
    (:func:`elbo_lib.vae_plots.posterior_and_flow`), beside the best diagonal Gaussian (the fit
    of length 0), with both KLs to the posterior by quadrature. ``fits`` maps lengths to
    :class:`elbo_lib.flows.FlowPosterior` fitted to all the images at once
    (:func:`elbo_lib.flows.fit_flow`), shown as they are; any other length is fitted to the one
    image when first shown (a refit: under a second on one CPU) and kept. ``grid`` is
    :func:`elbo_lib.diagnostics.posterior_on_grid` of ``model`` for those images; ``names`` are
    the images' titles (default: their positions)."""
    from elbo_lib import flows, vae_plots
    from elbo_lib.diagnostics import check_grid, grid_kl_of_density

    images = model.check_data(images, "images")
    check_grid(grid, len(images))
    fits = {} if fits is None else fits
    if not isinstance(fits, dict) or not all(
        isinstance(q, flows.FlowPosterior) and q.mu.shape == (len(images), 2) for q in fits.values()
    ):
        raise ValueError(f"fits must map lengths to FlowPosteriors of the {len(images)} images")
    for length, q in fits.items():
        if integer(length, "each length of fits") != q.flow.length or length > max_length:
            raise ValueError(f"fits maps {length!r} to a flow of length {q.flow.length}")
    if names is not None and (isinstance(names, str) or len(names) != len(images)):
        raise ValueError(f"names must hold one title per image, got {names!r}")
    names = [f"image {i}" for i in range(len(images))] if names is None else list(names)
    on_grid = {}  # length -> (log q on the grid, KL) of every image, for the lengths of fits
    refits = {}  # (image, length) -> (base mean, base log-variance, log q on the grid, KL)

    def fit(index, length):
        if length in fits:
            if length not in on_grid:
                log_q = flows.grid_log_density(grid, fits[length])
                on_grid[length] = (log_q, grid_kl_of_density(grid, log_q))
            q, (log_q, kl) = fits[length], on_grid[length]
            return q.mu[index].detach(), q.logvar[index].detach(), log_q[index], float(kl[index])
        if (index, length) not in refits:
            one = {**grid, "log_posterior": grid["log_posterior"][index : index + 1]}
            q = flows.fit_flow(model, images[index : index + 1], length)
            log_q = flows.grid_log_density(one, q)
            kl = float(grid_kl_of_density(one, log_q)[0])
            refits[index, length] = (q.mu[0].detach(), q.logvar[0].detach(), log_q[0], kl)
        return refits[index, length]

    def draw(ax_image, ax_posterior, index, length):
        vae_plots.image_grid(ax_image, images[index : index + 1], ncols=1, title=names[index])
        mu, logvar, _, gaussian_kl = fit(index, 0)
        *_, log_q, kl = fit(index, length)
        vae_plots.posterior_and_flow(
            ax_posterior,
            grid["z1"],
            grid["z2"],
            grid["log_posterior"][index],
            log_q,
            gaussian=(mu, logvar),
            title=f"L = {length}: KL(q ‖ p(z | x)) = {kl:.2f} nats (Gaussian {gaussian_kl:.2f})",
        )

    sliders = {
        "index": ipywidgets.IntSlider(
            value=0,
            min=0,
            max=len(images) - 1,
            description="image",
            continuous_update=False,
            style=STYLE,
            layout=LAYOUT,
        ),
        "length": ipywidgets.IntSlider(
            value=min(2, max_length),
            min=0,
            max=max_length,
            description="flow length L",
            continuous_update=False,
            style=STYLE,
            layout=LAYOUT,
        ),
    }
    return SliderFigure(draw, sliders, ncols=2, width_ratios=(1, 3), figsize=(9, 3.8))


@validate(images=anything, gaps=anything)
def gap_explorer(images, gaps):
    """A slider over ``images`` showing each one beside its
    :func:`elbo_lib.vae_plots.gap_bars`; ``gaps`` is the per-image dict of
    :func:`elbo_lib.diagnostics.inference_gaps`."""
    from elbo_lib import vae_plots

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
        vae_plots.image_grid(
            ax_image, images[index : index + 1], ncols=1, title=f"test image {index}"
        )
        vae_plots.gap_bars(
            ax_bars,
            numbers["log_likelihood"][index],
            numbers["refined_elbo"][index],
            numbers["amortized_elbo"][index],
            title="its ELBOs and log p(x)",
        )

    return SliderFigure(draw, {"index": slider}, ncols=2, width_ratios=(1, 3), figsize=(8, 3.4))

r"""The β widget of notebook 11: pick β on a log slider, press Train, and a small β-VAE is
retrained on the digits (a progress bar shows the epochs) to minimise :math:`D + \beta R`. Its
(rate, distortion) point joins every earlier point on the plane, so a student builds the curve
by hand; Reset clears the plane. Beside it: reconstructions of fixed test digits, samples from
the prior and the test digits' posterior means in the latent space, coloured by label.

Built on :class:`elbo_lib.widgets.SliderFigure` (one Agg figure shown as an ipywidgets Image). The
slider only sets up the next run: nothing is trained until Train is pressed.
"""

import dataclasses
import time

import ipywidgets
import torch

from elbo_lib._torch import seeded
from elbo_lib.adam import LR_LIMIT
from elbo_lib.data import check_images
from elbo_lib.plots import latent_scatter
from elbo_lib.rate_distortion import plot_rate_distortion, rate_distortion, train_beta_vae
from elbo_lib.vae_plots import image_grid
from elbo_lib.validation import (
    anything,
    count,
    hidden,
    real,
    seed,
    validate,
)
from elbo_lib.widgets import SliderFigure, log_slider


@dataclasses.dataclass(frozen=True)
class BetaVAEConfig:
    """The widget's β-VAE (:func:`~elbo_lib.rate_distortion.train_beta_vae`)."""

    z_dim: int = 2  # a 2-D latent, so it can be drawn
    hidden: tuple[int, ...] = (128,)  # hidden layer sizes of encoder and decoder
    epochs: int = 30
    lr: float = 3e-3  # Adam's step size


BetaVAEConfig.__init__ = validate(
    z_dim=count(limit=2**14), hidden=hidden, epochs=count(limit=10**5), lr=real(0.0, LR_LIMIT)
)(BetaVAEConfig.__init__)

MODEL = BetaVAEConfig()
"""The default: trained in about a second."""
BETA_RANGE = (0.01, 20.0)
N_SHOWN = 8  # test digits reconstructed
LATENT_LIMITS = (-4, 4)  # fixed, so that a collapsed latent shows as a dot at the origin


class BetaWidget(SliderFigure):
    """A β slider with Train and Reset buttons above a progress bar and the four-panel figure.

    ``train(beta)`` does what the Train button does (notebooks call it to store a static copy),
    ``reset()`` what Reset does. ``points`` holds (β, rate, distortion) of every run since the
    last reset; ``model`` is the latest model. Keyword arguments override fields of
    :data:`MODEL`.
    """

    @validate(x_train=anything, x_test=anything, y_test=anything, betas=anything, seed=seed)
    def __init__(self, x_train, x_test, y_test, *, betas=(1.0,), seed=0, **model):
        check_images(x_train, "x_train", unit_interval=True)
        check_images(x_test, "x_test", x_train.shape[1], unit_interval=True)
        self.x_train, self.x_test, self.y_test = x_train, x_test, y_test
        self.settings = dataclasses.replace(MODEL, **model)
        self.seed = seed
        self.points, self.model = [], None
        self.slider = log_slider("β", *BETA_RANGE, 1.0, continuous=False)
        self.train_button = ipywidgets.Button(description="Train", button_style="primary")
        self.reset_button = ipywidgets.Button(description="Reset")
        self.progress = ipywidgets.IntProgress(
            value=0, min=0, max=self.settings.epochs, description="training"
        )
        self.status = ipywidgets.Label()
        for beta in betas:
            self._fit(beta)
        super().__init__(self._draw, {}, nrows=2, ncols=2, figsize=(9.5, 5.0))
        # a frame follows a training run, so it can afford the layout (tick labels widen as
        # points join the plane)
        self.figure.set_layout_engine("constrained")
        self.children = [
            ipywidgets.HBox([self.slider, self.train_button, self.reset_button]),
            ipywidgets.HBox([self.progress, self.status]),
            self.image,
        ]
        self.train_button.on_click(lambda _: self.train(self.slider.value))
        self.reset_button.on_click(lambda _: self.reset())

    @validate(beta=real(0.0, 1e6, strict=False))
    def train(self, beta):
        """Train a fresh model at ``beta``, add its point and redraw."""
        self.train_button.disabled = True
        try:
            self._fit(beta)
            self.redraw()
        finally:
            self.train_button.disabled = False

    @validate()
    def reset(self):
        """Clear the plane (the panels keep showing the latest model)."""
        self.points.clear()
        self.redraw()

    def _fit(self, beta):
        start = time.perf_counter()
        settings = self.settings
        self.model = train_beta_vae(
            float(beta),
            self.x_train,
            z_dim=settings.z_dim,
            hidden=settings.hidden,
            epochs=settings.epochs,
            lr=settings.lr,
            seed=self.seed,
            callback=lambda epoch, _: setattr(self.progress, "value", epoch + 1),
        )
        rate, distortion = rate_distortion(self.model, self.x_test)
        self.points.append((float(beta), rate, distortion))
        self.beta = float(beta)
        self.status.value = (
            f"β = {beta:.3g}: rate {rate:.2f} nats, distortion {distortion:.2f} nats "
            f"(trained in {time.perf_counter() - start:.1f} s)"
        )

    @torch.no_grad()
    def _draw(self, ax_plane, ax_latent, ax_reconstruction, ax_samples):
        beta, rate, distortion = zip(*self.points, strict=True) if self.points else ((), (), ())
        plot_rate_distortion(
            ax_plane, rate, distortion, beta, latest=len(self.points) - 1 if self.points else None
        )
        mu, _ = self.model.encode(self.x_test)
        latent_scatter(ax_latent, mu[:, :2].numpy(), self.y_test.numpy())
        ax_latent.set(xlim=LATENT_LIMITS, ylim=LATENT_LIMITS)
        ax_latent.set_title(f"Posterior means of the test digits (β = {self.beta:.3g})")
        shown = self.x_test[:N_SHOWN]
        reconstructed = self.model.pixel_means(self.model.decode(self.model.encode(shown)[0]))
        image_grid(
            ax_reconstruction,
            torch.cat([shown, reconstructed]),
            ncols=N_SHOWN,
            row_labels=["data", "recon."],
            title="Reconstructions from the posterior mean",
        )
        with seeded(self.seed):
            samples = self.model.sample(2 * N_SHOWN)
        image_grid(ax_samples, samples, ncols=N_SHOWN, title="Samples: decoder at z ~ p(z)")

r"""Slider-driven figures for the notebooks: each explorer is one cell, ``explorer(...)``.

How a figure follows its sliders (chosen by measurement, see ``benchmarks/theory_widgets.py``):
a :class:`SliderFigure` keeps ONE matplotlib :class:`~matplotlib.figure.Figure` on the Agg
canvas (no pyplot state, so nothing leaks into the notebook's own figures). When a slider's
``value`` changes, the data artists of its axes are removed (the axes, their ticks and layout
stay), a pure plotting function from :mod:`elbo_lib.plots` redraws them, the canvas renders once
and Pillow encodes the pixels as PNG into an :class:`ipywidgets.Image`. Measured for the
two-panel Jensen figure on 2 busy shared cores (median per frame): 161 ms for a new pyplot
figure per frame (what ``interactive_output`` with the inline backend does), 100 ms for
``Axes.clear()`` + redraw (ticks are rebuilt), 72 ms for removing the artists + redraw. The
layout is solved once (constrained layout on the first frame) and then frozen; ``savefig`` is
avoided because it renders the figure twice.

Everything is driven by plain ``value`` changes of standard ipywidgets sliders, so setting
``explorer.sliders["μ"].value = 1.0`` in the kernel redraws synchronously (a benchmark can time
it) and a browser that moves a slider sees ``explorer.image`` change. A reader of stored outputs
gets the same frame as a static image from :meth:`SliderFigure.snapshot`.
"""

import io
import math

import ipywidgets
import numpy as np
import PIL.Image
from IPython.display import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from elbo_lib import plots

_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "420px"}


def float_slider(description, low, high, value, step=0.01, *, continuous=True):
    """A :class:`ipywidgets.FloatSlider` labelled with ``description`` (use the symbol)."""
    return ipywidgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        continuous_update=continuous,
        style=_STYLE,
        layout=_LAYOUT,
    )


def log_slider(description, low, high, value, *, continuous=True):
    """A :class:`ipywidgets.FloatLogSlider` from ``low`` to ``high`` (values, not exponents),
    for scales such as variances."""
    return ipywidgets.FloatLogSlider(
        value=value,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=(math.log10(high) - math.log10(low)) / 200,
        description=description,
        readout_format=".3g",
        continuous_update=continuous,
        style=_STYLE,
        layout=_LAYOUT,
    )


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

    def __init__(self, draw, sliders, *, nrows=1, ncols=1, width_ratios=None, figsize=(8, 3.4)):
        self.sliders = dict(sliders)
        self.figure = Figure(figsize=figsize, dpi=90, layout="constrained")
        FigureCanvasAgg(self.figure)
        self.axes = tuple(
            self.figure.subplots(nrows, ncols, squeeze=False, width_ratios=width_ratios).ravel()
        )
        self.image = ipywidgets.Image(format="png")
        self._draw = draw
        self.redraw()
        self.figure.set_layout_engine("none")  # keep the first frame's layout: faster frames
        for slider in self.sliders.values():
            slider.observe(self.redraw, names="value")
        super().__init__([*self.sliders.values(), self.image])

    @property
    def values(self):
        """The sliders' current values, by keyword."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def redraw(self, change=None):
        """Draw the frame for the current slider values and show it in ``image``."""
        for ax in self.axes:
            _remove_artists(ax)
        self._draw(*self.axes, **self.values)
        self.figure.canvas.draw()
        buffer = io.BytesIO()
        PIL.Image.fromarray(np.asarray(self.figure.canvas.buffer_rgba())).save(buffer, "png")
        self.image.value = buffer.getvalue()

    def snapshot(self):
        """The current frame as a static image, for readers of the stored outputs."""
        return Image(data=self.image.value, format="png")


def _remove_artists(ax):
    """Empty ``ax`` of what a plotting function drew, keeping the axes and their ticks (cheaper
    than ``Axes.clear``, which rebuilds every tick)."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images, *ax.artists]:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.containers.clear()
    ax.relim()
    ax.ignore_existing_data_limits = True


def jensen_explorer(seed=0):
    r"""Jensen's inequality :math:`\log\mathbb E[Y] \ge \mathbb E[\log Y]` for a log-normal Y
    with :math:`\mathbb E[Y] = 1` and spread σ (slider); the gap is :math:`\sigma^2/2`."""
    eps = np.random.default_rng(seed).standard_normal(200)
    sigma = float_slider("spread of log Y, σ", 0.05, 2.5, 0.8)

    def draw(ax_curve, ax_gap, sigma):
        plots.jensen_chord(ax_curve, sigma, eps)
        plots.jensen_gap_curve(ax_gap, sigma)

    return SliderFigure(draw, {"sigma": sigma}, ncols=2)

"""Slider figures: every slider redraws the image, extreme values still draw finite curves."""

import io

import ipywidgets
import numpy as np
import PIL.Image
import pytest
import torch
from IPython.display import Image

from elbo_lib import diagnostics, flows, widgets
from elbo_lib.linear_gaussian import LinearGaussian
from elbo_lib.vae import VAE

EXPLORERS = {
    "jensen": widgets.jensen_explorer,
    "kl_identity": lambda: widgets.kl_identity_explorer(LinearGaussian(1.5, 0.5), 2.0),
    "kl_map": widgets.kl_map_explorer,
    "elbo_landscape": widgets.elbo_landscape_explorer,
    "mode_seeking": widgets.mode_seeking_explorer,
    "factorised_fit": widgets.factorised_fit_explorer,
    "posterior": lambda: posterior_explorer_of_a_small_vae(),
    "latent": lambda: latent_explorer_of_a_small_vae(),
    "flow": lambda: flow_explorer_of_a_small_vae(),
}


def finite_drawing(figure):
    """Every line and scatter of the figure has finite coordinates."""
    for ax in figure.axes:
        for line in ax.lines:
            assert np.all(np.isfinite(np.asarray(line.get_xydata(), float))), ax.get_title()
        for collection in ax.collections:
            offsets = np.asarray(collection.get_offsets(), float)
            assert np.all(np.isfinite(offsets)), ax.get_title()
    return True


def png_size(data):
    return PIL.Image.open(io.BytesIO(data)).size


@pytest.fixture(scope="module", params=sorted(EXPLORERS))
def explorer(request):
    return EXPLORERS[request.param]()


def test_sliders_are_standard_ipywidgets_labelled_with_a_description(explorer):
    assert explorer.sliders
    for slider in explorer.sliders.values():
        assert isinstance(
            slider, ipywidgets.FloatSlider | ipywidgets.FloatLogSlider | ipywidgets.IntSlider
        )
        assert len(slider.description) >= 3
        assert slider in explorer.children


def test_every_slider_redraws_a_new_image_at_both_ends_of_its_range(explorer):
    width, height = (explorer.figure.get_size_inches() * explorer.figure.dpi).round()
    for slider in explorer.sliders.values():
        start = slider.value
        for end in widgets.value_range(slider):
            before = explorer.image.value
            slider.value = end
            assert explorer.image.value != before, (slider.description, end)
            assert png_size(explorer.image.value) == (width, height)
            assert finite_drawing(explorer.figure)
        slider.value = start


def test_every_frame_is_the_figure_rendered_from_scratch(explorer):
    # frames reuse the backdrop (ticks, labels) while it is unchanged: never a stale one
    figure = explorer.figure
    for slider in explorer.sliders.values():
        start = slider.value
        low, high = widgets.value_range(slider)
        for value in (high, low, low + 0.3 * (high - low), start):
            slider.value = type(start)(value)
            frame = np.asarray(PIL.Image.open(io.BytesIO(explorer.image.value)))
            animated = [a for a in figure.findobj() if a.get_animated()]
            for artist in animated:
                artist.set_animated(False)
            figure.canvas.draw()
            scratch = np.asarray(figure.canvas.buffer_rgba())
            for artist in animated:
                artist.set_animated(True)
            # the ticks are drawn under the data here and over the fills there: where a fill
            # meets a tick at the frame, a pixel's anti-aliasing can differ by a few levels
            diff = np.abs(frame.astype(int) - scratch).max(axis=-1)
            assert (diff > 0).sum() <= 20 and diff.max() <= 8, (slider.description, value)


def test_snapshot_is_the_current_frame_as_a_static_png(explorer):
    snapshot = explorer.snapshot()
    assert isinstance(snapshot, Image) and snapshot.data == explorer.image.value


def test_a_slider_figure_calls_draw_with_its_axes_and_the_slider_values():
    calls = []

    def draw(ax_left, ax_right, a, b):
        calls.append((a, b))
        ax_left.plot([0, a], [0, b])
        ax_right.bar([0], [b])

    figure = widgets.SliderFigure(
        draw,
        {"a": widgets.float_slider("a", 0, 1, 0.5), "b": widgets.log_slider("b", 0.1, 10, 1)},
        ncols=2,
    )
    figure.sliders["a"].value = 0.25
    assert calls == [(0.5, 1.0), (0.25, 1.0)]
    assert figure.values == {"a": 0.25, "b": 1.0}
    # the previous frame's artists are gone, not piled up
    assert len(figure.axes[0].lines) == 1 and len(figure.axes[1].patches) == 1
    assert figure.axes[0].get_xlim()[1] == pytest.approx(0.25, abs=0.05)


def test_log_slider_spans_the_given_values_not_exponents():
    slider = widgets.log_slider("σ²", 0.01, 100, 1.0)
    assert widgets.value_range(slider) == pytest.approx((0.01, 100))
    assert widgets.value_range(widgets.float_slider("μ", -3, 3, 0)) == (-3, 3)
    assert slider.value == pytest.approx(1.0)


def test_limits_follow_the_data_of_each_new_frame():
    def draw(ax, height):
        ax.plot([0, 1], [0, height])
        ax.set_ylim(bottom=0)  # fixes the bottom only: the top must still follow the data

    figure = widgets.SliderFigure(draw, {"height": widgets.float_slider("h", 1, 100, 1)})
    figure.sliders["height"].value = 100
    assert figure.axes[0].get_ylim()[1] >= 100
    figure.sliders["height"].value = 2
    assert figure.axes[0].get_ylim()[1] < 3


def test_gradient_estimators_explorer_redraws_for_every_sample_size():
    explorer = widgets.gradient_estimators_explorer(repeats=50)
    slider = explorer.sliders["n_samples"]
    assert isinstance(slider, ipywidgets.SelectionSlider) and slider in explorer.children
    assert slider.options == widgets.SAMPLE_SIZES
    width, height = (explorer.figure.get_size_inches() * explorer.figure.dpi).round()
    for n_samples in (1, widgets.SAMPLE_SIZES[-1], 10):
        before = explorer.image.value
        slider.value = n_samples
        assert explorer.image.value != before
        assert png_size(explorer.image.value) == (width, height)
        assert finite_drawing(explorer.figure)
        assert f"S = {n_samples} samples" in explorer.axes[0].get_title()
    assert explorer.snapshot().data == explorer.image.value


def test_gradient_estimators_explorer_estimates_average_the_first_n_single_samples():
    explorer = widgets.gradient_estimators_explorer(repeats=50)
    explorer.sliders["n_samples"].value = widgets.SAMPLE_SIZES[-1]
    summaries = [text.get_text() for text in explorer.axes[0].texts]
    # 50 estimates of 500 samples each: each mean near the exact 2μ = 2 (standard errors of the
    # mean of the 50 estimates: 0.035, 0.027 and 0.013)
    for summary in summaries:
        mean = float(summary.split(",")[0].removeprefix("mean "))
        assert abs(mean - 2.0) < 0.15, summary
    stds = [float(summary.split("std ")[1].split(",")[0]) for summary in summaries]
    # pathwise below both score-function estimators (exact stds 0.089 against 0.19 and 0.24)
    assert stds[2] < min(stds[0], stds[1])


def test_gradient_estimators_explorer_refuses_a_bad_number_of_repeats():
    for repeats in (0, 1):  # a spread needs two estimates
        with pytest.raises(ValueError, match="repeats must be an integer of at least 2"):
            widgets.gradient_estimators_explorer(repeats=repeats)


def small_vae():
    """An untrained VAE with a 2-D latent and five binary images."""
    torch.manual_seed(0)
    return VAE(z_dim=2, hidden=(16,)), (torch.rand(5, 64) > 0.5).float()


def posterior_explorer_of_a_small_vae():
    model, x = small_vae()
    grid = diagnostics.posterior_on_grid(model, x, n=61)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    explorer = widgets.posterior_explorer(x, grid, mu, logvar, refined=(mu + 0.1, logvar))
    explorer.sliders["index"].value = 2  # inside the range, so that both ends are moves
    return explorer


def flow_explorer_of_a_small_vae():
    model, x = small_vae()
    grid = diagnostics.posterior_on_grid(model, x, n=61)
    fits = {1: flows.fit_flow(model, x, 1, steps=50, anneal=20)}  # shown as it is
    explorer = widgets.flow_explorer(model, x, grid, fits=fits, max_length=2)
    explorer.sliders["index"].value = 2  # inside the range, so that both ends are moves
    return explorer


def latent_explorer_of_a_small_vae():
    model, x = small_vae()
    with torch.no_grad():
        mu, _ = model.encode(x)
    return widgets.latent_explorer(model, mu, np.arange(5))


def test_posterior_explorer_shows_the_chosen_image_and_its_own_posterior():
    model, x = small_vae()
    grid = diagnostics.posterior_on_grid(model, x, n=61)
    mu, logvar = (t.detach() for t in model.encode(x))
    explorer = widgets.posterior_explorer(x, grid, mu, logvar, names=list("abcde"))
    ax_image, ax_posterior = explorer.axes
    for index in (3, 1):
        explorer.sliders["index"].value = index
        assert ax_image.get_title() == "abcde"[index]
        shown = ax_image.images[0].get_array()
        np.testing.assert_array_equal(shown, x[index].reshape(8, 8).numpy())
        # q's 1-σ ellipse is centred on this image's mean
        ellipse = ax_posterior.lines[0].get_xydata()
        np.testing.assert_allclose(ellipse.mean(0), mu[index].numpy(), atol=0.02)


def test_latent_explorer_decodes_the_point_the_sliders_choose():
    model, x = small_vae()
    explorer = widgets.latent_explorer(model, model.encode(x)[0].detach(), np.arange(5))
    explorer.sliders["z1"].value, explorer.sliders["z2"].value = 1.5, -0.5
    _, ax_digit = explorer.axes
    with torch.no_grad():
        expected = model.decode(torch.tensor([[1.5, -0.5]])).sigmoid().reshape(8, 8).numpy()
    np.testing.assert_allclose(ax_digit.images[0].get_array(), expected, rtol=1e-6)
    assert ax_digit.get_title() == "p(pixel = 1) at z"
    marker = explorer.axes[0].lines[-1].get_xydata()
    np.testing.assert_allclose(marker, [[1.5, -0.5]])

"""Slider figures: every slider redraws the image, extreme values still draw finite curves."""

import io

import ipywidgets
import numpy as np
import PIL.Image
import pytest
from IPython.display import Image

from elbo_lib import widgets
from elbo_lib.linear_gaussian import LinearGaussian

EXPLORERS = {
    "jensen": widgets.jensen_explorer,
    "kl_identity": lambda: widgets.kl_identity_explorer(LinearGaussian(1.5, 0.5), 2.0),
    "kl_map": widgets.kl_map_explorer,
    "elbo_landscape": widgets.elbo_landscape_explorer,
    "mode_seeking": widgets.mode_seeking_explorer,
    "factorised_fit": widgets.factorised_fit_explorer,
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

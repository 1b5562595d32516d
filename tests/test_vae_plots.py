"""The gap explorer: one test image and its gaps per slider position."""

import numpy as np
import pytest

from elbo_lib import vae_plots


def test_gap_explorer_shows_the_image_and_the_numbers_of_the_slider_position():
    images = np.eye(3, 64)
    gaps = {
        "log_likelihood": [-10.0, -20.0, -30.0],
        "refined_elbo": [-10.5, -21.0, -31.5],
        "amortized_elbo": [-11.0, -22.0, -33.0],
    }
    explorer = vae_plots.gap_explorer(images, gaps)
    slider = explorer.sliders["index"]
    assert (slider.min, slider.max) == (0, 2)
    first = explorer.image.value
    slider.value = 2
    assert explorer.image.value != first
    ax_image, ax_bars = explorer.axes
    assert ax_image.get_title() == "test image 2"
    np.testing.assert_array_equal(
        ax_image.images[0].get_array()[:8, :8], np.eye(3, 64)[2].reshape(8, 8)
    )
    points = [line.get_ydata()[0] for line in ax_bars.lines if line.get_marker() == "o"]
    assert points == pytest.approx([-33.0, -31.5, -30.0])  # amortized, refined, log p(x)

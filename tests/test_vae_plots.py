import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from elbo_lib import vae_plots, widgets
from elbo_lib.vae import VAE

matplotlib.use("Agg")


def test_a_traversal_of_a_linear_decoder_moves_along_one_column_of_its_weights():
    torch.manual_seed(0)
    model = VAE(z_dim=3, hidden=(), likelihood="gaussian")
    (layer,) = model.decoder
    values = [-2.0, 0.0, 1.5]
    expected = layer.bias + torch.tensor(values)[:, None] * layer.weight[:, 1]
    got = vae_plots.traversal_images(model, 1, values)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=0, atol=1e-6)


def test_a_bernoulli_traversal_gives_probabilities_and_a_grid_of_rows():
    torch.manual_seed(0)
    model = VAE(z_dim=4, hidden=(16,))
    images = vae_plots.traversal_images(model, 3, np.linspace(-3, 3, 5))
    assert images.shape == (5, 64) and bool(((images > 0) & (images < 1)).all())
    ax = Figure().subplots()
    vae_plots.latent_traversals(ax, model, [0, 2], [-2.0, 0.0, 2.0], row_labels=["a", "b"])
    assert ax.images[0].get_array().shape == (2 * 9 - 1, 3 * 9 - 1)
    with pytest.raises(ValueError, match="unit"):
        vae_plots.traversal_images(model, 4, [0.0])
    with pytest.raises(ValueError, match="values"):
        vae_plots.traversal_images(model, 0, [np.nan])


def test_gap_explorer_shows_the_image_and_the_numbers_of_the_slider_position():
    images = np.eye(3, 64)
    gaps = {
        "log_likelihood": [-10.0, -20.0, -30.0],
        "refined_elbo": [-10.5, -21.0, -31.5],
        "amortized_elbo": [-11.0, -22.0, -33.0],
    }
    explorer = widgets.gap_explorer(images, gaps)
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

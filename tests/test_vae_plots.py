import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from elbo_lib import vae_plots
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

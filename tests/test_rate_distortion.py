import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from elbo_lib.rate_distortion import (
    beta_sweep,
    plot_rate_distortion,
    plot_units_against_beta,
    rate_distortion,
    train_beta_vae,
)
from elbo_lib.vae import VAE


@pytest.fixture(scope="module")
def digits():
    from elbo_lib.data import load_digits

    x_train, x_test, _, _ = load_digits()
    return x_train[:300], x_test[:100]


def test_rate_and_distortion_against_torch_distributions(digits):
    _, x = digits
    torch.manual_seed(0)
    model = VAE(z_dim=3, hidden=(32,))
    rate, distortion = rate_distortion(model, x, n_samples=200)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        prior = torch.distributions.Normal(0.0, 1.0)
        expected_rate = torch.distributions.kl_divergence(q, prior).sum(-1).mean()
        z = q.sample((2000,))
        log_lik = torch.distributions.Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    assert math.isclose(rate, expected_rate.item(), rel_tol=1e-5)
    per_image = -log_lik.mean(0)
    standard_error = log_lik.std(0).mean().item() * math.sqrt(1 / 200 + 1 / 2000)
    assert abs(distortion - per_image.mean().item()) < 5 * standard_error


def test_training_is_seeded_and_reports_every_epoch(digits):
    x, _ = digits
    state = torch.random.get_rng_state()
    epochs = []
    a = train_beta_vae(
        0.5, x, z_dim=2, hidden=(16,), epochs=2, seed=3, callback=lambda e, _: epochs.append(e)
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    assert epochs == [0, 1]
    b = train_beta_vae(0.5, x, z_dim=2, hidden=(16,), epochs=2, seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("beta", [-1.0, math.inf, math.nan, "1"])
def test_bad_beta_raises(digits, beta):
    with pytest.raises(ValueError, match="beta"):
        train_beta_vae(beta, digits[0], epochs=1)


def test_sweep_trades_rate_for_distortion(digits):
    sweep = beta_sweep([0.1, 1.0, 10.0], *digits, z_dim=4, hidden=(32,), epochs=15)
    assert sweep["kl_per_dimension"].shape == (3, 4)
    np.testing.assert_allclose(sweep["kl_per_dimension"].sum(1), sweep["rate"], rtol=1e-5)
    assert np.all(np.diff(sweep["rate"]) < 0)
    assert np.all(np.diff(sweep["distortion"]) > 0)
    assert sweep["rate"][-1] < 0.1  # β = 10: the code is switched off
    assert sweep["active_units"][-1] == 0 < sweep["active_units"][0]
    # the models it returns are the ones it measured, and each is train_beta_vae's for its β
    assert len(sweep["models"]) == 3
    assert rate_distortion(sweep["models"][1], digits[1]) == (
        sweep["rate"][1],
        sweep["distortion"][1],
    )
    again = train_beta_vae(1.0, digits[0], z_dim=4, hidden=(32,), epochs=15)
    for ours, theirs in zip(sweep["models"][1].parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_sweep_refuses_an_empty_list(digits):
    with pytest.raises(ValueError, match="betas"):
        beta_sweep([], *digits)


def test_plane_marks_the_elbo_point_with_its_line_of_slope_minus_one():
    ax = Figure().subplots()
    plot_rate_distortion(ax, [8.0, 3.0, 0.5], [12.0, 16.0, 22.0], [0.1, 1.0, 10.0], latest=2)
    star = next(line for line in ax.lines if line.get_marker() == "*")
    assert star.get_xydata().tolist() == [[3.0, 16.0]]
    label = next(t for t in ax.get_legend().get_texts() if t.get_text().startswith("D + R"))
    assert label.get_text() == "D + R = 19.0 nats"
    ring = next(line for line in ax.lines if line.get_marker() == "o")
    assert ring.get_xydata().tolist() == [[0.5, 22.0]]


def test_a_label_moves_out_when_its_point_is_close_to_any_earlier_one():
    ax = Figure().subplots()
    plot_rate_distortion(ax, [0.0, 5.7, 2.4, 0.0], [24.7, 17.8, 19.0, 24.7], [5.0, 0.1, 1.0, 20.0])
    offsets = {t.get_text(): t.xyann for t in ax.texts}
    assert offsets["β=5"] == offsets["β=0.1"] == offsets["β=1"] == (5, 4)
    assert offsets["β=20"] == (22, 12)


def test_units_plot_draws_one_line_per_unit():
    ax = Figure().subplots()
    kl = np.array([[1.0, 2.0, 0.5], [0.0, 1.5, 0.02], [0.0, 0.0, 0.001]])
    plot_units_against_beta(ax, [0.1, 1.0, 10.0], kl, [3, 2, 0])
    assert len(ax.lines) == 3 + 1  # three units and the 0.1-nat guide
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 1.5, 0.001])


def test_sweep_shows_a_progress_bar_of_its_models(digits, capsys):
    beta_sweep([0.5, 2.0], *digits, z_dim=2, hidden=(8,), epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "β sweep" in err and "2/2" in err

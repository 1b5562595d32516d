import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from elbo_lib.made import MADE, MADEVAE
from elbo_lib.vae import train_vae


def _logit_jacobian(made, x, z):
    """d logits / d x of one image: (x_dim, x_dim), row i = output, column j = input."""
    return torch.autograd.functional.jacobian(lambda xx: made(xx, z), x)


@settings(max_examples=25, deadline=None)
@given(
    x_dim=st.integers(2, 9),
    hidden=st.lists(st.integers(1, 20), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_logit_i_does_not_depend_on_pixels_from_i_on(x_dim, hidden, seed):
    torch.manual_seed(seed)
    made = MADE(x_dim, 3, tuple(hidden)).double()
    x, z = torch.rand(x_dim, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    jacobian = _logit_jacobian(made, x, z)
    upper = torch.triu(torch.ones(x_dim, x_dim, dtype=torch.bool))  # j >= i
    assert torch.all(jacobian[upper] == 0)


def test_every_earlier_pixel_and_z_reach_every_logit():
    """The masks must not cut too much: the test above would pass for a constant network."""
    made = MADE(64, 16, (256,))
    paths = made.output.mask @ made.input.mask  # number of hidden units from x_j to logit_i
    assert torch.equal(paths > 0, torch.ones(64, 64).tril(-1).bool())
    assert torch.all(made.output.mask.sum(1) > 0)  # every logit sees some unit, hence z
    torch.manual_seed(0)
    x, z = torch.rand(32, 64), torch.randn(32, 16)
    jx = torch.autograd.functional.jacobian(lambda xx: made(xx, z).sum(0), x).abs().sum(1)
    jz = torch.autograd.functional.jacobian(lambda zz: made(x, zz).sum(0), z).abs().sum(1)
    assert torch.equal(jx > 0, torch.ones(64, 64).tril(-1).bool())
    assert torch.all(jz.sum(1) > 0)


def _small_model(x_dim=5, z_dim=2, seed=0):
    torch.manual_seed(seed)
    return MADEVAE(x_dim=x_dim, z_dim=z_dim, hidden=(16, 16)).double()


def test_log_likelihood_is_the_chain_rule_of_bernoulli_conditionals():
    r"""log p(x|z) = Σ_i log Bernoulli(x_i | ℓ_i), ℓ_i computed with pixels i.. replaced by
    noise: torch.distributions.Bernoulli scores each conditional on its own."""
    model = _small_model(x_dim=7)
    x = torch.bernoulli(torch.full((4, 7), 0.5, dtype=torch.float64))
    z = torch.randn(4, 2, dtype=torch.float64)
    reference = torch.zeros(4, dtype=torch.float64)
    for i in range(7):
        masked = torch.cat([x[:, :i], torch.rand(4, 7 - i, dtype=torch.float64)], dim=1)
        logit_i = model.decoder(masked, z)[:, i]
        reference += torch.distributions.Bernoulli(logits=logit_i).log_prob(x[:, i])
    torch.testing.assert_close(model.log_likelihood(x, z), reference, rtol=0, atol=1e-12)


def test_likelihood_sums_to_one_over_all_binary_images():
    model = _small_model(x_dim=6)
    every_image = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)), dtype=torch.float64)
    for z in torch.randn(3, 2, dtype=torch.float64):
        log_p = model.log_likelihood(every_image, z.expand(len(every_image), 2))
        assert math.isclose(torch.logsumexp(log_p, 0).item(), 0.0, abs_tol=1e-12)


def test_log_likelihood_broadcasts_leading_sample_axes():
    model = _small_model()
    x = torch.bernoulli(torch.full((3, 5), 0.5, dtype=torch.float64))
    z = torch.randn(4, 3, 2, dtype=torch.float64)
    together = model.log_likelihood(x, z)
    assert together.shape == (4, 3)
    one_by_one = torch.stack([model.log_likelihood(x, z_k) for z_k in z])
    torch.testing.assert_close(together, one_by_one)


def test_log_likelihood_checks_its_pixels_and_its_result():
    model, z = _small_model(), torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 1\]"):
        model.log_likelihood(torch.full((2, 5), 2.0, dtype=torch.float64), z)
    with torch.no_grad():
        model.decoder.output.bias[0] = math.nan
    with pytest.raises(ValueError, match=r"log p\(x \| z\) is not finite"):
        model.log_likelihood(torch.ones(2, 5, dtype=torch.float64), z)


def test_decode_returns_the_logits_of_the_greedy_path():
    model = _small_model(x_dim=8)
    z = torch.randn(6, 2, dtype=torch.float64)
    logits = model.decode(z)
    greedy = (logits > 0).double()
    torch.testing.assert_close(model.decoder(greedy, z), logits)
    # greedy: every chosen pixel is the more probable one, log σ(|ℓ_i|)
    best = -nn.functional.softplus(-logits.abs()).sum(-1)
    torch.testing.assert_close(model.log_likelihood(greedy, z), best)


def test_ancestral_samples_follow_the_likelihood():
    """Frequencies of 20000 draws of a 3-pixel image against p(x|z), within 5 standard errors."""
    model = _small_model(x_dim=3)
    z = torch.randn(2, dtype=torch.float64)
    n = 20_000
    state = torch.random.get_rng_state()
    draws = model.sample_pixels(z.expand(n, 2), seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    few = z.expand(50, 2)
    assert torch.equal(model.sample_pixels(few, seed=2), model.sample_pixels(few, seed=2))
    every_image = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    p = model.log_likelihood(every_image, z.expand(8, 2)).exp()
    freq = (draws[:, None, :] == every_image[None]).all(-1).double().mean(0)
    assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n))


def test_importance_weights_use_the_made_likelihood():
    r"""mean_k log w_k estimates E_q[log p(x|z)] − KL(q ‖ p); the reference draws z from
    torch.distributions.Normal itself. Agreement within 5 standard errors per image."""
    model = _small_model(x_dim=6)
    x = torch.bernoulli(torch.full((4, 6), 0.5, dtype=torch.float64))
    k = 4000
    log_w = model.log_importance_weights(x, k)
    mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    z = q.sample((k,))
    log_lik = model.log_likelihood(x, z)
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(-1)
    standard_error = torch.sqrt(log_w.var(-1) / k + log_lik.var(0) / k)
    assert torch.all((log_w.mean(-1) - (log_lik.mean(0) - kl)).abs() < 5 * standard_error)


def test_training_raises_the_elbo():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((64, 10), 0.3))
    model = MADEVAE(x_dim=10, z_dim=2, hidden=(32,))
    history = train_vae(model, x, epochs=30, lr=1e-2, seed=0)
    p = x.mean(0)
    independent_pixels = (p * p.log() + (1 - p) * (1 - p).log()).sum().item()  # max. log-lik.
    assert history["elbo"][0] < independent_pixels - 0.5
    assert history["elbo"][-1] > independent_pixels - 0.3


def test_sample_decodes_prior_draws_into_probability_images():
    torch.manual_seed(0)
    model = MADEVAE(x_dim=8, z_dim=2, hidden=(16,))
    torch.manual_seed(1)
    images = model.sample(5)
    torch.manual_seed(1)
    expected = model.decode(torch.randn(5, 2)).sigmoid()
    torch.testing.assert_close(images, expected, rtol=0, atol=0)
    assert images.shape == (5, 8)


@pytest.mark.parametrize("bad", [{"x_dim": 0}, {"z_dim": -1}, {"hidden": (0,)}])
def test_bad_sizes_raise(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        MADEVAE(**bad)


@pytest.mark.parametrize("hidden", [(12, 12), (12, 12, 12)])
def test_the_masks_connect_exactly_the_earlier_pixels_through_every_layer(hidden):
    """The product of the masks counts the paths from pixel j to logit i: with at least as many
    units per layer as pixels, there is one exactly when j < i (the strict lower triangle)."""
    made = MADE(x_dim=6, z_dim=2, hidden=hidden)
    paths = made.input.mask
    for layer in made.hidden:
        paths = layer.mask @ paths
    paths = made.output.mask @ paths
    assert torch.equal(paths > 0, torch.ones(6, 6, dtype=torch.bool).tril(-1))

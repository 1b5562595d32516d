"""The learned priors against torch.distributions and Monte Carlo references; the VAE's own
prior hooks (log_prior, sample_prior, prior_kl) against the closed forms they replace; training
and the diagnostics on models with a learned prior."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
    kl_divergence,
)

from elbo_lib.checks import mean_and_standard_error
from elbo_lib.data import load_digits
from elbo_lib.diagnostics import (
    elbo_surgery,
    evaluate_elbo,
    importance_log_likelihood,
    log_aggregate_posterior,
    posterior_on_grid,
)
from elbo_lib.kl import kl_to_standard_normal
from elbo_lib.priors import MixturePriorVAE, VampPriorVAE
from elbo_lib.vae import VAE, importance_weighted_loss, train_vae

SMALL = dict(z_dim=2, hidden=(16,))


@pytest.fixture(scope="module")
def digits():
    x_train, x_test, _, _ = load_digits()
    return x_train[:200], x_test[:40]


def mixture(seed=0, components=3):
    torch.manual_seed(seed)
    model = MixturePriorVAE(components=components, **SMALL)
    with torch.no_grad():  # unequal weights and variances, so that each term matters
        model.logits.normal_()
        model.logvars.normal_(0, 0.5)
    return model


def torch_mixture(model):
    return MixtureSameFamily(
        Categorical(logits=model.logits),
        Independent(Normal(model.means, (0.5 * model.logvars).exp()), 1),
    )


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 6))
def test_mixture_log_prior_is_torch_distributions_mixture(seed, components):
    model = mixture(seed, components)
    z = torch.randn(4, 5, 2) * 3
    with torch.no_grad():
        torch.testing.assert_close(model.log_prior(z), torch_mixture(model).log_prob(z))


def test_mixture_log_prior_is_finite_far_from_every_component():
    model = mixture()
    z = torch.full((1, 2), 300.0)
    with torch.no_grad():
        got = model.log_prior(z)
        expected = torch_mixture(model).log_prob(z.double())
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=0)


def test_vamp_log_prior_is_the_average_of_the_encoders_gaussians_at_the_pseudo_inputs():
    torch.manual_seed(0)
    model = VampPriorVAE(components=7, **SMALL)
    z = torch.randn(6, 2)
    with torch.no_grad():
        mu, logvar = model.encode(model.pseudo_inputs)
        densities = Normal(mu, (0.5 * logvar).exp()).log_prob(z[:, None]).sum(-1).exp()
        expected = densities.mean(-1).log()
        torch.testing.assert_close(model.log_prior(z), expected, rtol=1e-5, atol=1e-6)
    assert ((model.pseudo_inputs > 0) & (model.pseudo_inputs < 1)).all()


@pytest.mark.parametrize("make", [mixture, lambda: VampPriorVAE(components=4, **SMALL)])
def test_prior_samples_have_the_priors_mean_and_second_moment(make):
    """The sample mean and E[z z^T] of 40,000 draws against the same moments by importance
    sampling from a wide Gaussian: sample_prior draws from exp(log_prior)."""
    torch.manual_seed(1)
    model = make()
    with torch.no_grad():
        draws = model.sample_prior(40_000)
        proposal = Normal(torch.zeros(2), torch.full((2,), 6.0))
        y = proposal.sample((400_000,))
        log_w = model.log_prior(y) - proposal.log_prob(y).sum(-1)
        w = (log_w - log_w.logsumexp(0)).exp()
    for statistic in (lambda z: z, lambda z: z**2, lambda z: z[:, :1] * z[:, 1:]):
        values = statistic(draws)
        expected = (w[:, None] * statistic(y)).sum(0)
        for j in range(values.shape[1]):
            mean, error = mean_and_standard_error(values[:, j])
            assert abs(mean - float(expected[j])) < 5 * error + 0.02 * abs(float(expected[j]))


def test_the_standard_vae_prior_hooks_are_the_closed_forms():
    torch.manual_seed(0)
    model = VAE(**SMALL)
    mu, logvar = torch.randn(5, 2), torch.randn(5, 2)
    z = torch.randn(3, 5, 2)
    torch.testing.assert_close(
        model.log_prior(z), Normal(0.0, 1.0).log_prob(z).sum(-1), rtol=0, atol=1e-6
    )
    assert torch.equal(model.prior_kl(mu, logvar, z), kl_to_standard_normal(mu, logvar=logvar))
    assert model.sample_prior(4).shape == (4, 2)


def test_learned_prior_kl_is_unbiased_for_the_closed_form_kl():
    """With one component fixed at N(m, v), the prior is a Gaussian and the KL has a closed form:
    the Monte Carlo prior_kl over many draws is within its standard error of it."""
    model = mixture(components=1)
    mu, logvar = torch.tensor([[0.3, -1.0]]), torch.tensor([[-0.5, 0.4]])
    with torch.no_grad():
        m, v = model.means[0], model.logvars[0].exp()
        exact = kl_divergence(
            Independent(Normal(mu, (0.5 * logvar).exp()), 1), Independent(Normal(m, v.sqrt()), 1)
        )
        z = mu + (0.5 * logvar).exp() * torch.randn(100_000, 1, 2)
        per_draw = torch.stack([model.prior_kl(mu, logvar, zi[None]) for zi in z[:2000]])
        assert per_draw.shape == (2000, 1)
        estimate = model.prior_kl(mu, logvar, z)
    _, error = mean_and_standard_error(per_draw[:, 0])
    assert abs(float(estimate[0]) - float(exact[0])) < 5 * error / math.sqrt(50)


def test_importance_weights_use_the_learned_prior():
    model = mixture()
    x = (torch.rand(3, 64) > 0.5).float()
    torch.manual_seed(5)
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 4)
    torch.manual_seed(5)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(4, 3, 2)
        q = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
        expected = model.log_likelihood(x, z) + torch_mixture(model).log_prob(z) - q
    torch.testing.assert_close(log_w, expected.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make", [lambda: MixturePriorVAE(components=5, **SMALL), lambda: VampPriorVAE(5, **SMALL)]
)
def test_training_with_a_learned_prior_raises_the_elbo_and_moves_the_prior(digits, make):
    x_train, x_test = digits
    torch.manual_seed(0)
    model = make()
    prior_before = [
        p.detach().clone()
        for n, p in model.named_parameters()
        if "pseudo" in n or n in ("logits", "means", "logvars")
    ]
    history = train_vae(model, x_train, epochs=8, seed=0, lr=1e-2)
    prior_after = [
        p
        for n, p in model.named_parameters()
        if "pseudo" in n or n in ("logits", "means", "logvars")
    ]
    assert history["elbo"][-1] > history["elbo"][0] + 3
    assert all(not torch.equal(a, b) for a, b in zip(prior_before, prior_after, strict=True))
    elbo = evaluate_elbo(model, x_test, n_samples=50)["elbo"].mean()
    log_px = importance_log_likelihood(model, x_test, k=500).mean()
    assert elbo <= log_px + 0.05


def test_elbo_surgery_with_a_learned_prior_adds_up_on_the_same_draws(digits):
    model = mixture()
    s = elbo_surgery(model, digits[0], n_samples=3)
    assert s["mutual_information"] + s["marginal_kl"] == pytest.approx(s["average_kl"], abs=1e-9)
    assert 0 < s["mutual_information"] <= math.log(len(digits[0])) + 1e-9
    assert s["standard_error"] > 0


def test_posterior_on_grid_uses_the_learned_prior():
    """Without a decoder signal (x of no pixels that differ) the grid posterior is ∝ prior ×
    likelihood; check that moving the prior's mass moves the grid's evidence by its log-ratio."""
    model = mixture()
    x = torch.zeros(1, 64)
    grid = posterior_on_grid(model, x, extent=6.0, n=121)
    with torch.no_grad():
        z = torch.stack(torch.meshgrid(grid["z1"], grid["z2"], indexing="ij"), -1)
        joint = model.log_likelihood(x, z[:, :, None, :])[..., 0] + model.log_prior(z)
    cell = float((grid["z1"][1] - grid["z1"][0]) * (grid["z2"][1] - grid["z2"][0]))
    expected = float(torch.logsumexp(joint.flatten(), 0)) + math.log(cell)
    assert float(grid["log_evidence"][0]) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("cls", [MixturePriorVAE, VampPriorVAE])
@pytest.mark.parametrize("components", [0, -1, 2.5, None, "3"])
def test_bad_component_counts_are_refused_by_name(cls, components):
    with pytest.raises(ValueError, match="components"):
        cls(components=components, **SMALL)


def test_weighted_mixture_density_refuses_weights_of_the_wrong_shape():
    with pytest.raises(ValueError, match="log_weights"):
        log_aggregate_posterior(
            torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(4, 2), torch.zeros(3)
        )


def test_the_importance_weighted_loss_uses_the_learned_prior():
    """train_vae(k=K)'s loss on a mixture-prior model: minus the mean over images of
    log (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x), with p(z) the mixture, for the same draws."""
    model = mixture()
    x = (torch.rand(3, 64) > 0.5).float()
    with torch.no_grad():
        loss = importance_weighted_loss(model, x, k=4, seed=7)
        torch.manual_seed(7)
        mu, logvar = model.encode(x)
        z = mu + (0.5 * logvar).exp() * torch.randn(4, 3, 2)
        q = Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
        log_w = model.log_likelihood(x, z) + torch_mixture(model).log_prob(z) - q
        expected = -(torch.logsumexp(log_w, 0) - math.log(4)).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)

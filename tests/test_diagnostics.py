"""Diagnostics against closed forms (a linear-Gaussian VAE whose encoder is the exact posterior),
torch.distributions and the identities they must satisfy."""

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from elbo_lib import diagnostics
from elbo_lib.data import load_digits
from elbo_lib.diagnostics import (
    active_units,
    amortization_gap,
    edge_energy,
    elbo_surgery,
    evaluate_elbo,
    importance_log_likelihood,
    inference_gaps,
    kl_per_dimension,
    linear_gaussian_log_likelihood,
)
from elbo_lib.linear_gaussian import ppca_log_likelihood
from elbo_lib.vae import VAE, train_vae

SIGMA2 = 0.5


def exact_posterior_vae(shift=0.0, x_dim=5, seed=0):
    r"""A linear-Gaussian VAE with one latent, x = w z + b + N(0, σ²I), whose encoder outputs the
    exact posterior N(v wᵀ(x − b)/σ², v), v = 1/(1 + wᵀw/σ²), its mean moved by ``shift``."""
    torch.manual_seed(seed)
    model = VAE(x_dim=x_dim, z_dim=1, hidden=(), likelihood="gaussian")
    w, b = torch.randn(x_dim, 1), torch.randn(x_dim)
    v = 1 / (1 + (w**2).sum() / SIGMA2)
    gain = v * w.T / SIGMA2
    with torch.no_grad():
        model.decoder[0].weight.copy_(w)
        model.decoder[0].bias.copy_(b)
        model.noise_logvar.fill_(math.log(SIGMA2))
        model.encoder[0].weight.copy_(torch.cat([gain, torch.zeros_like(gain)]))
        model.encoder[0].bias.copy_(torch.stack([shift - (gain @ b)[0], v.log()]))
    x = torch.randn(40, 1) @ w.T + b + math.sqrt(SIGMA2) * torch.randn(40, x_dim)
    return model, x, float(v)


def exact_log_likelihood(model, x):
    w, b = (p.detach().double().numpy() for p in model.decoder[0].parameters())
    return torch.as_tensor(ppca_log_likelihood(x.double().numpy(), w, b, SIGMA2)).float()


@pytest.fixture(scope="module")
def trained():
    x_train, x_test, _, _ = load_digits()
    torch.manual_seed(0)
    model = VAE(z_dim=4, hidden=(64,))
    train_vae(model, x_train, epochs=15, lr=3e-3)
    return model, x_train, x_test[:60]


def test_importance_weights_from_the_exact_posterior_are_all_log_p_x():
    model, x, _ = exact_posterior_vae()
    with torch.no_grad():
        log_w = model.log_importance_weights(x, 7)
    exact = exact_log_likelihood(model, x)
    torch.testing.assert_close(log_w, exact[:, None].expand(-1, 7), atol=2e-4, rtol=0)
    torch.testing.assert_close(linear_gaussian_log_likelihood(model, x), exact)


def test_importance_log_likelihood_processes_blocks_of_images_and_samples(monkeypatch):
    model, x, _ = exact_posterior_vae()
    monkeypatch.setattr(diagnostics, "_BUDGET", 50)  # 1 image and 50 samples at a time
    estimate = importance_log_likelihood(model, x, k=170)
    torch.testing.assert_close(estimate, exact_log_likelihood(model, x), atol=2e-4, rtol=0)


def test_importance_log_likelihood_converges_to_the_exact_log_likelihood():
    torch.manual_seed(3)
    model = VAE(x_dim=6, z_dim=2, hidden=(), likelihood="gaussian")  # q is not the posterior
    with torch.no_grad():
        model.noise_logvar.fill_(math.log(SIGMA2))
    x = torch.randn(10, 6)
    exact = linear_gaussian_log_likelihood(model, x)
    k = 20_000
    estimate = importance_log_likelihood(model, x, k=k)
    # standard error of log(mean w) ≈ sd(w) / (mean(w) √K)
    with torch.no_grad():
        w = model.log_importance_weights(x, k).double().exp()
    tolerance = 5 * w.std(1) / w.mean(1) / math.sqrt(k)
    assert torch.all((estimate - exact).abs() < tolerance + 1e-3)


def test_one_sample_importance_estimate_is_an_elbo_estimate(trained):
    # with K = 1 the IWAE bound is the ELBO: compare many K = 1 estimates with evaluate_elbo
    model, _, x = trained
    x, repeats = x[:10], 2000
    k1 = importance_log_likelihood(model, x.repeat(repeats, 1), k=1).reshape(repeats, -1)
    elbo = evaluate_elbo(model, x, n_samples=repeats)["elbo"]
    tolerance = 5 * k1.std(0) / math.sqrt(repeats)
    assert torch.all((k1.mean(0) - elbo).abs() < tolerance)
    assert importance_log_likelihood(model, x, k=1000).mean() > elbo.mean()


def test_evaluate_elbo_at_the_exact_posterior_is_log_p_x():
    model, x, _ = exact_posterior_vae()
    result = evaluate_elbo(model, x, n_samples=4000)
    torch.testing.assert_close(result["elbo"], exact_log_likelihood(model, x), atol=0.1, rtol=0)
    mu, logvar = model.encode(x)
    expected_kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(result["kl"], expected_kl.detach())
    # at the exact posterior E_q[log p(x|z)] = log p(x) + KL(q ‖ p(z)): exact, independent terms
    expected_reconstruction = exact_log_likelihood(model, x) + expected_kl.detach()
    torch.testing.assert_close(result["reconstruction"], expected_reconstruction, atol=0.1, rtol=0)


def test_shifted_encoder_loses_the_closed_form_kl_and_refinement_recovers_it():
    shift = 0.4
    model, x, v = exact_posterior_vae(shift=shift)
    exact = exact_log_likelihood(model, x)
    lost = shift**2 / (2 * v)  # KL(N(m + δ, v) ‖ N(m, v))
    result = amortization_gap(model, x, n_eval=2000)
    torch.testing.assert_close(result["amortized_elbo"], exact - lost, atol=0.1, rtol=0)
    torch.testing.assert_close(result["refined_elbo"], exact, atol=0.1, rtol=0)
    assert result["gap"].mean().item() == pytest.approx(lost, abs=0.02)
    gaps = inference_gaps(model, x, k=1000, n_eval=2000)
    # the posterior is in the family: no approximation gap, up to the refined ELBO's MC noise
    assert gaps["approximation_gap"].mean().abs() < 0.02
    assert gaps["approximation_gap"].abs().max() < 0.25
    # log p(x) by importance sampling from the shifted q: close to the exact one on average
    assert (gaps["log_likelihood"] - exact).abs().mean() < 0.05
    assert (gaps["log_likelihood"] - exact).abs().max() < 0.3
    assert gaps["amortization_gap"].mean().item() == pytest.approx(lost, abs=0.02)


def test_on_a_trained_model_log_p_x_bounds_the_elbos_and_the_gaps_are_non_negative(trained):
    model, _, x = trained
    gaps = inference_gaps(model, x, k=500)
    assert torch.all(gaps["amortization_gap"] >= 0)
    assert gaps["amortization_gap"].mean() > 0.05  # the encoder of a small model is not optimal
    assert gaps["approximation_gap"].mean() > 0
    assert (
        gaps["log_likelihood"].mean() > gaps["refined_elbo"].mean() > gaps["amortized_elbo"].mean()
    )


def test_diagnostics_are_repeatable_and_leave_the_global_random_state_alone(trained):
    model, _, x = trained
    state = torch.random.get_rng_state()
    first = importance_log_likelihood(model, x, k=20)
    assert torch.equal(first, importance_log_likelihood(model, x, k=20))
    assert not torch.equal(first, importance_log_likelihood(model, x, k=20, seed=1))
    assert elbo_surgery(model, x) == elbo_surgery(model, x)  # determinism, as named
    assert elbo_surgery(model, x) != elbo_surgery(model, x, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_kl_per_dimension_and_active_units(trained):
    model, x, _ = trained
    with torch.no_grad():
        mu, logvar = model.encode(x)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(kl_per_dimension(model, x), expected)
    variance = np.var(mu.numpy().astype(np.float64), axis=0)
    np.testing.assert_array_equal(active_units(model, x, 0.05).numpy(), variance > 0.05)
    with torch.no_grad():
        model_off = VAE(z_dim=4, hidden=(64,))
        model_off.load_state_dict(model.state_dict())
        model_off.encoder[-1].weight[1].zero_()  # the mean of unit 1 ignores x
    assert active_units(model_off, x).tolist()[1] is False


def test_elbo_surgery_terms_add_up_and_match_an_independent_mixture(trained):
    model, x, _ = trained
    x = x[:100]
    result = elbo_surgery(model, x, n_samples=50)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    q = Independent(Normal(mu.double(), (0.5 * logvar.double()).exp()), 1)
    prior = Independent(Normal(torch.zeros(mu.shape[1]).double(), 1.0), 1)
    aggregate = MixtureSameFamily(Categorical(logits=torch.zeros(len(x)).double()), q)
    average_kl = kl_divergence(q, prior).mean().item()
    assert result["average_kl"] == pytest.approx(average_kl, rel=1e-9)
    torch.manual_seed(7)
    z = aggregate.sample((20_000,))
    log_ratio = aggregate.log_prob(z) - prior.log_prob(z)
    tolerance = 5 * log_ratio.std().item() / math.sqrt(len(z)) + 0.05  # + our 5000 samples
    assert result["marginal_kl"] == pytest.approx(log_ratio.mean().item(), abs=tolerance)
    assert result["mutual_information"] + result["marginal_kl"] == pytest.approx(
        average_kl, abs=0.1
    )
    assert 0 < result["mutual_information"] <= math.log(len(x))


def testlog_aggregate_posterior_is_a_brute_force_mixture_density():
    # 5000 components: the 2000 codes are split into blocks of 838 rows
    generator = torch.Generator().manual_seed(3)
    mu = torch.randn(5000, 3, generator=generator, dtype=torch.float64)
    logvar = torch.randn(5000, 3, generator=generator, dtype=torch.float64) - 1
    z = 2 * torch.randn(2000, 3, generator=generator, dtype=torch.float64)
    std = (0.5 * logvar).exp().numpy()
    log_components = stats.norm.logpdf(z.numpy()[:, None], mu.numpy(), std).sum(-1)
    expected = special.logsumexp(log_components, axis=1) - math.log(5000)
    got = diagnostics.log_aggregate_posterior(z, mu, logvar)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


def test_elbo_surgery_of_an_encoder_that_ignores_x_has_no_mutual_information():
    torch.manual_seed(0)
    model = VAE(z_dim=3, hidden=(8,))
    with torch.no_grad():
        model.encoder[-1].weight.zero_()  # q(z | x) is the same for every x
    result = elbo_surgery(model, load_digits()[1][:50])
    assert result["mutual_information"] == pytest.approx(0.0, abs=1e-9)
    assert result["marginal_kl"] == pytest.approx(result["average_kl"], abs=0.05)


def test_mutual_information_reaches_log_n_for_separated_posteriors():
    # point-like posteriors far apart: z identifies x, so I(X; Z) = log N
    model, _, _ = exact_posterior_vae()
    x = torch.linspace(-50, 50, 16)[:, None] * torch.ones(1, 5)
    with torch.no_grad():
        model.encoder[0].weight.copy_(torch.tensor([[1.0] * 5, [0.0] * 5]))
        model.encoder[0].bias.copy_(torch.tensor([0.0, math.log(1e-4)]))
    result = elbo_surgery(model, x)
    assert result["mutual_information"] == pytest.approx(math.log(16), abs=1e-6)


def test_edge_energy_by_hand():
    stripes = torch.zeros(8, 8)
    stripes[:, ::2] = 1.0  # 7 jumps of 1 across each of 8 rows, none down
    flat = torch.full((8, 8), 0.3)
    assert edge_energy(torch.stack([stripes, flat]).reshape(2, 64)) == pytest.approx(56 / 2)
    with pytest.raises(ValueError, match="images"):
        edge_energy(torch.zeros(3, 63))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x: importance_log_likelihood(m, x, k=0), "k must"),
        (lambda m, x: evaluate_elbo(m, x, n_samples=0), "n_samples"),
        (lambda m, x: amortization_gap(m, x, steps=0), "steps"),
        (lambda m, x: amortization_gap(m, x, lr=-1.0), "lr"),
        (lambda m, x: active_units(m, x, threshold=-1), "threshold"),
        (lambda m, x: elbo_surgery(m, x, n_samples=1.5), "n_samples"),
        (lambda m, x: importance_log_likelihood(m, x[:, :10]), r"shape \(n, 64\)"),
        (lambda m, x: elbo_surgery(m, x * math.nan), "NaN"),
        (lambda m, x: linear_gaussian_log_likelihood(m, x), "hidden=()"),
    ],
)
def test_bad_input_is_refused(trained, call, message):
    model, _, x = trained
    with pytest.raises(ValueError, match=message):
        call(model, x)


def test_a_refinement_that_overshoots_never_falls_below_the_amortized_elbo():
    """The encoder is already optimal; a step size of 3 throws (μ, log σ²) far off, so the end
    point is worse than the start, and the refined ELBO must fall back to the amortized one."""
    model, x, _ = exact_posterior_vae()
    result = amortization_gap(model, x, steps=5, lr=3.0, n_eval=200)
    assert torch.all(result["refined_elbo"] >= result["amortized_elbo"])
    assert torch.all(result["gap"] >= 0)
    assert (result["gap"] == 0).float().mean() > 0.5  # the guard held for most images

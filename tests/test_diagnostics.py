"""Diagnostics against closed forms (a linear-Gaussian VAE whose encoder is the exact posterior),
torch.distributions and the identities they must satisfy."""

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from elbo_lib import diagnostics
from elbo_lib.data import load_digits
from elbo_lib.diagnostics import (
    active_units,
    amortization_gap,
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
        model.log_sigma2.fill_(math.log(SIGMA2))
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
        model.log_sigma2.fill_(math.log(SIGMA2))
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


def test_a_second_start_at_the_prior_wins_where_the_encoder_starts_too_far_away():
    """The encoder's mean is 20 posterior units off: 300 Adam steps of 0.03 move it at most 9, so
    its ascent ends far below log p(x), while the ascent from the prior N(0, I) reaches the exact
    posterior (in the family here): the refined ELBO is the prior start's, log p(x)."""
    model, x, v = exact_posterior_vae(shift=20.0)
    exact = exact_log_likelihood(model, x)
    alone = amortization_gap(model, x, lr=0.03, starts=("encoder",))
    both = amortization_gap(model, x, lr=0.03)
    assert alone["end_elbo"].shape == (1, len(x)) and both["end_elbo"].shape == (2, len(x))
    assert torch.all(alone["refined_elbo"] < exact - 11**2 / (2 * v))  # still over 11 off
    torch.testing.assert_close(both["refined_elbo"], exact, atol=0.1, rtol=0)
    torch.testing.assert_close(both["refined_elbo"], both["end_elbo"][1])  # the prior's won
    assert torch.all(both["end_elbo"][1] > both["end_elbo"][0] + 100)


def test_refinement_shows_a_progress_bar_of_its_steps(capsys):
    model, x, _ = exact_posterior_vae()
    inference_gaps(model, x, k=4, steps=3, n_eval=4, progress=True)
    err = capsys.readouterr().err
    assert "refining q" in err and "3/3" in err


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


def test_log_aggregate_posterior_is_a_brute_force_mixture_density():
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


def test_elbo_surgery_standard_error_is_the_spread_of_the_sum_over_seeds(trained):
    model, x, _ = trained
    runs = [elbo_surgery(model, x[:100], n_samples=2, seed=seed) for seed in range(40)]
    errors = np.array([r["mutual_information"] + r["marginal_kl"] - r["average_kl"] for r in runs])
    standard_error = np.mean([r["standard_error"] for r in runs])
    # the sum is unbiased for the exact average KL, and scatters by its standard error
    assert abs(errors.mean()) < 4 * standard_error / math.sqrt(len(runs))
    assert 0.7 < errors.std(ddof=1) / standard_error < 1.4


@pytest.fixture(scope="module")
def two_d():
    """A small VAE with a 2-D latent, trained briefly on the digits, and 20 test images."""
    x_train, x_test, _, _ = load_digits()
    torch.manual_seed(0)
    model = VAE(z_dim=2, hidden=(32,))
    train_vae(model, x_train, epochs=10, lr=3e-3)
    return model, x_test[:20]


def linear_gaussian_2d(seed=0):
    """A linear-Gaussian VAE with a 2-D latent, x = W z + b + N(0, σ²I), a few points x and its
    exact posterior N(m, C), C = (I + WᵀW/σ²)⁻¹, m = C Wᵀ(x − b)/σ²."""
    torch.manual_seed(seed)
    model = VAE(x_dim=5, z_dim=2, hidden=(), likelihood="gaussian")
    w, b = 0.6 * torch.randn(5, 2), torch.randn(5)
    with torch.no_grad():
        model.decoder[0].weight.copy_(w)
        model.decoder[0].bias.copy_(b)
        model.log_sigma2.fill_(math.log(SIGMA2))
    x = torch.randn(6, 2) @ w.T + b + math.sqrt(SIGMA2) * torch.randn(6, 5)
    w64, b64, x64 = w.double().numpy(), b.double().numpy(), x.double().numpy()
    cov = np.linalg.inv(np.eye(2) + w64.T @ w64 / SIGMA2)
    means = (x64 - b64) @ w64 @ cov / SIGMA2
    return model, x, means, cov


def test_posterior_on_grid_is_normalised_on_its_grid(two_d):
    model, x = two_d
    grid = diagnostics.posterior_on_grid(model, x, extent=4.0, n=81)
    area = (8 / 80) ** 2
    assert grid["z1"].shape == grid["z2"].shape == (81,)
    assert grid["z1"][0] == -4 and grid["z1"][-1] == 4
    assert grid["log_posterior"].shape == (20, 81, 81)
    mass = grid["log_posterior"].double().exp().sum((1, 2)) * area
    assert torch.allclose(mass, torch.ones(20, dtype=torch.float64), atol=1e-5)
    assert torch.isfinite(grid["log_evidence"]).all()


def test_posterior_on_grid_evidence_matches_importance_sampling_with_k_5000(two_d):
    model, x = two_d
    k = 5000
    coarse = diagnostics.posterior_on_grid(model, x, n=101)["log_evidence"].double()
    fine = diagnostics.posterior_on_grid(model, x, extent=5.0, n=201)["log_evidence"].double()
    estimate = importance_log_likelihood(model, x, k=k).double()
    with torch.random.fork_rng():
        torch.manual_seed(1)
        log_w = model.log_importance_weights(x, k).detach().double()
    # delta method: sd(log mean w) ≈ sd(w) / (mean(w) √K); the estimate's bias is −sd² / 2
    w = (log_w - log_w.max(1, keepdim=True).values).exp()
    standard_error = w.std(1) / (w.mean(1) * math.sqrt(k))
    grid_error = (coarse - fine).abs()  # resolution and range of the grid
    assert grid_error.max() < 0.01
    assert standard_error.max() < 0.05  # the check below is sharp, not vacuous
    tolerance = 4 * standard_error + standard_error**2 + grid_error + 1e-4
    assert ((coarse - estimate).abs() < tolerance).all(), (coarse - estimate, tolerance)


def test_posterior_on_grid_of_a_linear_gaussian_vae_is_the_exact_gaussian_posterior():
    model, x, means, cov = linear_gaussian_2d()
    grid = diagnostics.posterior_on_grid(model, x, extent=6.0, n=241)
    z1, z2 = np.meshgrid(grid["z1"].double().numpy(), grid["z2"].double().numpy())
    points = np.stack([z1, z2], axis=-1)
    for i, mean in enumerate(means):
        exact = stats.multivariate_normal(mean, cov).logpdf(points)
        where = exact > exact.max() - 12  # where the posterior has its mass
        got = grid["log_posterior"][i].double().numpy()
        assert np.abs(got - exact)[where].max() < 2e-3
    evidence = ppca_log_likelihood(
        x.double().numpy(),
        model.decoder[0].weight.detach().double().numpy(),
        model.decoder[0].bias.detach().double().numpy(),
        SIGMA2,
    )
    assert np.allclose(grid["log_evidence"].double().numpy(), evidence, atol=2e-4)
    mean, moments = diagnostics.grid_posterior_moments(grid)
    assert np.allclose(mean.double().numpy(), means, atol=1e-4)
    assert np.allclose(moments.double().numpy(), np.broadcast_to(cov, (6, 2, 2)), atol=1e-4)


def test_grid_kl_to_posterior_is_the_closed_form_kl_and_zero_at_the_posterior():
    model, x, means, cov = linear_gaussian_2d()
    grid = diagnostics.posterior_on_grid(model, x, extent=6.0, n=241)
    mu = torch.as_tensor(means, dtype=torch.float32) + torch.tensor([0.3, -0.2])
    logvar = torch.log(torch.tensor([[0.2, 0.5]])).expand(6, 2)
    got = diagnostics.grid_kl_to_posterior(grid, mu, logvar).double().numpy()
    exact = [
        kl_divergence(
            torch.distributions.MultivariateNormal(
                m.double(), torch.diag(logvar[0].exp()).double()
            ),
            torch.distributions.MultivariateNormal(torch.as_tensor(p), torch.as_tensor(cov)),
        ).item()
        for m, p in zip(mu, means, strict=True)
    ]
    assert np.allclose(got, exact, atol=1e-4)
    assert min(exact) > 0.1
    # the diagonal Gaussian closest in KL(q ‖ p) has the precision's diagonal: v_i = 1 / Λ_ii
    best = torch.log(torch.as_tensor(1.0 / np.diag(np.linalg.inv(cov)))).float().expand(6, 2)
    at_best = diagnostics.grid_kl_to_posterior(grid, torch.as_tensor(means).float(), best)
    correlation = cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])
    assert np.allclose(at_best.numpy(), -0.5 * math.log(1 - correlation**2), atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extent": 0.0}, "extent must"),
        ({"extent": -1.0}, "extent must"),
        ({"extent": math.inf}, "extent must"),
        ({"extent": "4"}, "extent must"),
        ({"extent": 1e-30}, "extent must be a finite number above 0.001"),
        ({"extent": 1e20}, "extent must .*at most 50"),
        ({"n": 2}, "n must be an integer of at least 3"),
        ({"n": 0}, "n must be an integer of at least 3"),
        ({"n": 50.5}, "n must be an integer"),
        ({"n": 10**8}, "n must be at most 1,001"),
    ],
)
def test_posterior_on_grid_refuses_bad_grids(two_d, kwargs, message):
    model, x = two_d
    with pytest.raises(ValueError, match=message):
        diagnostics.posterior_on_grid(model, x, **kwargs)


def test_posterior_on_grid_refuses_other_latent_sizes_and_bad_data(trained, two_d):
    model, _, x = trained
    with pytest.raises(ValueError, match="z_dim == 2"):
        diagnostics.posterior_on_grid(model, x)
    model, x = two_d
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        diagnostics.posterior_on_grid(model, x[:, :10])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diagnostics.posterior_on_grid(model, 2 * x)
    grid = diagnostics.posterior_on_grid(model, x, n=11)
    with pytest.raises(ValueError, match=r"mu must have shape \(20, 2\)"):
        diagnostics.grid_kl_to_posterior(grid, torch.zeros(3, 2), torch.zeros(3, 2))


def test_a_refinement_that_overshoots_never_falls_below_the_amortized_elbo():
    """The encoder is already optimal; a step size of 3 throws (μ, log σ²) far off, so the end
    point is worse than the start, and the refined ELBO must fall back to the amortized one."""
    model, x, _ = exact_posterior_vae()
    result = amortization_gap(model, x, steps=5, lr=3.0, n_eval=200)
    assert torch.all(result["refined_elbo"] >= result["amortized_elbo"])
    assert torch.all(result["gap"] >= 0)
    assert (result["gap"] == 0).float().mean() > 0.5  # the guard held for most images


def test_posterior_on_grid_reports_its_edge_mass_and_warns_when_it_misses_mass(two_d):
    model, x = two_d
    wide = diagnostics.posterior_on_grid(model, x[:3], extent=6.0, n=61)  # no warning (error)
    assert (wide["edge_mass"] >= 0).all() and (wide["edge_mass"] < diagnostics.EDGE_MASS).all()
    with pytest.warns(RuntimeWarning, match=r"misses posterior mass.*widen extent") as caught:
        narrow = diagnostics.posterior_on_grid(model, x[:3], extent=0.3, n=11)
    assert caught[0].filename == __file__  # the warning points at the caller
    # the edge cells of an 11 × 11 grid are 40 of 121: a posterior wider than the grid puts
    # about that share of its mass there
    assert (narrow["edge_mass"] > 0.2).all()
    log_p = narrow["log_posterior"]
    edge = torch.ones(11, 11, dtype=torch.bool)
    edge[1:-1, 1:-1] = False
    area = (narrow["z1"][1] - narrow["z1"][0]) ** 2
    torch.testing.assert_close(narrow["edge_mass"], log_p[:, edge].exp().sum(1) * area)


def test_moments_on_a_grid_of_non_square_cells_are_the_gaussian_s():
    """Δz1 = 0.1 and Δz2 = 0.2: a cell area computed as Δz1² would halve every moment."""
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.4], [0.4, 0.5]], dtype=torch.float64)
    z1 = torch.linspace(-6, 6, 121, dtype=torch.float64)
    z2 = torch.linspace(-6, 6, 61, dtype=torch.float64)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    log_p = MultivariateNormal(mean, cov).log_prob(torch.stack([cols, rows], -1))
    log_p = log_p - torch.logsumexp(log_p.flatten(), 0) - math.log(0.1 * 0.2)
    grid = {"z1": z1, "z2": z2, "log_posterior": log_p[None]}
    moments = diagnostics.grid_posterior_moments(grid)
    torch.testing.assert_close(moments[0][0], mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(moments[1][0], cov, rtol=0, atol=1e-3)

import numpy as np
import pytest
import torch

from elbo_lib.bounds import jensen_gap_standard_error
from elbo_lib.checks import (
    close,
    holds,
    near,
    within_standard_errors,
)


def test_a_claim_that_holds_prints_itself_and_its_tolerance(capsys):
    close("ELBO + KL = log p(x)", np.array([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-13]), 1e-10)
    holds("the KL is non-negative", np.array([0.0, 0.3]) >= 0, "smallest 0")
    assert capsys.readouterr().out.splitlines() == [
        "✓ ELBO + KL = log p(x) (to within 1e-10)",
        "✓ the KL is non-negative (smallest 0)",
    ]


def test_a_claim_that_fails_raises_with_what_failed():
    with pytest.raises(AssertionError, match=r"✗ equal: the largest difference is 0\.1, over"):
        close("equal", [1.0, 2.1], [1.0, 2.0], 0.01)
    with pytest.raises(AssertionError, match="✗ positive: it does not hold"):
        holds("positive", np.array([1.0, -1.0]) > 0)
    with pytest.raises(AssertionError, match="largest difference is nan"):
        close("equal", [np.nan], [1.0], 0.01)


def test_within_standard_errors_accepts_an_unbiased_mean_and_rejects_a_biased_one(capsys):
    draws = np.random.default_rng(0).normal(1.0, 2.0, size=(10_000, 2))
    within_standard_errors("the estimator is unbiased", draws, [1.0, 1.0])
    assert "within 4 standard errors of 10000 draws" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="standard errors away"):
        within_standard_errors("the estimator is unbiased", draws, [1.2, 1.0])  # 10 SE off
    with pytest.raises(ValueError, match="at least two draws"):
        within_standard_errors("one draw", draws[:1], 1.0)


def test_near_accepts_an_estimate_within_k_standard_errors_and_names_the_distance(capsys):
    near("the estimate is unbiased", [1.02, 0.97], 1.0, [0.01, 0.01])
    assert capsys.readouterr().out == "✓ the estimate is unbiased (within 4 standard errors)\n"
    with pytest.raises(AssertionError, match=r"✗ off: an estimate is 5\.0 standard errors away"):
        near("off", [1.0, 1.05], 1.0, 0.01)
    with pytest.raises(AssertionError, match="nan standard errors"):
        near("nan", np.nan, 1.0, 0.01)
    with pytest.raises(ValueError, match="standard_error must be positive"):
        near("no spread", 1.0, 1.0, 0.0)


@pytest.mark.parametrize("tau", [0.3, 0.8, 1.2])
def test_jensen_gap_standard_error_matches_the_log_normal_closed_form(tau):
    n = 400_000
    log_y = -(tau**2) / 2 + tau * np.random.default_rng(1).standard_normal(n)
    expected = np.sqrt((np.expm1(tau**2) - tau**2) / n)  # Var(Y − log Y) with E[Y] = 1
    assert jensen_gap_standard_error(log_y) == pytest.approx(expected, rel=0.05)


def test_jensen_gap_standard_error_is_the_spread_of_repeated_estimates():
    rng, tau, n = np.random.default_rng(2), 0.8, 2_000
    draws = -(tau**2) / 2 + tau * rng.standard_normal((1_000, n))
    gaps = np.log(np.exp(draws).mean(axis=1)) - draws.mean(axis=1)
    predicted = jensen_gap_standard_error(draws[0])
    assert gaps.std(ddof=1) == pytest.approx(predicted, rel=0.15)
    with pytest.raises(ValueError, match="log_y must be"):
        jensen_gap_standard_error([1.0])
    with pytest.raises(ValueError, match="log_y contains inf"):
        jensen_gap_standard_error([1.0, np.inf])


def test_an_estimate_prints_its_digits_and_nbval_compares_only_its_form():
    import re

    from elbo_lib.checks import ESTIMATE, estimate

    assert estimate(-18.2149) == "≈ -18.21"
    assert estimate(torch.tensor([14.0, 12.0, 11.5]), digits=1) == "≈ [14.0, 12.0, 11.5]"
    here, elsewhere = (f"L_K {estimate(v)} nats, K = 1000" for v in (-18.214, -18.196))
    assert here != elsewhere
    assert re.sub(ESTIMATE, "≈ …", here) == re.sub(ESTIMATE, "≈ …", elsewhere)
    assert re.sub(ESTIMATE, "≈ …", here) == "L_K ≈ … nats, K = 1000"
    assert re.sub(ESTIMATE, "≈ …", "KL 0.61 ± 0.35, seeds (0, 1, 2)") == "KL ≈ …, seeds (0, 1, 2)"
    with pytest.raises(ValueError, match="value must be finite"):
        estimate(float("nan"))
    with pytest.raises(ValueError, match="digits"):
        estimate(1.0, digits=-1)

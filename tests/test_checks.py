import numpy as np
import pytest
import torch

from elbo_lib.checks import close, holds, within_standard_errors


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

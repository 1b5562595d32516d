import math

import numpy as np
import pytest
import torch

from elbo_lib.collapse import (
    CONFIGS,
    REMEDIES,
    CollapseConfig,
    collapse_run,
    collapse_study,
    format_table,
    make_model,
    summarize,
    training_plan,
)
from elbo_lib.diagnostics import evaluate_elbo
from elbo_lib.made import MADEVAE
from elbo_lib.vae import VAE


def test_training_plans_follow_the_schedules():
    assert training_plan("constant", 100) == {"beta": 1.0, "free_bits": 0.0}
    warm = training_plan("warm-up", 100)["beta"]
    assert [warm(t) for t in (0, 15, 30, 99)] == [0.0, 0.5, 1.0, 1.0]
    cyclical = training_plan("cyclical", 80)["beta"]  # 4 periods of 20 steps, rising over 10
    assert [cyclical(t) for t in (0, 5, 10, 19, 20, 25, 79)] == [0, 0.5, 1, 1, 0, 0.5, 1]
    assert training_plan("free bits", 100, free_bits=0.3) == {"beta": 1.0, "free_bits": 0.3}
    with pytest.raises(ValueError, match="remedy"):
        training_plan("annealing", 100)


def test_models_are_seeded_and_of_the_named_decoder():
    a, b = make_model("MADE", seed=1), make_model("MADE", seed=1)
    assert isinstance(a, MADEVAE) and a.z_dim == 16
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert type(make_model("MLP")) is VAE
    with pytest.raises(ValueError, match="decoder"):
        make_model("PixelCNN")


@pytest.fixture(scope="module")
def digits():
    from elbo_lib.data import load_digits

    x_train, x_test, _, _ = load_digits()
    return x_train[:256], x_test[:64]


def test_a_run_measures_consistent_quantities(digits):
    row = collapse_run("MADE", "free bits", *digits, seed=0, epochs=3, lr=3e-3, k=20)
    assert len(row["kl_history"]) == 3
    assert math.isclose(row["kl_per_dimension"].sum(), row["kl"], rel_tol=1e-5)
    assert 0 <= row["active_units"] <= 16
    assert row["kl_units"] == (row["kl_per_dimension"] > 0.1).sum()
    assert row["mutual_information"] <= math.log(64) + 1e-9
    assert row["nll"] <= row["neg_elbo"] + 0.5  # IWAE with K = 20 is above the ELBO, up to noise
    model = make_model("MADE", seed=0)
    assert row["neg_elbo"] != -evaluate_elbo(model, digits[1])["elbo"].mean().item()


def test_summary_takes_mean_and_spread_over_seeds():
    rows = [
        {
            "decoder": "MADE",
            "remedy": "constant",
            "beta": 1.0,
            "seed": s,
            "kl": kl,
            "active_units": au,
            "kl_units": 1,
            "mutual_information": 0.1,
            "neg_elbo": 18.0,
            "nll": 17.5,
        }
        for s, kl, au in ((0, 0.2, 1), (1, 0.4, 3), (2, 0.9, 2))
    ]
    rows.append({**rows[0], "decoder": "MLP", "beta": 4.0})
    table = summarize(rows)
    assert [(e["decoder"], e["runs"]) for e in table] == [("MADE", 3), ("MLP", 1)]
    mean, std = table[0]["kl"]
    assert math.isclose(mean, 0.5) and math.isclose(std, np.std([0.2, 0.4, 0.9], ddof=1))
    text = format_table(table)
    assert "0.50 ± 0.36" in text and "2.0 ± 1.0" in text and "β = 4" in text


def test_study_refuses_an_unknown_configuration(digits):
    with pytest.raises(ValueError, match="config"):
        collapse_study(*digits, config="huge")


def test_study_shows_a_progress_bar_of_its_runs(digits, monkeypatch, capsys):
    tiny = CollapseConfig(made_hidden=(8,), epochs=1, lr=1e-2, k=2, seeds=(0,))
    monkeypatch.setitem(CONFIGS, "tiny", tiny)
    x_train, x_test = digits
    rows = collapse_study(x_train[:64], x_test[:16], "tiny", progress=True)
    err = capsys.readouterr().err
    assert len(rows) == 6 and "runs" in err and "6/6" in err and "MLP, constant, β = 4" in err


def test_every_remedy_is_planned():
    assert REMEDIES == ("constant", "warm-up", "cyclical", "free bits")


def test_plots_draw_one_line_per_remedy():
    from matplotlib.figure import Figure

    from elbo_lib.collapse import plot_kl_over_training, plot_kl_per_unit

    rows = [
        {
            "decoder": "MADE",
            "remedy": remedy,
            "beta": 1.0,
            "kl_history": [1.0 + seed, 2.0, 3.0],
            "kl_per_dimension": np.array([0.0, 2.0, 0.5]),
        }
        for remedy in ("constant", "warm-up")
        for seed in (0, 1)
    ]
    ax = Figure().subplots()
    plot_kl_over_training(ax, rows)
    assert [line.get_label() for line in ax.lines] == ["constant (2 seeds)", "warm-up (2 seeds)"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.5, 2.0, 3.0])
    ax = Figure().subplots()
    plot_kl_per_unit(ax, rows)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 0.5, 1e-3])  # sorted, floored


def test_select_and_per_seed_pick_one_setting_in_seed_order():
    from elbo_lib.collapse import per_seed, select

    rows = [
        {"decoder": d, "remedy": r, "beta": b, "seed": s, "kl": 10 * s + i}
        for i, (d, r, b) in enumerate((("MADE", "constant", 1.0), ("MLP", "constant", 4.0)))
        for s in (0, 1, 2)
    ]
    assert [r["seed"] for r in select(rows, "MLP", "constant", beta=4.0)] == [0, 1, 2]
    np.testing.assert_array_equal(per_seed(rows, "MADE", "constant", "kl"), [0, 10, 20])
    np.testing.assert_array_equal(per_seed(rows, "MLP", "constant", "kl", beta=4.0), [1, 11, 21])
    with pytest.raises(ValueError, match="remedy='warm-up'"):
        select(rows, "MADE", "warm-up")
    with pytest.raises(ValueError, match="metric"):
        per_seed(rows, "MADE", "constant", "nll")

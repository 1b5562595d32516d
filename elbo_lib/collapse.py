r"""Posterior collapse and its remedies, measured over seeds (notebook 12).

A VAE has collapsed when :math:`q(z \mid x) = p(z)` for every x: the KL term is zero and so is
the mutual information :math:`I_q(X; Z)`. A decoder that models the pixels well without z (the
autoregressive :class:`~elbo_lib.made.MADEVAE`) invites it. :func:`collapse_study` trains models
under the remedies of :data:`REMEDIES` and measures each one with :mod:`elbo_lib.diagnostics`.
"""

import dataclasses
import time

import numpy as np
from tqdm.auto import tqdm

from elbo_lib import schedules
from elbo_lib._torch import seeded
from elbo_lib.adam import LR_LIMIT
from elbo_lib.diagnostics import (
    KL_UNIT,
    active_units,
    elbo_surgery,
    evaluate_elbo,
    importance_log_likelihood,
    kl_per_dimension,
)
from elbo_lib.made import MADEVAE
from elbo_lib.vae import VAE, train_vae, training_steps
from elbo_lib.validation import (
    anything,
    axes,
    choice,
    count,
    flag,
    integer,
    layers,
    non_negative,
    positive_real,
    real,
    validate,
)
from elbo_lib.validation import seed as seed_kind

REMEDIES = ("constant", "warm-up", "cyclical", "free bits")
"""constant β = 1; linear warm-up β_t = min(1, t/T) over the first 30 % of steps; cyclical
annealing with 4 cycles, rising over the first half of each; free bits δ per unit, β = 1."""


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    """How the collapse study trains and measures each model."""

    made_hidden: tuple[int, ...]  # hidden layer sizes of the MADE decoder
    epochs: int
    lr: float  # Adam's step size
    k: int  # importance samples per test image for -log p(x)
    seeds: tuple[int, ...] = (0, 1, 2)  # one run per seed

    def __post_init__(self):
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ValueError(f"seeds must be a non-empty tuple of seeds, got {self.seeds!r}")
        for seed in self.seeds:
            integer(seed, "each of seeds")


CollapseConfig.__init__ = validate(
    made_hidden=layers,
    epochs=count(limit=10**5),
    lr=real(0.0, LR_LIMIT),
    k=count(limit=10**6),
    seeds=anything,
)(CollapseConfig.__init__)

CONFIGS = {
    "fast": CollapseConfig(made_hidden=(256,), epochs=30, lr=1e-2, k=100),
    "reported": CollapseConfig(made_hidden=(256,), epochs=100, lr=3e-3, k=1000),
    "full": CollapseConfig(made_hidden=(512, 512), epochs=100, lr=3e-3, k=1000),
    "fast-long": CollapseConfig(made_hidden=(256,), epochs=100, lr=1e-2, k=1000),
    "slow-short": CollapseConfig(made_hidden=(256,), epochs=30, lr=3e-3, k=1000),
}
"""Training configurations of the MADE decoder: ``"fast"`` runs in the notebook in seconds;
``"reported"`` is a commonly reported setting (hidden 256, Adam 3e-3, 100 epochs); ``"full"``
has two hidden layers of 512; ``"fast-long"`` and ``"slow-short"`` cross the learning rates and
lengths of ``"fast"`` and ``"reported"``, to tell the two apart. All but ``"fast"`` run in
``benchmarks/collapse_study.py``."""

METRICS = ("kl", "active_units", "kl_units", "mutual_information", "neg_elbo", "nll")


@validate(
    remedy=choice(*REMEDIES), steps=count(limit=10**7), free_bits=non_negative, beta=non_negative
)
def training_plan(remedy, steps, *, free_bits=0.25, beta=1.0):
    r"""Keyword arguments ``beta`` and ``free_bits`` of :func:`~elbo_lib.vae.train_vae` for a
    remedy of :data:`REMEDIES` over ``steps`` optimiser steps, with target ``beta``."""
    plans = {
        "constant": lambda: {"beta": beta, "free_bits": 0.0},
        "warm-up": lambda: {
            "beta": schedules.linear_warmup(max(1, round(0.3 * steps)), target=beta),
            "free_bits": 0.0,
        },
        "cyclical": lambda: {
            "beta": schedules.cyclical(max(1, steps // 4), ratio=0.5, target=beta),
            "free_bits": 0.0,
        },
        "free bits": lambda: {"beta": beta, "free_bits": free_bits},
    }
    return plans[remedy]()


@validate(
    decoder=choice("MADE", "MLP"), z_dim=count(limit=2**14), made_hidden=layers, seed=seed_kind
)
def make_model(decoder, z_dim=16, made_hidden=(256,), seed=0):
    """A fresh VAE initialised with ``seed``: ``decoder`` "MADE" (:class:`MADEVAE` with
    ``made_hidden``) or "MLP" (:class:`~elbo_lib.vae.VAE` with one hidden layer of 256)."""
    with seeded(seed):
        if decoder == "MADE":
            return MADEVAE(z_dim=z_dim, hidden=made_hidden)
        return VAE(z_dim=z_dim, hidden=(256,))


@validate(
    decoder=choice("MADE", "MLP"),
    remedy=choice(*REMEDIES),
    x_train=anything,
    x_test=anything,
    seed=seed_kind,
    epochs=count(limit=10**5),
    lr=real(0.0, LR_LIMIT),
    k=count(limit=10**6),
    beta=non_negative,
    made_hidden=layers,
)
def collapse_run(
    decoder, remedy, x_train, x_test, *, seed, epochs, lr, k, beta=1.0, made_hidden=(256,)
):
    r"""Train one model and measure it on ``x_test``. Returns a dict: the settings
    (``decoder``, ``remedy``, ``beta``, ``seed``), ``kl_history`` (per-epoch training KL),
    ``kl`` (average test KL), ``kl_per_dimension`` (numpy, z_dim), ``active_units`` (count,
    :data:`~elbo_lib.diagnostics.ACTIVE_THRESHOLD`), ``kl_units`` (count of units with KL above
    :data:`~elbo_lib.diagnostics.KL_UNIT`),
    ``mutual_information`` (:func:`~elbo_lib.diagnostics.elbo_surgery`),
    ``neg_elbo`` and ``nll`` (:math:`-\log p(x)` by importance sampling with ``k`` samples),
    all in nats per test image, and ``seconds`` of training."""
    model = make_model(decoder, made_hidden=made_hidden, seed=seed)
    steps = training_steps(len(x_train), epochs)
    start = time.perf_counter()
    history = train_vae(
        model,
        x_train,
        epochs=epochs,
        lr=lr,
        seed=seed,
        **training_plan(remedy, steps, beta=beta),
    )
    seconds = time.perf_counter() - start
    elbo = evaluate_elbo(model, x_test, seed=seed)
    per_dimension = kl_per_dimension(model, x_test).numpy()
    return {
        "decoder": decoder,
        "remedy": remedy,
        "beta": beta,
        "seed": seed,
        "kl_history": history["kl"],
        "kl": float(elbo["kl"].mean()),
        "kl_per_dimension": per_dimension,
        "active_units": int(active_units(model, x_test).sum()),
        "kl_units": int((per_dimension > KL_UNIT).sum()),
        "mutual_information": elbo_surgery(model, x_test, seed=seed)["mutual_information"],
        "neg_elbo": float(-elbo["elbo"].mean()),
        "nll": float(-importance_log_likelihood(model, x_test, k=k, seed=seed).mean()),
        "seconds": seconds,
    }


@validate(
    x_train=anything, x_test=anything, config=anything, large_beta=non_negative, progress=flag
)
def collapse_study(x_train, x_test, config="fast", *, large_beta=4.0, progress=False):
    """Every run of notebook 12 for a configuration of :data:`CONFIGS`: the MADE decoder under
    each remedy of :data:`REMEDIES`, and the MLP decoder at β = 1 and at
    ``large_beta`` (constant), each for every seed. ``progress`` shows a progress bar of the
    runs, naming the current one. Returns the list of :func:`collapse_run` dicts."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {tuple(CONFIGS)}, got {config!r}")
    settings = CONFIGS[config]
    plan = [("MADE", remedy, 1.0) for remedy in REMEDIES]
    plan += [("MLP", "constant", 1.0), ("MLP", "constant", large_beta)]
    rows = []
    bar = tqdm(total=len(plan) * len(settings.seeds), desc="runs", unit="run", disable=not progress)
    for decoder, remedy, beta in plan:
        for seed in settings.seeds:
            bar.set_postfix_str(f"{decoder}, {remedy}, β = {beta:g}, seed {seed}")
            rows.append(
                collapse_run(
                    decoder,
                    remedy,
                    x_train,
                    x_test,
                    seed=seed,
                    epochs=settings.epochs,
                    lr=settings.lr,
                    k=settings.k,
                    beta=beta,
                    made_hidden=settings.made_hidden,
                )
            )
            bar.update()
    bar.close()
    return rows


@validate(rows=anything)
def summarize(rows):
    """Mean and standard deviation over seeds of each of :data:`METRICS`, one entry per
    (decoder, remedy, β) in order of appearance: a list of dicts with the settings, ``runs``,
    and ``metric`` → (mean, std)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["decoder"], row["remedy"], row["beta"]), []).append(row)
    table = []
    for (decoder, remedy, beta), group in groups.items():
        entry = {"decoder": decoder, "remedy": remedy, "beta": beta, "runs": len(group)}
        for metric in METRICS:
            values = np.array([row[metric] for row in group], dtype=float)
            entry[metric] = (values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0)
        table.append(entry)
    return table


@validate(table=anything)
def format_table(table):
    """The :func:`summarize` table as aligned text, mean ± standard deviation over seeds."""
    header = [
        "decoder",
        "training",
        "KL",
        "active",
        f"KL>{KL_UNIT}",
        "I(X;Z)",
        "−ELBO",
        "−log p(x)",
    ]
    lines = []
    for entry in table:
        setting = entry["remedy"] if entry["beta"] == 1.0 else f"β = {entry['beta']:g}"
        cells = [entry["decoder"], setting]
        for metric in METRICS:
            mean, std = entry[metric]
            digits = 1 if "units" in metric else 2
            cells.append(f"{mean:.{digits}f} ± {std:.{digits}f}")
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *lines]
    )


def _runs(rows, decoder):
    """``decoder``'s runs at β = 1, grouped by remedy."""
    groups = {}
    for row in rows:
        if row["decoder"] == decoder and row["beta"] == 1.0:
            groups.setdefault(row["remedy"], []).append(row)
    if not groups:
        raise ValueError(f"rows holds no run of decoder {decoder!r} at β = 1")
    return groups


@validate(ax=axes, rows=anything, decoder=anything)
def plot_kl_over_training(ax, rows, decoder="MADE"):
    """The training KL per epoch of ``decoder``'s runs at β = 1, one colour per remedy: the mean
    over seeds as a line, the range over seeds as a band."""
    for colour, (remedy, group) in enumerate(_runs(rows, decoder).items()):
        kl = np.array([row["kl_history"] for row in group])
        epochs = np.arange(1, kl.shape[1] + 1)
        ax.plot(epochs, kl.mean(0), color=f"C{colour}", label=f"{remedy} ({len(group)} seeds)")
        ax.fill_between(epochs, kl.min(0), kl.max(0), color=f"C{colour}", alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="KL (nats per image)", title=f"KL during training ({decoder})")
    ax.legend(fontsize=8)


@validate(ax=axes, rows=anything, decoder=anything, floor=positive_real)
def plot_kl_per_unit(ax, rows, decoder="MADE", floor=1e-3):
    """The test KL of each latent unit of ``decoder``'s runs at β = 1, sorted largest first and
    averaged over seeds, one line per remedy (log scale, values below ``floor`` drawn at it),
    with the :data:`~elbo_lib.diagnostics.KL_UNIT` line."""
    for colour, (remedy, group) in enumerate(_runs(rows, decoder).items()):
        ranked = -np.sort(-np.array([row["kl_per_dimension"] for row in group]), axis=1)
        units = np.arange(1, ranked.shape[1] + 1)
        ax.plot(units, np.maximum(ranked.mean(0), floor), "o-", color=f"C{colour}", label=remedy)
    ax.axhline(KL_UNIT, color="0.5", ls=":", lw=1, label=f"{KL_UNIT} nats")
    ax.set_yscale("log")
    ax.set(
        xlabel="latent unit, by KL (largest first)",
        ylabel="KL of the unit (nats)",
        title=f"Where the KL sits ({decoder}, test digits)",
    )
    ax.legend(fontsize=8)


@validate(rows=anything, decoder=anything, remedy=anything, beta=anything)
def select(rows, decoder, remedy, beta=1.0):
    """The runs of :func:`collapse_study` with this ``decoder``, ``remedy`` and ``beta``, in
    seed order; a ValueError if there are none."""
    keys = {"decoder", "remedy", "beta"}
    if not isinstance(rows, list | tuple) or not all(
        isinstance(r, dict) and keys <= r.keys() for r in rows
    ):
        raise ValueError(
            "rows must be a list of collapse_run results (dicts of decoder, remedy, …)"
        )
    chosen = [r for r in rows if (r["decoder"], r["remedy"], r["beta"]) == (decoder, remedy, beta)]
    if not chosen:
        raise ValueError(f"no runs with decoder={decoder!r}, remedy={remedy!r}, beta={beta!r}")
    return chosen


@validate(rows=anything, decoder=anything, remedy=anything, metric=anything, beta=anything)
def per_seed(rows, decoder, remedy, metric, beta=1.0):
    """``metric`` (a key of a :func:`collapse_run` dict) of each selected run, one entry per seed:
    a numpy array (seeds,), or (seeds, z_dim) for ``"kl_per_dimension"``."""
    chosen = select(rows, decoder, remedy, beta)
    if metric not in chosen[0]:
        raise ValueError(f"metric must be a key of a run, got {metric!r}")
    return np.array([r[metric] for r in chosen])

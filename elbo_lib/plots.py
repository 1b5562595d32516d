r"""The notebooks' figures. Each function takes numbers or arrays and a matplotlib Axes, draws
on it (axes labelled, log-quantities in nats) and returns nothing; :mod:`elbo_lib.widgets`
redraws them when a slider moves and the notebooks call them once for a static copy.
"""

import numpy as np

PRIOR, Q, POSTERIOR, TARGET = "0.45", "C0", "C3", "0.25"


def jensen_chord(ax, sigma, eps):
    r"""The concave :math:`\log u` with samples :math:`Y = e^{-\sigma^2/2 + \sigma\varepsilon}`
    (so :math:`\mathbb E[Y] = 1`) on it: their average :math:`(\mathbb E[Y], \mathbb E[\log Y])
    = (1, -\sigma^2/2)` lies below the curve's value :math:`\log\mathbb E[Y] = 0`."""
    u = np.linspace(0.02, 4.0, 300)
    y = np.exp(-(sigma**2) / 2 + sigma * np.asarray(eps))
    ax.plot(u, np.log(u), color="k", lw=1.5, label=r"$\log u$")
    ax.scatter(y, np.log(y), s=10, color=Q, alpha=0.35, label=r"samples $(Y, \log Y)$")
    ax.plot([1], [0], "o", color=POSTERIOR, ms=8, label=r"$\log \mathbb{E}[Y] = 0$")
    ax.plot([1], [-(sigma**2) / 2], "s", color=Q, ms=8, label=r"$\mathbb{E}[\log Y]$")
    ax.annotate(
        "",
        xy=(1, 0),
        xytext=(1, -(sigma**2) / 2),
        arrowprops={"arrowstyle": "<->", "color": POSTERIOR},
    )
    ax.text(1.08, -(sigma**2) / 4, f"gap = σ²/2 = {sigma**2 / 2:.3f} nats", va="center")
    ax.set(xlim=(0, 4), ylim=(-4, 1.6), xlabel="u", ylabel="log u (nats)")
    ax.set_title(f"Jensen: log E[Y] ≥ E[log Y]   (σ = {sigma:.2f})")
    ax.legend(loc="lower right", fontsize=8)


def jensen_gap_curve(ax, sigma, sigma_max=2.5):
    r"""The Jensen gap :math:`\log\mathbb E[Y] - \mathbb E[\log Y] = \sigma^2/2` of a log-normal
    Y against its spread σ, with the current σ marked."""
    s = np.linspace(0, sigma_max, 200)
    ax.plot(s, s**2 / 2, color="k", label=r"gap $= \sigma^2/2$")
    ax.plot([sigma], [sigma**2 / 2], "o", color=POSTERIOR, ms=8, label="current σ")
    ax.set(xlabel="spread σ of log Y", ylabel="gap (nats)", title="The gap grows with the spread")
    ax.legend(loc="upper left", fontsize=8)

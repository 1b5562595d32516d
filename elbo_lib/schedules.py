r"""Schedules for the KL weight β of the β-weighted ELBO
:math:`\mathbb E_q[\log p(x \mid z)] - \beta_t\,\mathrm{KL}(q(z \mid x)\,\|\,p(z))`.

Each function returns a callable of the optimiser step t = 0, 1, 2, … giving :math:`\beta_t`,
to pass as ``beta`` to :func:`elbo_lib.vae.train_vae`.
"""

from elbo_lib.validation import non_negative_number, number, positive_int


def constant(beta):
    r""":math:`\beta_t = \beta`."""
    beta = non_negative_number(beta, "beta")
    return lambda step: beta


def linear_warmup(warmup_steps, target=1.0):
    r""":math:`\beta_t = \beta_\star \min(1, t / T)` with T = ``warmup_steps``: β rises from 0
    to the target over the first T steps and stays there (Bowman et al. 2016; linear form:
    Sønderby et al. 2016)."""
    warmup_steps = positive_int(warmup_steps, "warmup_steps")
    target = non_negative_number(target, "target")
    return lambda step: target * min(1.0, step / warmup_steps)


def cyclical(period, ratio=0.5, target=1.0):
    r""":math:`\beta_t = \beta_\star \min\big(1, \frac{t \bmod P}{R P}\big)`: every period of P
    steps, β rises linearly from 0 over the first fraction R = ``ratio`` of the period and then
    stays at the target (Fu et al. 2019)."""
    period = positive_int(period, "period")
    ratio = number(ratio, "ratio", low=0.0, high=1.0)
    target = non_negative_number(target, "target")
    rise = ratio * period
    return lambda step: target * min(1.0, (step % period) / rise)

r"""Schedules for the KL weight β of the β-weighted ELBO
:math:`\mathbb E_q[\log p(x \mid z)] - \beta_t\,\mathrm{KL}(q(z \mid x)\,\|\,p(z))`.

Each function returns a callable of the optimiser step t = 0, 1, 2, … giving :math:`\beta_t`,
to pass as ``beta`` to :func:`elbo_lib.vae.train_vae`.
"""

from elbo_lib.validation import count, real, validate

BETA = real(0.0, 1e6, strict=False)  # a KL weight


@validate(beta=BETA)
def constant(beta):
    r""":math:`\beta_t = \beta`."""
    return lambda step: beta


@validate(warmup_steps=count(limit=2**62), target=BETA)
def linear_warmup(warmup_steps, target=1.0):
    r""":math:`\beta_t = \beta_\star \min(1, t / T)` with T = ``warmup_steps``: β rises from 0
    to the target over the first T steps and stays there (Bowman et al. 2016; linear form:
    Sønderby et al. 2016)."""
    return lambda step: target * min(1.0, step / warmup_steps)


@validate(period=count(limit=2**62), ratio=real(0.0, 1.0), target=BETA)
def cyclical(period, ratio=0.5, target=1.0):
    r""":math:`\beta_t = \beta_\star \min\big(1, \frac{t \bmod P}{R P}\big)`: every period of P
    steps, β rises linearly from 0 over the first fraction R = ``ratio`` of the period and then
    stays at the target (Fu et al. 2019)."""
    rise = ratio * period
    return lambda step: target * min(1.0, (step % period) / rise)

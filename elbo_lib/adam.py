r"""Adam (Kingma & Ba 2015), the optimiser that trains and refines every model here. For each
parameter θ with gradient :math:`g_t` at step t = 1, 2, …

.. math:: m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad
          v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2,

.. math:: \theta_t = \theta_{t-1} - \frac{\eta}{1 - \beta_1^t}\,
          \frac{m_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon},

with :math:`m_0 = v_0 = 0`, β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸. The operations are those of
``torch.optim.Adam`` with its defaults, so both give the same parameters to the last bit
(``tests/test_adam.py``). ``torch.optim`` loads torch's compiler on its first use, about 2 s on
one CPU in every notebook that trains; this loop does not.
"""

import torch

from elbo_lib.validation import positive_number

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


class Adam:
    """Adam with step size ``lr`` on ``params``, leaf tensors that require gradients."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("params is empty: Adam needs at least one tensor to optimise")
        for i, p in enumerate(self.params):
            if not (isinstance(p, torch.Tensor) and p.is_leaf and p.requires_grad):
                raise ValueError(f"params[{i}] must be a leaf tensor that requires grad")
        self.lr = positive_number(lr, "lr")
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self):
        """Forget the gradients (set each ``.grad`` to None)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        """One update of every parameter from its ``.grad``."""
        missing = [i for i, p in enumerate(self.params) if p.grad is None]
        if missing:
            raise ValueError(f"params {missing} have no gradient: call backward() before step()")
        self.t += 1
        step_size = -self.lr / (1 - BETA1**self.t)
        bias_correction2_sqrt = (1 - BETA2**self.t) ** 0.5
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            m.lerp_(p.grad, 1 - BETA1)
            v.mul_(BETA2).addcmul_(p.grad, p.grad, value=1 - BETA2)
            p.addcdiv_(m, v.sqrt().div_(bias_correction2_sqrt).add_(EPS), value=step_size)

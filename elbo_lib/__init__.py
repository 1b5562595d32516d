"""elbo_lib: the formulas, models and figures behind the ELBO Lab notebooks.

Submodules are imported on use (``from elbo_lib.kl import kl_normal``), so importing the package
stays fast and does not load torch or matplotlib.
"""

__version__ = "0.1.0"

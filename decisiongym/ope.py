"""Off-policy evaluation, as ``decisiongym.ope``: estimate a policy's value, or a bandit
algorithm's online reward, from logged bandit data.

The estimators live in :mod:`decisiongym.harness.ope` (beside the harness that generates logs);
this module is their public name: ``from decisiongym.ope import doubly_robust``. See that
module for the estimators, their papers and Dobriban (2019), section 5.2.5.
"""

from decisiongym.harness.ope import *  # noqa: F403
from decisiongym.harness.ope import __all__  # noqa: F401

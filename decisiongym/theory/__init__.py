"""Closed forms and bounds. Imports nothing of the project (see ARCHITECTURE.md)."""

from decisiongym.theory.bandits import (
    etc_optimal_m,
    etc_regret_bound,
    kl_bernoulli,
    kl_gaussian,
    lai_robbins_bound,
    lai_robbins_constant,
    minimax_reference,
    ucb1_regret_bound,
    ucb_worst_case_bound,
)

__all__ = [
    "etc_optimal_m",
    "etc_regret_bound",
    "kl_bernoulli",
    "kl_gaussian",
    "lai_robbins_bound",
    "lai_robbins_constant",
    "minimax_reference",
    "ucb1_regret_bound",
    "ucb_worst_case_bound",
]

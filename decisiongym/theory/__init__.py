"""Closed forms and bounds. Imports nothing of the project (see ARCHITECTURE.md)."""

from decisiongym.theory.adversarial import (
    exp3_anytime_learning_rate,
    exp3_anytime_regret_bound,
    exp3_learning_rate,
    exp3_regret_bound,
    tsallis_inf_regret_bound,
    uniform_play_regret,
)
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
from decisiongym.theory.mdp import (
    async_value_iteration,
    bellman_optimality_residual,
    iterative_policy_evaluation,
    policy_evaluation,
    policy_iteration,
    value_iteration,
)

__all__ = [
    "async_value_iteration",
    "bellman_optimality_residual",
    "etc_optimal_m",
    "etc_regret_bound",
    "exp3_anytime_learning_rate",
    "exp3_anytime_regret_bound",
    "exp3_learning_rate",
    "exp3_regret_bound",
    "iterative_policy_evaluation",
    "kl_bernoulli",
    "kl_gaussian",
    "lai_robbins_bound",
    "lai_robbins_constant",
    "minimax_reference",
    "policy_evaluation",
    "policy_iteration",
    "tsallis_inf_regret_bound",
    "ucb1_regret_bound",
    "ucb_worst_case_bound",
    "uniform_play_regret",
    "value_iteration",
]

"""Contextual bandits compared (seed 5.2.4, lines 3086-3337): ``decisiongym reproduce
contextual``.

Three problems, one grid of agents:

- ``linear``: ``LinearContextualBandit-v0`` (K = 4, d = 5 with an intercept, noise 0.5), the
  parametric model of seed item 6;
- ``nonparametric``: ``NonparametricContextualBandit-v0`` (K = 4, d = 2, sums of Gaussian
  bumps), item 9;
- ``digits``: ``ClassificationBandit-v0`` on scikit-learn's digits (K = 10, d = 64): reward 1
  for the right class, so the mean reward is the online accuracy.

Agents: greedy (the seed's GREEDY, item 5), LinUCB (Li et al. 2010, Algorithm 4), linear Thompson
sampling (Agrawal & Goyal 2013, Algorithm 5), both also with exploration scaled for 0/1 rewards
(alpha = 0.3, sigma^2 = 0.01), Goldenshluger & Zeevi (2013, Algorithm 1), Yang & Zhu's (2002)
epsilon-greedy with nearest neighbours (Algorithm 2), the neural agents of Riquelme et al.
(2018), and UCB1, which ignores the context. The full-feedback (supervised) learner on the same
stream of digits is the upper reference (:func:`full_feedback_accuracy`).

Findings checked: on the linear problem LinUCB and linear TS beat greedy and UCB1 and their
regret is sublinear (regret(T) / regret(T/4) well below 4); on the nonparametric problem the
nearest-neighbour and neural agents beat the linear ones; on digits the bandit agents reach an
online accuracy well above chance (0.1) and below the supervised learner's.

Quick: T = 1000, 20 runs (about 80 s on 2 cores); full: T = 5000, 50 runs. (Exp4 is left
out: it needs rewards in [0, 1] and a policy class; see the tests on
``AdversarialContextBandit-v0``.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

import decisiongym  # noqa: F401  (registers the environments)
from decisiongym.agents.contextual import sherman_morrison_update
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.metrics import bootstrap_mean_ci
from decisiongym.harness.report import (
    CellData,
    Check,
    cells_by_env,
    format_table,
    load_results,
    plot_regret_curves,
)
from decisiongym.reproductions import Analysis, Reproduction

CLASSIFICATION_ID = "decisiongym/ClassificationBandit-v0"
ENVS = (
    EnvSetting("decisiongym/LinearContextualBandit-v0", {"k": 4, "d": 5}, label="linear"),
    EnvSetting("decisiongym/NonparametricContextualBandit-v0", {"k": 4, "d": 2},
               label="nonparametric"),
    EnvSetting(CLASSIFICATION_ID, {"dataset": "digits"}, label="digits"),
)
AGENTS = (
    AgentSetting("greedy"),
    AgentSetting("linucb"),
    AgentSetting("linucb", {"alpha": 0.3}, label="linucb(alpha=0.3)"),
    AgentSetting("linear-thompson"),
    AgentSetting("linear-thompson", {"sigma2": 0.01}, label="linear-thompson(sigma2=0.01)"),
    AgentSetting("goldenshluger-zeevi"),
    AgentSetting("epsilon-greedy-knn"),
    AgentSetting("neural-epsilon-greedy"),
    AgentSetting("neural-linear"),
    AgentSetting("ucb1"),
)
LINEAR_AGENTS = ("linucb", "linear-thompson")
NONPARAMETRIC_AGENTS = ("epsilon-greedy-knn", "neural-epsilon-greedy", "neural-linear")


def experiment(quick: bool = False) -> Experiment:
    return Experiment(name="contextual" + ("-quick" if quick else ""), envs=list(ENVS),
                      agents=list(AGENTS), horizon=1000 if quick else 5000,
                      seeds=20 if quick else 50, seed=2010)


def full_feedback_accuracy(dataset: str, horizon: int, replicates: int, seed: int = 0,
                           regularization: float = 1.0) -> NDArray[np.float64]:
    """Online accuracy (per replicate) of the full-feedback (supervised) learner on the same
    stream of examples as the bandit agents: one-vs-rest ridge regression of the one-hot label
    on the features, which predicts argmax_a beta_a' x and then learns the reward of *every*
    action (the label), where a bandit agent learns only the reward of the action it took.
    The upper reference for the bandit agents on a classification bandit."""
    env = gym.make_vec(CLASSIFICATION_ID, num_envs=replicates,
                       vectorization_mode="vector_entry_point", dataset=dataset, horizon=horizon)
    assert isinstance(env.single_action_space, gym.spaces.Discrete)
    k = int(env.single_action_space.n)
    d = int(np.prod(env.single_observation_space.shape or (1,)))
    # Every action's reward is seen at every step, so all K regressions share one design:
    # one (A)^{-1} (Sherman-Morrison) and B = sum x y' (d, K) per replicate.
    a_inv = np.broadcast_to(np.eye(d) / regularization, (replicates, d, d)).copy()
    b = np.zeros((replicates, d, k))
    x, _ = env.reset(seed=seed)
    correct = np.zeros(replicates)
    for _ in range(horizon):
        scores = np.einsum("nd,nde->ne", x, np.matmul(a_inv, b))
        a = scores.argmax(axis=1)
        next_x, r, _, _, info = env.step(a.astype(np.int64))
        correct += r
        labels_onehot = info["expected_rewards"]  # full feedback: every action's reward
        a_inv = sherman_morrison_update(a_inv, x)
        b += x[:, :, None] * labels_onehot[:, None, :]
        x = next_x
    env.close()
    return correct / horizon


def _regret_at(data: CellData, t: float) -> float:
    """Mean regret at step t, interpolated on the cell's grid."""
    grid = data.arrays["grid"].astype(np.float64)
    mean = data.arrays["regret"].astype(np.float64).mean(axis=1)
    return float(np.interp(t, grid, mean))


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    by_env = cells_by_env(results)
    horizon = exp.horizon
    rows: list[dict[str, Any]] = []
    for env_name, cells in by_env.items():
        for label, d in cells.items():
            final = d.final_regret_mean
            quarter = _regret_at(d, horizon / 4)
            rows.append({"problem": env_name, "agent": label, "regret": final,
                         "growth": final / quarter if quarter > 0 else math.nan,
                         "mean_reward": float(d.arrays["mean_reward"].mean())})
        plot_regret_curves(list(cells.values()), out / "plots" / f"contextual_{env_name}.png",
                           title=f"Contextual bandits: {env_name} (T = {horizon})",
                           ylabel="regret against the oracle policy")
    supervised = float(full_feedback_accuracy("digits", horizon, exp.seeds, seed=exp.seed)
                       .mean())
    rows.append({"problem": "digits", "agent": "supervised (full feedback)", "regret": None,
                 "growth": None, "mean_reward": supervised})

    def get(env: str, agent: str) -> dict[str, Any]:
        return next(r for r in rows if r["problem"] == env and r["agent"] == agent)

    def diff_ci(env: str, agent: str, rival: str) -> list[float]:
        # Paired (same seeds for every agent): bootstrap interval of the mean regret difference.
        low, high = bootstrap_mean_ci(by_env[env][agent].final("regret")
                                      - by_env[env][rival].final("regret"))
        return [float(low), float(high)]

    checks = []
    n_runs = exp.seeds
    lin = {a: get("linear", a) for a in (*LINEAR_AGENTS, "greedy", "ucb1")}
    lin_rival = min(("greedy", "ucb1"), key=lambda n: lin[n]["regret"])
    for a in LINEAR_AGENTS:
        checks.append(Check(f"{a} beats greedy and UCB1 on the linear problem",
                            "regret below both",
                            f"{lin[a]['regret']:.1f} vs greedy {lin['greedy']['regret']:.1f}, "
                            f"UCB1 {lin['ucb1']['regret']:.1f}",
                            lin[a]["regret"] < min(lin["greedy"]["regret"],
                                                   lin["ucb1"]["regret"]),
                            runs=n_runs, interval=diff_ci("linear", a, lin_rival)))
        checks.append(Check(f"{a} has sublinear regret on the linear problem",
                            "regret(T) / regret(T/4) < 2.5 (4 if linear)",
                            round(lin[a]["growth"], 2), lin[a]["growth"] < 2.5, runs=n_runs))
    best_linear = min(get("nonparametric", a)["regret"] for a in LINEAR_AGENTS)
    best_linear_agent = min(LINEAR_AGENTS, key=lambda n: get("nonparametric", n)["regret"])
    for a in NONPARAMETRIC_AGENTS:
        r = get("nonparametric", a)["regret"]
        checks.append(Check(f"{a} beats the linear agents on the nonparametric problem",
                            "regret below the best of LinUCB and linear TS",
                            f"{r:.1f} vs {best_linear:.1f}", r < best_linear, runs=n_runs,
                            interval=diff_ci("nonparametric", a, best_linear_agent)))
    for a in ("linucb(alpha=0.3)", "linear-thompson(sigma2=0.01)", "neural-linear",
              "neural-epsilon-greedy", "greedy"):
        acc = get("digits", a)["mean_reward"]
        checks.append(Check(f"{a} learns digits from bandit feedback",
                            "online accuracy > 0.4 (chance 0.1), below the supervised "
                            f"learner's {supervised:.3f}", round(acc, 3),
                            0.4 < acc <= supervised, runs=n_runs))
    table = format_table(rows, [("problem", "problem"), ("agent", "agent"),
                                ("regret", "regret at T"), ("growth", "R(T)/R(T/4)"),
                                ("mean_reward", "mean reward")])
    text = (f"Regret against the oracle policy at T = {horizon} (mean over {exp.seeds} runs); "
            f"on digits the mean reward is the online accuracy:\n{table}")
    return Analysis(checks, text, {"table": rows, "supervised_accuracy": supervised})


REPRODUCTION = Reproduction(
    name="contextual",
    summary="Contextual bandits: LinUCB, linear TS, GZ, kNN, neural vs greedy and UCB1 on "
            "linear, nonparametric and digits problems",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)

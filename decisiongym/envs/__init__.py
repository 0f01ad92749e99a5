"""Gymnasium environments of decisiongym, registered as ``decisiongym/<Name>-v<N>``.

Registration happens on ``import decisiongym``. Every environment has a native vector entry
point: ``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``, a subclass of
:class:`decisiongym.envs.vector.NextStepVectorEnv` (Gymnasium's NEXT_STEP autoreset; replicate
i of ``reset(seed=s)`` is the single env reset with seed ``s + i``).

The step budget. An env class (single or vector) whose constructor takes the number of steps of
an episode as a keyword sets ``metadata["decisiongym.budget_kwarg"]``
(:data:`decisiongym.envs.vector.BUDGET_KWARG`) to that keyword's name: ``"horizon"`` for the
stochastic, adversarial and contextual bandits, ``ImageClassification-v0``,
``AdversarialAttack-v0`` and the continuing ``AccessControl-v0``. The harness passes an
experiment's horizon to the constructor under that name, and to no env without the key (MDPs,
mazes, ``SequenceTask-v0``, NAS).

Step limits. Every maze registers a default ``max_episode_steps`` (``EnvEntry.max_episode_steps``,
shown in its summary), so that ``gym.make`` wraps it in a ``TimeLimit`` and a policy that walks
into a wall cannot run forever (SB3's ``evaluate_policy`` included); ``gym.make_vec`` passes the
same number to the native vector env, and the constructor's default is that number too:

| id | max_episode_steps | why |
|---|---|---|
| ``Maze-v0`` | 10,000 | above the longest first episodes of the classic tabular runs |
| ``SparseMaze-v0`` | 100 | the corridor's exploration budget (5x its default length of 20) |
| ``GoalMaze-v0`` | 50 | 1.7x the longest shortest path (30) of the default 9 x 9 random maze |
| ``FeudalMaze-v0`` | 1,000 | Dayan & Hinton's 8 x 8 maze, longest shortest path 13 |
| ``FourRooms-v0`` | 1,000 | Sutton, Precup & Singh's 104 cells, longest shortest path 14 |

Pass ``max_episode_steps`` to change it (``gym.make(..., max_episode_steps=-1)`` for none; the
constructors take None). A step that terminates exactly at the limit is also truncated, as
Gymnasium's ``TimeLimit`` has it, in the single and the vector env alike. The bandits and the
other envs register none: their own ``horizon`` ends the episode, so that ``gym.make(id,
horizon=T)`` is never cut short by a TimeLimit of another length.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from decisiongym.envs.vector import BUDGET_KWARG, NextStepVectorEnv

NAMESPACE = "decisiongym"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment: id, entry points and a one-line description."""

    id: str
    entry_point: str
    vector_entry_point: str
    summary: str
    #: The registered default step limit (a TimeLimit in gym.make), None for none.
    max_episode_steps: int | None = None


_BANDITS = "decisiongym.envs.bandits"
_MDP = "decisiongym.envs.mdp"
_ADVERSARIAL = "decisiongym.envs.adversarial"
_CONTEXTUAL = "decisiongym.envs.contextual"
# Entry points as strings: decisiongym.envs never imports decisiongym.supervised.
_SUPERVISED = "decisiongym.supervised.envs"
_ATTACK = "decisiongym.supervised.attack_env"

ENVIRONMENTS: tuple[EnvEntry, ...] = (
    EnvEntry(f"{NAMESPACE}/BernoulliBandit-v0", f"{_BANDITS}:BernoulliBandit",
             f"{_BANDITS}:BernoulliBanditVector",
             "K-armed Bernoulli bandit with given means (kwargs means, horizon)"),
    EnvEntry(f"{NAMESPACE}/GaussianBandit-v0", f"{_BANDITS}:GaussianBandit",
             f"{_BANDITS}:GaussianBanditVector",
             "K-armed Gaussian bandit (kwargs means, sigma = std, scalar or per arm, horizon)"),
    EnvEntry(f"{NAMESPACE}/BetaBandit-v0", f"{_BANDITS}:BetaBandit",
             f"{_BANDITS}:BetaBanditVector",
             "K-armed bandit with Beta rewards in [0, 1] (kwargs means, concentration, horizon)"),
    EnvEntry(f"{NAMESPACE}/KuleshovPrecup-v0", f"{_BANDITS}:KuleshovPrecupBandit",
             f"{_BANDITS}:KuleshovPrecupBanditVector",
             "Kuleshov & Precup (2014): Gaussian arms, means ~ U[0,1] each reset (k, variance)"),
    EnvEntry(f"{NAMESPACE}/ChapelleLi-v0", f"{_BANDITS}:ChapelleLiBandit",
             f"{_BANDITS}:ChapelleLiBanditVector",
             "Chapelle & Li (2011): Bernoulli arms, one at 1/2, others 1/2 - epsilon (k, epsilon)"),
    EnvEntry(f"{NAMESPACE}/LinearContextualBandit-v0", f"{_CONTEXTUAL}:LinearContextualBandit",
             f"{_CONTEXTUAL}:LinearContextualBanditVector",
             "contextual bandit R = beta_a' x + noise (k, d, noise_sigma, beta, horizon)"),
    EnvEntry(f"{NAMESPACE}/NonparametricContextualBandit-v0",
             f"{_CONTEXTUAL}:NonparametricContextualBandit",
             f"{_CONTEXTUAL}:NonparametricContextualBanditVector",
             "contextual bandit R = f_a(x) + noise, f_a sums of Gaussian bumps (k, d, n_bumps)"),
    EnvEntry(f"{NAMESPACE}/AdversarialContextBandit-v0",
             f"{_CONTEXTUAL}:AdversarialContextBandit",
             f"{_CONTEXTUAL}:AdversarialContextBanditVector",
             "fixed non-i.i.d. contexts (drifting, clustered, given), Bernoulli linear rewards"),
    EnvEntry(f"{NAMESPACE}/ClassificationBandit-v0", f"{_CONTEXTUAL}:ClassificationBandit",
             f"{_CONTEXTUAL}:ClassificationBanditVector",
             "labelled data as a bandit: digits, wine, iris, breast_cancer or X, y (reward 1 if "
             "right)"),
    EnvEntry(f"{NAMESPACE}/AdversarialBandit-v0", f"{_ADVERSARIAL}:AdversarialBandit",
             f"{_ADVERSARIAL}:AdversarialBanditVector",
             "oblivious adversary: reward table fixed at reset (adversary, k, rewards, horizon)"),
    EnvEntry(f"{NAMESPACE}/ReactiveAdversaryBandit-v0", f"{_ADVERSARIAL}:ReactiveAdversaryBandit",
             f"{_ADVERSARIAL}:ReactiveAdversaryBanditVector",
             "adaptive adversary: rewards set from the learner's history (strategy, k, horizon)"),
    EnvEntry(f"{NAMESPACE}/ImageClassification-v0", f"{_SUPERVISED}:ImageClassification",
             f"{_SUPERVISED}:ImageClassificationVector",
             "image per step, action a class; feedback 'full' (label) or 'bandit' (0/1 reward)"),
    EnvEntry(f"{NAMESPACE}/SequenceTask-v0", f"{_SUPERVISED}:SequenceTask",
             f"{_SUPERVISED}:SequenceTaskVector",
             "sequence read step by step, answered at the end (long_dependency with gap, copy)"),
    EnvEntry(f"{NAMESPACE}/AdversarialAttack-v0", f"{_ATTACK}:AdversarialAttack",
             f"{_ATTACK}:AdversarialAttackVector",
             "perturb a clean input within the eps-ball; reward the victim's loss (eps, norm, "
             "victim_method, horizon)"),
    EnvEntry(f"{NAMESPACE}/TabularMDP-v0", f"{_MDP}:TabularMDP", f"{_MDP}:TabularMDPVector",
             "finite MDP from arrays (transitions, rewards, terminal_states) or a random Garnet"),
    EnvEntry(f"{NAMESPACE}/Maze-v0", f"{_MDP}:Maze", f"{_MDP}:MazeVector",
             "gridworld maze, N/E/S/W, -1 per step (layout: seed, dyna, windy, cliff, random); "
             "max_episode_steps 10000", 10_000),
    EnvEntry(f"{NAMESPACE}/RandomWalk-v0", f"{_MDP}:RandomWalk", f"{_MDP}:RandomWalkVector",
             "Sutton & Barto random walk for prediction (n_states 5 or 19)"),
    EnvEntry(f"{NAMESPACE}/SparseMaze-v0", "decisiongym.envs.sparse_maze:SparseMaze",
             "decisiongym.envs.sparse_maze:SparseMazeVector",
             "long corridor, reward +1 only at the far end: exploration (length, observation); "
             "max_episode_steps 100", 100),
    EnvEntry(f"{NAMESPACE}/GoalMaze-v0", "decisiongym.envs.goal_maze:GoalMaze",
             "decisiongym.envs.goal_maze:GoalMazeVector",
             "goal-conditioned maze: goal drawn each reset, GoalEnv Dict (or flat) observation, "
             "reward 0/-1; max_episode_steps 50", 50),
    EnvEntry(f"{NAMESPACE}/FeudalMaze-v0", "decisiongym.envs.hierarchical:FeudalMaze",
             "decisiongym.envs.hierarchical:FeudalMazeVector",
             "Dayan & Hinton's 2^n x 2^n maze, U barrier, regions per level exposed (levels); "
             "max_episode_steps 1000", 1000),
    # Average reward: a continuing finite MDP (the harness's horizon truncates its episode).
    EnvEntry(f"{NAMESPACE}/AccessControl-v0", "decisiongym.envs.access_control:AccessControl",
             "decisiongym.envs.access_control:AccessControlVector",
             "Sutton & Barto Example 10.2 queue: accept/reject customers of priority 1, 2, 4, 8 "
             "for 10 servers; continuing, average reward (n_servers, free_probability)"),
    EnvEntry(f"{NAMESPACE}/FourRooms-v0", "decisiongym.envs.hierarchical:FourRooms",
             "decisiongym.envs.hierarchical:FourRoomsVector",
             "Sutton, Precup & Singh's four rooms, moves succeed w.p. 2/3 (goal, gamma 0.9); "
             "max_episode_steps 1000", 1000),
    # Architecture search (decisiongym.supervised.nas): reward = the child's validation
    # accuracy in [0, 1].
    EnvEntry(f"{NAMESPACE}/NASChain-v0", "decisiongym.supervised.nas.envs:NASChainEnv",
             "decisiongym.supervised.nas.envs:NASChainVectorEnv",
             "Zoph & Le (2017) chain space: per layer filter h, w, stride, filters; child CNN"),
    EnvEntry(f"{NAMESPACE}/NASCell-v0", "decisiongym.supervised.nas.envs:NASCellEnv",
             "decisiongym.supervised.nas.envs:NASCellVectorEnv",
             "NAS-Bench-201-style DAG cell (n_nodes, ops); tabular=True answers from the table"),
)


def register_all() -> None:
    """Register every decisiongym environment with Gymnasium (idempotent).

    Only the mazes register a ``max_episode_steps`` (see the module docstring): the bandit's
    own ``horizon`` kwarg truncates its episode, so that ``gym.make(id, horizon=T)`` is never cut
    short by a TimeLimit of another length.
    """
    for entry in ENVIRONMENTS:
        if entry.id in gym.registry:
            continue
        gym.register(id=entry.id, entry_point=entry.entry_point,
                     vector_entry_point=entry.vector_entry_point,
                     max_episode_steps=entry.max_episode_steps)


def list_environments() -> list[tuple[str, str]]:
    """(id, one-line description) of every registered decisiongym environment."""
    return [(e.id, e.summary) for e in ENVIRONMENTS]


__all__ = ["BUDGET_KWARG", "ENVIRONMENTS", "NAMESPACE", "EnvEntry", "NextStepVectorEnv",
           "list_environments", "register_all"]

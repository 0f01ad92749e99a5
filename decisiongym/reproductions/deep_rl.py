"""Deep RL beside Stable-Baselines3 (seed 5.3.9-5.3.10 and 5.4): ``decisiongym reproduce deep-rl
[--quick]``.

Three parts, each run as harness cells (budget = env steps per learner, ``seeds`` learners):

- **CartPole-v1**: our ``dqn`` (Mnih et al. 2015), ``reinforce`` (Williams 1992, with baseline),
  ``actor-critic`` (n-step advantage) and ``evolution-strategies`` (Salimans et al. 2017) against
  SB3's DQN, A2C and PPO. DQN on both sides uses rl-zoo's tuned CartPole-v1 hyperparameters
  (the same values), the others their defaults.
- **a maze with image observations** (``Maze-v0``, the seed's maze, ``observation="image"``, at
  most 100 steps per episode, -1 per step): the same agents, and DQN with the conv torso
  (``dqn-cnn``) and with each exploration bonus (``rnd+dqn``, ``count+dqn``).
- **the sparse maze** (``SparseMaze-v0``, a 30-cell corridor, +1 only at the end, 100 steps per
  episode: the random policy never gets there): plain DQN against DQN with random network
  distillation (Burda et al. 2019) and with a count bonus.

The quick size shrinks the budgets (and uses the 3 x 4 ``small`` maze) so that it runs in about
a minute; it checks the pipeline, not the findings.

Reported per environment and agent: the final return (mean of each learner's last 20 training
episodes), its interquartile mean over the learners with a stratified-bootstrap 95% interval
(rliable's IQM), and IQM learning curves with bootstrap bands (``plots/``). The findings checked
(full size): DQN and actor-critic reach CartPole's 195; every agent beats the uniformly random
policy on CartPole; an exploration bonus beats plain DQN on the image maze (at full size no
agent without one gets past the time-out: count+dqn -47, dqn -98, dqn-cnn -100); RND beats
plain DQN on the sparse maze. The quick size checks that the
pipeline runs and that the curves mean something on tiny budgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from decisiongym.harness import metrics
from decisiongym.harness.experiment import AgentSetting, EnvSetting, Experiment
from decisiongym.harness.report import (
    CellData,
    Check,
    format_table,
    load_results,
    pyplot,
    save_figure,
)
from decisiongym.reproductions import Analysis, Part, Reproduction, StudyExperiment

CARTPOLE = EnvSetting("CartPole-v1", {}, label="CartPole-v1")
MAZE = EnvSetting("decisiongym/Maze-v0", {"layout": "seed", "observation": "image",
                                          "max_episode_steps": 100}, label="maze-image")
MAZE_QUICK = EnvSetting("decisiongym/Maze-v0", {"layout": "small", "observation": "image",
                                                "max_episode_steps": 100}, label="maze-image")
SPARSE = EnvSetting("decisiongym/SparseMaze-v0", {"length": 30}, label="sparse-corridor")

#: rl-zoo's tuned CartPole-v1 DQN (SB3) and the same values for ours.
ZOO_DQN_SB3: dict[str, Any] = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
               "learning_starts": 1000, "gamma": 0.99, "target_update_interval": 10,
               "train_freq": 256, "gradient_steps": 128, "exploration_fraction": 0.16,
               "exploration_final_eps": 0.04, "policy_kwargs": {"net_arch": [256, 256]}}
ZOO_DQN_OURS: dict[str, Any] = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000,
                "learning_starts": 1000, "gamma": 0.99, "target_update": 10, "train_freq": 256,
                "gradient_steps": 128, "epsilon_final": 0.04, "hidden": [256, 256]}
#: A small DQN for the mazes (one gradient step every 4 env steps, as Mnih et al.).
MAZE_DQN: dict[str, Any] = {"hidden": [64], "learning_rate": 1e-3, "learning_starts": 500,
                            "train_freq": 4, "gradient_steps": 1, "target_update": 250,
                            "buffer_size": 20_000}

CARTPOLE_SOLVED = 195.0


def _agents(steps: int, quick: bool, maze: bool) -> tuple[AgentSetting, ...]:
    explore = int(0.16 * steps)  # SB3's exploration_fraction 0.16 of the budget
    if maze:
        ours_dqn = {**MAZE_DQN, "exploration_steps": explore}
        sb3_dqn = {"learning_rate": 1e-3, "learning_starts": 500, "train_freq": 4,
                   "gradient_steps": 1, "target_update_interval": 250, "buffer_size": 20_000,
                   "exploration_fraction": 0.16, "policy_kwargs": {"net_arch": [64]}}
    else:
        ours_dqn = {**ZOO_DQN_OURS, "exploration_steps": explore}
        sb3_dqn = dict(ZOO_DQN_SB3)
        if quick:
            ours_dqn.update(learning_starts=200, train_freq=64, gradient_steps=32,
                            hidden=[64, 64])
            sb3_dqn.update(learning_starts=200, train_freq=64, gradient_steps=32,
                           policy_kwargs={"net_arch": [64, 64]})
    ppo: dict[str, Any] = {"hyperparams": {"n_steps": 256, "batch_size": 64, "n_epochs": 4}} \
        if quick else {}
    return (
        AgentSetting("dqn", ours_dqn, label="dqn"),
        AgentSetting("reinforce", {}, label="reinforce"),
        AgentSetting("actor-critic", {}, label="actor-critic"),
        AgentSetting("evolution-strategies", {}, label="evolution-strategies"),
        AgentSetting("sb3-dqn", {"hyperparams": sb3_dqn}, label="sb3-dqn"),
        AgentSetting("sb3-a2c", {}, label="sb3-a2c"),
        AgentSetting("sb3-ppo", ppo, label="sb3-ppo"),
    )


def parts(quick: bool) -> tuple[Part, ...]:
    seeds = 5
    # ES needs population x 100 (the maze's step limit) env steps to finish one generation.
    cart, maze, sparse = (2000, 2000, 2000) if quick else (50_000, 20_000, 30_000)
    sparse_dqn = {**MAZE_DQN, "exploration_steps": int(0.3 * sparse)}
    exploration = (
        AgentSetting("dqn", sparse_dqn, label="dqn"),
        AgentSetting("rnd", {"base": "dqn", "base_params": sparse_dqn, "coef": 0.02,
                             "normalize": True}, label="rnd+dqn"),
        AgentSetting("count-bonus", {"base": "dqn", "base_params": sparse_dqn, "coef": 0.05},
                     label="count+dqn"),
    )
    # On the image maze, beside the table's agents: DQN with the conv torso, and DQN with each
    # exploration bonus (is the maze a representation problem or an exploration one?).
    maze_dqn = {**MAZE_DQN, "exploration_steps": int(0.16 * maze)}
    maze_extra = (
        AgentSetting("dqn", {**maze_dqn, "torso": "cnn"}, label="dqn-cnn"),
        AgentSetting("rnd", {"base": "dqn", "base_params": maze_dqn}, label="rnd+dqn"),
        AgentSetting("count-bonus", {"base": "dqn", "base_params": maze_dqn},
                     label="count+dqn"),
    )
    return (Part(CARTPOLE, _agents(cart, quick, False), cart, seeds),
            Part(MAZE_QUICK if quick else MAZE, _agents(maze, quick, True) + maze_extra, maze,
                 seeds),
            Part(SPARSE, exploration, sparse, seeds))


def experiment(quick: bool = False) -> Experiment:
    return StudyExperiment.from_parts("deep-rl" + ("-quick" if quick else ""), parts(quick),
                                      seed=2015)


def random_policy_return(env: EnvSetting, episodes: int = 50, seed: int = 0) -> float:
    """Mean return of the uniformly random policy (the reference every agent must beat): the
    ``random`` agent in the harness's rollout loop with a budget of one episode on each of
    ``episodes`` env copies (copy i reset with ``seed + i``)."""
    from decisiongym.harness.recorders import EpisodeRecorder
    from decisiongym.harness.rollout import make_agent, make_vector_env, merge_recordings, rollout

    venv = make_vector_env(env.id, episodes, dict(env.kwargs))
    agent = make_agent("random", env.id, venv.single_observation_space,
                       venv.single_action_space)
    agent.reset(episodes, seed=seed)
    used, _ = rollout(venv, agent, learners=episodes, budget=1, seed=seed,
                      budget_unit="episodes", recorders=[EpisodeRecorder()])
    arrays, _ = merge_recordings(used)
    return float(np.asarray(arrays["episode_return"], dtype=np.float64).mean())


def iqm_ci(values: np.ndarray) -> tuple[float, float, float]:
    """IQM over learners with a 95% stratified-bootstrap interval (one task)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return metrics.stratified_bootstrap_ci(x, metrics.interquartile_mean, n_boot=1000,
                                           random_state=0)


def _plot_curves(cells: list[CellData], path: Path, title: str,
                 reference: float | None) -> Path:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.3))
    for d in cells:
        grid = d.arrays["grid"]
        curve = np.asarray(d.arrays["return_curve"], dtype=np.float64)
        keep = np.isfinite(curve).all(axis=1)
        if not keep.any():
            continue
        x, c = grid[keep], curve[keep]
        iqm = metrics.interquartile_mean(c, axis=1)
        boot = np.random.default_rng(0).integers(0, c.shape[1], size=(200, c.shape[1]))
        samples = np.stack([metrics.interquartile_mean(c[:, b], axis=1) for b in boot])
        lo, hi = np.quantile(samples, [0.025, 0.975], axis=0)
        ax.plot(x, iqm, label=d.cell.agent.display)
        ax.fill_between(x, lo, hi, alpha=0.15)
    if reference is not None:
        ax.axhline(reference, color="grey", ls=":", label="random policy")
    ax.set_xlabel("environment steps per learner")
    ax.set_ylabel("return (last 20 episodes), IQM over learners")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return path


def analyse(exp: Experiment, out: Path, quick: bool) -> Analysis:
    results = load_results(exp, out)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {"final_return": {}}
    iqm: dict[tuple[str, str], tuple[float, float, float]] = {}
    references: dict[str, float] = {}
    n_learners: dict[tuple[str, str], int] = {}
    for part in getattr(exp, "parts", ()):
        cells = [d for d in results if d.cell.env == part.env]
        ref = random_policy_return(part.env)
        references[part.env.name] = ref
        for d in cells:
            final = np.asarray(d.arrays["final_return"], dtype=np.float64)
            final = np.where(np.isfinite(final), final, ref)  # no episode finished: no credit
            point = iqm_ci(final)
            iqm[(part.env.name, d.cell.agent.display)] = point
            n_learners[(part.env.name, d.cell.agent.display)] = d.cell.seeds
            extra["final_return"][f"{part.env.name} / {d.cell.agent.display}"] = final.tolist()
            rows.append({"env": part.env.name, "agent": d.cell.agent.display,
                         "steps": part.horizon, "learners": d.cell.seeds,
                         "iqm": point[0], "ci_low": point[1], "ci_high": point[2],
                         "mean": float(final.mean()), "random": ref})
        _plot_curves(cells, out / "plots" / f"deep_rl_{part.env.name}.png",
                     f"{part.env.name}: {part.horizon} steps, {part.seeds} learners", ref)
    extra["random_policy_return"] = references
    extra["iqm"] = {f"{e} / {a}": list(v) for (e, a), v in iqm.items()}

    checks: list[Check] = []
    learners = min(d.cell.seeds for d in results)
    checks.append(Check("every cell ran at least 5 learners and each learner finished episodes",
                        ">= 5 learners, >= 1 episode each", f"{learners} learners",
                        learners >= 5 and all(int(d.arrays["episodes"].min()) >= 1
                                              for d in results), runs=learners))
    cart = CARTPOLE.name
    ref = references[cart]
    if quick:
        best_key = max((k for k in iqm if k[0] == cart), key=lambda k: iqm[k][0])
        best = iqm[best_key][0]
        checks.append(Check("CartPole-v1 (quick): the best agent's IQM beats the random policy",
                            f"> {ref:.1f}", f"{best:.1f}", best > ref,
                            runs=n_learners[best_key],
                            interval=[float(iqm[best_key][1]), float(iqm[best_key][2])]))
    else:
        for name in ("dqn", "actor-critic"):
            v = iqm[(cart, name)][0]
            checks.append(Check(f"CartPole-v1: our {name} reaches a return of 195 (IQM over "
                                "learners)", f">= {CARTPOLE_SOLVED:g}", f"{v:.1f}",
                                v >= CARTPOLE_SOLVED, runs=n_learners[(cart, name)],
                                interval=[float(iqm[(cart, name)][1]),
                                          float(iqm[(cart, name)][2])]))
        beaten = {a: v[0] for (e, a), v in iqm.items() if e == cart}
        checks.append(Check("CartPole-v1: every agent's IQM beats the random policy",
                            f"> {ref:.1f}", ", ".join(f"{a} {v:.0f}" for a, v in beaten.items()),
                            all(v > ref for v in beaten.values()),
                            runs=min(n for (e, _), n in n_learners.items() if e == cart)))
        maze_name = MAZE.name
        plain = iqm[(maze_name, "dqn")]
        bonus = {a: iqm[(maze_name, a)] for a in ("rnd+dqn", "count+dqn")}
        checks.append(Check("image maze: an exploration bonus beats plain DQN (IQM of the "
                            "final return)", "max(rnd+dqn, count+dqn) > dqn",
                            ", ".join(f"{a} {v[0]:.1f} [{v[1]:.1f}, {v[2]:.1f}]"
                                      for a, v in bonus.items())
                            + f", dqn {plain[0]:.1f} [{plain[1]:.1f}, {plain[2]:.1f}]",
                            max(v[0] for v in bonus.values()) > plain[0],
                            runs=min(n_learners[(maze_name, a)]
                                     for a in ("dqn", "rnd+dqn", "count+dqn"))))
        sparse = SPARSE.name
        rnd, plain = iqm[(sparse, "rnd+dqn")], iqm[(sparse, "dqn")]
        checks.append(Check("sparse corridor: RND beats plain DQN (IQM of the final return)",
                            "rnd+dqn > dqn", f"rnd+dqn {rnd[0]:.2f} [{rnd[1]:.2f}, {rnd[2]:.2f}]"
                            f", dqn {plain[0]:.2f} [{plain[1]:.2f}, {plain[2]:.2f}]",
                            rnd[0] > plain[0],
                            runs=min(n_learners[(sparse, a)] for a in ("dqn", "rnd+dqn"))))
    table = format_table(rows, [("env", "env"), ("agent", "agent"), ("steps", "steps"),
                                ("learners", "learners"), ("iqm", "IQM return"),
                                ("ci_low", "95% low"), ("ci_high", "95% high"),
                                ("mean", "mean"), ("random", "random policy")])
    text = (f"Deep RL beside Stable-Baselines3 ({exp.name}): final return = mean of each "
            "learner's last 20 training episodes; IQM over learners with a stratified "
            f"bootstrap 95% interval.\n{table}")
    return Analysis(checks, text, extra)


REPRODUCTION = Reproduction(
    name="deep-rl",
    summary="DQN, REINFORCE, actor-critic, ES vs SB3 DQN/A2C/PPO on CartPole and a maze; "
            "RND vs DQN on a sparse maze",
    experiment=experiment,
    analyse=analyse,
    aggregate=False,
)

"""decisiongym: Gymnasium environments, batched agents and a regret harness for sequential
decision-making. Importing the package registers every environment with Gymnasium."""

from __future__ import annotations

from decisiongym.envs import list_environments, register_all

__version__ = "0.1.0"

register_all()

# The network learners of decisiongym.supervised join the agent registry here (the top-level
# package may import every layer; the agents import torch only when they are built).
from decisiongym.supervised import agents as _supervised_agents  # noqa: E402, F401
from decisiongym.supervised import attack_agents as _attack_agents  # noqa: E402, F401
from decisiongym.supervised.gans import training as _gan_agents  # noqa: E402, F401
from decisiongym.supervised.nas import agents as _nas_agents  # noqa: E402, F401

__all__ = ["__version__", "list_environments"]

"""Agents behind one batched protocol, registered by name.

>>> import decisiongym.agents as agents
>>> from gymnasium import spaces
>>> agent = agents.make("ucb1", observation_space=spaces.Discrete(1),
...                     action_space=spaces.Discrete(3), alpha=2.0)
>>> agent.reset(num_envs=4, seed=0)
>>> agent.act([0, 0, 0, 0]).shape
(4,)
"""

from decisiongym.agents import adversarial as _adversarial  # noqa: F401  (registers the agents)
from decisiongym.agents import bandits as _bandits  # noqa: F401  (registers the agents)
from decisiongym.agents import contextual as _contextual  # noqa: F401  (registers the agents)
from decisiongym.agents import deep as _deep  # noqa: F401  (registers the agents)
from decisiongym.agents import feudal as _feudal  # noqa: F401  (registers the agents)
from decisiongym.agents import hams as _hams  # noqa: F401  (registers the agents)
from decisiongym.agents import linear as _linear  # noqa: F401  (registers the agents)
from decisiongym.agents import maxq as _maxq  # noqa: F401  (registers the agents)
from decisiongym.agents import neural as _neural  # noqa: F401  (registers the agents)
from decisiongym.agents import options as _options  # noqa: F401  (registers the agents)
from decisiongym.agents import planning as _planning  # noqa: F401  (registers the agents)
from decisiongym.agents import sb3 as _sb3  # noqa: F401  (registers the agents)
from decisiongym.agents import tabular as _tabular  # noqa: F401  (registers the agents)
from decisiongym.agents.base import (
    Agent,
    BaseAgent,
    agent_parameters,
    argmax_random_ties,
    list_agents,
    make,
    register,
)
from decisiongym.agents.policy import PolicyAgent

__all__ = [
    "Agent",
    "BaseAgent",
    "PolicyAgent",
    "agent_parameters",
    "argmax_random_ties",
    "list_agents",
    "make",
    "register",
]

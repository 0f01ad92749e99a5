"""decisiongym: Gymnasium environments, batched agents and a regret harness for sequential
decision-making. Importing the package registers every environment with Gymnasium."""

from __future__ import annotations

from decisiongym.envs import list_environments, register_all

__version__ = "0.1.0"

register_all()

__all__ = ["__version__", "list_environments"]

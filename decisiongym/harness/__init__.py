"""Running agents on environments and measuring them.

``decisiongym.harness.run(env_id, agent, *, replicates, horizon, ...)`` runs one env-agent
pair through the one rollout loop and returns its recorded metrics
(:mod:`decisiongym.harness.rollout`); experiments, runners, the results store and reports build
on it (:mod:`~decisiongym.harness.experiment`, :mod:`~decisiongym.harness.runners`,
:mod:`~decisiongym.harness.store`, :mod:`~decisiongym.harness.report`).
"""

from decisiongym.harness.rollout import AgentMismatch, RunResult, run

__all__ = ["AgentMismatch", "RunResult", "run"]

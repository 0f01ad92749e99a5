"""Supervised deep learning framed as environments and agents (Dobriban, *Notes for Stat 991:
Topics in Deep Learning*, 2019, sections 1-3).

- :mod:`decisiongym.supervised.data`: offline datasets and sequence tasks, one loader.
- :mod:`decisiongym.supervised.models`: MLP, LeNet, hand-written RNN / GRU / LSTM cells.
- :mod:`decisiongym.supervised.envs`: ``ImageClassification-v0``, ``SequenceTask-v0``.
- :mod:`decisiongym.supervised.agents`: network learners under full and bandit feedback
  (registered in the agent registry as "net-full", "net-reinforce", "net-epsilon-greedy").
- :mod:`decisiongym.supervised.dynamics`: training-dynamics studies.

Importing this package does not import torch; ``decisiongym`` imports
:mod:`decisiongym.supervised.agents` lazily through :func:`register_agents`.
"""

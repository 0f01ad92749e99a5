"""Neural architecture search as RL (seed 6.8): spaces, environments, cache, tabular benchmark."""

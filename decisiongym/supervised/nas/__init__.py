"""Neural architecture search as RL (Dobriban, *Notes for Stat 991: Topics in Deep Learning*, 2019,
section 6.8): spaces, environments, cache, tabular benchmark."""

"""GANs as a two-player game (seed 4.3-4.5): toy data, metrics, players and the PettingZoo game."""

"""Supervised deep learning framed as environments and agents (issues to come)."""

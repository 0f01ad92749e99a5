"""A user's own package, outside decisiongym: it registers an env and an agent of its own, as a
user's module would, and the harness evaluates them when an experiment names it in
``imports`` (or the command line in ``--import``)."""

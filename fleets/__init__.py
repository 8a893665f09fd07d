"""Fleet files, installed as the package ``arena_fleets`` (see pyproject.toml).

Read with ``importlib.resources.files("arena_fleets")``; ``fleets/cpu-demo.toml`` in a checkout
is the same file.
"""

"""Templates and static files, installed as the package ``arena_web`` (see pyproject.toml).

Read with ``importlib.resources.files("arena_web")``, never by a path relative to the source
tree, so a plain ``pip install`` serves every page.
"""

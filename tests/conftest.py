"""The suite's shared fixtures live in one pytest plugin, `tests/plugins/stacks.py` (live broker stacks).

Tests mirror the package: tests/<package>/test_*.py for streamlab.<package>; test file names are
unique across the tree (no __init__.py, pytest's default import mode).
"""

pytest_plugins = ["plugins.stacks", "pytester"]   # pytester: the plugin tests its own markers

"""The suite's shared fixtures live in one pytest plugin, `tests/plugins/stacks.py` (live broker stacks).

Tests mirror the package: tests/<package>/test_*.py for streamlab.<package>; test file names are
unique across the tree (no __init__.py, pytest's default import mode).

Hypothesis profiles (tests/README.md): `ci`, loaded when CI is set, runs the same examples every
time (derandomized), so a red build is reproducible and a green one is not luck; `dev`
(`--hypothesis-profile dev`) searches ten times longer. Both keep every health check on and have no
per-example deadline: a deadline is a timed assert, and this machine is shared.
"""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None, database=None,
                          print_blob=True)
settings.register_profile("dev", max_examples=600, deadline=None)
settings.register_profile("local", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "local"))

pytest_plugins = ["plugins.stacks", "pytester"]   # pytester: the plugin tests its own markers

"""Where streamlab keeps its files: the project home, and the data, results, stack and jar dirs under it.

The home is, first found: `$STREAMLAB_HOME`; the nearest folder at or above the current directory that
holds `_toc.yml` and `pyproject.toml` (a checkout of this project, whichever way the package was
installed); the checkout this package was imported from (an editable install); else a per-user data
dir (`$XDG_DATA_HOME/streamlab`, by default `~/.local/share/streamlab`). A path computed from the
package's own file alone would point into site-packages after `pip install .`.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "STREAMLAB_HOME"
MARKERS = ("_toc.yml", "pyproject.toml")


def is_project(folder: Path) -> bool:
    return all((folder / marker).is_file() for marker in MARKERS)


def find_home(env: dict[str, str] | None = None, cwd: Path | None = None, package_file: Path | None = None) -> Path:
    """The project home by the rules above; the arguments exist for tests."""
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser().resolve()
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_project(folder):
            return folder
    checkout = (package_file or Path(__file__)).resolve().parents[2]   # <checkout>/lib/streamlab/paths.py
    if is_project(checkout):
        return checkout
    return Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser() / "streamlab"


#: The project home, found once at import (a process does not change projects).
HOME = find_home()
DATA_DIR = HOME / "data"
APP_DATA_DIR = DATA_DIR / "app"
RESULTS_DIR = DATA_DIR / "results"
STACK_DIR = DATA_DIR / "stack"
JARS_DIR = HOME / ".cache" / "jars"
COMPOSE_DIR = HOME / "compose"

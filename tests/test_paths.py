"""Where the project's files are, also when the package is installed outside a checkout."""

from __future__ import annotations

from pathlib import Path

from streamlab.paths import find_home


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_toc.yml").write_text("root: intro\n")
    (folder / "pyproject.toml").write_text("[project]\n")
    return folder


def test_the_environment_wins(tmp_path):
    assert find_home({"STREAMLAB_HOME": str(tmp_path / "h")}, cwd=_project(tmp_path / "p")) == (tmp_path / "h")


def test_the_nearest_project_above_the_working_dir(tmp_path):
    project = _project(tmp_path / "checkout")
    (project / "book" / "chapters").mkdir(parents=True)
    assert find_home({}, cwd=project / "book" / "chapters") == project


def test_an_installed_package_outside_a_project_uses_a_per_user_dir(tmp_path):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "streamlab" / "paths.py"
    home = find_home({"XDG_DATA_HOME": str(tmp_path / "xdg")}, cwd=tmp_path, package_file=site)
    assert home == tmp_path / "xdg" / "streamlab"


def test_an_editable_checkout_is_found_from_the_package(tmp_path):
    project = _project(tmp_path / "checkout")
    assert find_home({}, cwd=tmp_path, package_file=project / "lib" / "streamlab" / "paths.py") == project

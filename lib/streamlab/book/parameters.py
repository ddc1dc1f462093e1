"""A chapter's papermill parameters: book/profiles.yaml merged with the runner's own and --param overrides.

A name a chapter does not declare is an error where it can only be a typo (its own entry, --param).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .layout import Chapter, RunnerError, output_dir_name

RUNNER_PARAMETERS = ("profile", "output_dir")


def load_profiles(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """profiles.yaml as {profile: {"default"|chapter key: {param: value}}}, validated.

    Chapter keys are strings; an unquoted YAML key such as ``02`` parses as the
    integer 2 and is turned back into "02".
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise RunnerError(f"{path}: expected a mapping of profile names")
    profiles: dict[str, dict[str, dict[str, Any]]] = {}
    for name, sections in raw.items():
        if not isinstance(sections, dict):
            raise RunnerError(f"{path}: profile {name!r} must map 'default' and chapter keys to parameters")
        profiles[str(name)] = {}
        for key, params in sections.items():
            section = f"{key:02d}" if isinstance(key, int) else str(key)
            if not isinstance(params or {}, dict):
                raise RunnerError(f"{path}: {name}.{section} must be a mapping of parameter names to values")
            profiles[str(name)][section] = dict(params or {})
    return profiles


def merge_parameters(
    profiles: Mapping[str, Mapping[str, Mapping[str, Any]]],
    profile: str,
    chapter: Chapter,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], set[str]]:
    """Parameters for one chapter, and the names the chapter must declare.

    Precedence, lowest first: the profile's ``default``, its entry for the
    chapter (by key "01" or stem), the runner's own (``profile``,
    ``output_dir``), then ``overrides`` (--param). The returned set holds the
    names of the chapter's own entry: those are meant for this chapter alone,
    so an undeclared one is a typo.
    """
    if profile not in profiles:
        raise RunnerError(f"unknown profile {profile!r}; profiles.yaml has {', '.join(profiles)}")
    sections = profiles[profile]
    specific = {**sections.get(chapter.key, {}), **sections.get(chapter.stem, {})}
    params = {**sections.get("default", {}), **specific}
    params.update(profile=profile, output_dir=output_dir_name(chapter))
    params.update(overrides or {})
    return params, set(specific)


def restrict_to_declared(
    params: Mapping[str, Any], strict: set[str], declared: set[str], chapter: Chapter
) -> dict[str, Any]:
    """Keep the parameters the chapter declares; reject undeclared ones from its own entry."""
    unknown = sorted(strict - declared)
    if unknown:
        raise RunnerError(
            f"{chapter.stem} has no parameter(s) {', '.join(unknown)} in its `parameters` cell "
            f"(it declares {', '.join(sorted(declared)) or 'none'})"
        )
    missing = [name for name in RUNNER_PARAMETERS if name not in declared]
    if missing:
        raise RunnerError(f"{chapter.stem}: its `parameters` cell must declare {', '.join(missing)}")
    return {name: value for name, value in params.items() if name in declared}


#: A profile's section for the runner itself, not for a chapter: `cell_timeout_s`.
RUNNER_SECTION = "runner"


#: Seconds one cell may run when neither the profile nor --cell-timeout says: a guard against a hung cell.
DEFAULT_CELL_TIMEOUT_S = 600


def cell_timeout_for(profiles: Mapping[str, Mapping[str, Mapping[str, Any]]], profile: str) -> int:
    """The profile's cell timeout: `full` runs cells for many minutes by design, `quick` should not."""
    settings = profiles.get(profile, {}).get(RUNNER_SECTION, {})
    unknown = sorted(set(settings) - {"cell_timeout_s"})
    if unknown:
        raise RunnerError(
            f"profiles.yaml: {profile}.{RUNNER_SECTION} knows only cell_timeout_s, not {', '.join(unknown)}"
        )
    return int(settings.get("cell_timeout_s", DEFAULT_CELL_TIMEOUT_S))


def check_profile_sections(profiles: Mapping[str, Mapping[str, Any]], chapters: Sequence[Chapter]) -> None:
    """Every section of profiles.yaml is ``default``, ``runner`` or names a chapter of the TOC (else a typo)."""
    known = {"default", RUNNER_SECTION} | {ch.key for ch in chapters} | {ch.stem for ch in chapters}
    for profile, sections in profiles.items():
        unknown = sorted(set(sections) - known)
        if unknown:
            raise RunnerError(
                f"profiles.yaml: {profile}.{', '.join(unknown)} is not a chapter of the TOC "
                f"(chapters: {', '.join(ch.key for ch in chapters)})"
            )


def check_overrides(overrides: Mapping[str, Any], declared_by: Mapping[Chapter, set[str]]) -> None:
    """A --param must be declared by at least one selected chapter (else it is a typo)."""
    unused = sorted(name for name in overrides if not any(name in names for names in declared_by.values()))
    if unused:
        stems = ", ".join(ch.stem for ch in declared_by)
        raise RunnerError(f"--param {', '.join(unused)}: no parameter of that name in {stems}")


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings to a mapping; values are YAML (``5``, ``true``, ``[1, 2]``)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise RunnerError(f"--param expects NAME=VALUE, got {pair!r}")
        overrides[name.strip()] = yaml.safe_load(value)
    return overrides

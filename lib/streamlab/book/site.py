"""`make site`: the built book packed into one zip a reader opens offline, with the evidence behind it.

    python -m streamlab.book.site [--build-root _build] [--out _build/streamlab-book.zip]

Why a zip and what is in it. The book is meant to be read without rebuilding it
(that takes brokers and twenty minutes), and a reader who doubts a figure should
find the run that made it in the same place. So the archive holds three things
under one top folder: ``html/`` (the site exactly as built, relative links, no
network needed), ``executed/`` (every executed notebook with the result tables
its chapter saved beside it) and an ``index.html`` at the top that forwards to
``html/index.html``, so unzipping and opening the first file a browser offers
shows the book. Zip rather than tar because every desktop opens it without tools.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

TOP = "streamlab-book"
FORWARD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0; url=html/index.html">
<title>streamlab</title></head>
<body><p><a href="html/index.html">Open the book</a></p></body></html>
"""


class SiteError(Exception):
    """Nothing to pack: the user has to build the book first."""


def _files(folder: Path) -> Iterator[Path]:
    yield from sorted(path for path in folder.rglob("*") if path.is_file())


def pack(build_root: Path, out: Path) -> tuple[Path, int]:
    """Write the archive to ``out``; return it with the number of files packed (the forwarding page included)."""
    html = build_root / "html"
    executed = build_root / "executed"
    if not (html / "index.html").is_file():
        raise SiteError(f"no built book at {html}: run `make book` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{TOP}/index.html", FORWARD)
        count += 1
        for base, name in ((html, "html"), (executed, "executed")):
            if not base.is_dir():
                continue
            for path in _files(base):
                if path.resolve() == out.resolve():
                    continue
                archive.write(path, f"{TOP}/{name}/{path.relative_to(base).as_posix()}")
                count += 1
    return out, count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streamlab.book.site", description=__doc__.splitlines()[0])
    parser.add_argument("--build-root", type=Path, default=Path("_build"),
                        help="where `make book` built (default: _build)")
    parser.add_argument("--out", type=Path, default=None, help="the archive (default: <build-root>/streamlab-book.zip)")
    args = parser.parse_args(argv)
    out = args.out or args.build_root / "streamlab-book.zip"
    try:
        path, count = pack(args.build_root, out)
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size_mb = path.stat().st_size / 1e6
    print(f"wrote {path} ({count} files, {size_mb:.1f} MB): unzip it and open {TOP}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

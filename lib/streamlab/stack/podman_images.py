"""`make images`: the project's container images, built from Debian packages with podman.

No registry is reachable from these machines, so nothing is pulled: the base image is a minimal
Debian made by debootstrap from the mirror apt already uses and imported into podman; the Kafka,
RabbitMQ and app images are `containers/<name>/Containerfile` on top of it, their extra inputs
(Kafka's jars, a wheelhouse built on the host) copied into a staged build context, so a build
reaches nothing but the Debian mirror.

Each image carries a label with the hash of its inputs (Containerfile, staged files, the hash of
the image below it). A build whose label already matches is skipped, which makes `make images`
idempotent and quick; changing an input (a jar, a line of lib/, the Containerfile) rebuilds that
image and the ones above it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..paths import HOME as REPO_ROOT
from .config import KAFKA_VERSION, StackError

CONTAINERS_DIR = REPO_ROOT / "containers"
CONTAINERS_CONF = REPO_ROOT / "compose" / "podman" / "containers.conf"
STAGING = REPO_ROOT / ".cache" / "images"
WHEELHOUSE = REPO_ROOT / ".cache" / "wheelhouse"
LABEL = "io.streamlab.inputs"
SUITE = "bookworm"
#: Debian 13, whose rabbitmq-server is 4.0: the RabbitMQ 4 image builds on a base of its own.
SUITE_RABBITMQ4 = "trixie"
BASE_IMAGE = f"localhost/streamlab-base:{SUITE}"
KAFKA_IMAGE = f"localhost/streamlab-kafka:{KAFKA_VERSION}"
RABBITMQ_IMAGE = "localhost/streamlab-rabbitmq:3.10"
#: The same Containerfile on Debian 13: RabbitMQ 4.0 (not used by the stacks; chapter 03's comparisons run
#: on it with AMQP_URL pointing at a container of it, see compose/README.md).
RABBITMQ4_IMAGE = "localhost/streamlab-rabbitmq:4.0"
APP_IMAGE = "localhost/streamlab-app:latest"
# What the base image adds to debootstrap's minbase, and what it leaves out (docs, caches).
BASE_RECIPE = "minbase; policy-rc.d 101; dpkg path-exclude docs/man/locale; apt lists/archives removed; v1"


def podman_env() -> dict[str, str]:
    """The environment every podman call gets: the project's containers.conf (runc, ulimits)."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def require_podman() -> str:
    path = shutil.which("podman")
    if path is None:
        raise StackError("podman not found: run `make setup` (installs podman, runc, debootstrap) "
                         "or `apt-get install podman runc catatonit netavark aardvark-dns`")
    return path


def podman(*args: str, check: bool = True, input_text: str | None = None,
           timeout: float | None = None) -> subprocess.CompletedProcess:
    """One podman call with the project's settings; a failure becomes one line."""
    require_podman()
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=podman_env(),
                            input=input_text, timeout=timeout)
    if check and result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"podman {' '.join(args[:2])} failed: {last[0][:300]}")
    return result


# ---- pure helpers (unit-tested) ---------------------------------------------------------------

def debian_mirror(sources: dict[str, str], suite: str = SUITE) -> str | None:
    """The mirror apt uses for `suite` (not -security/-updates), from sources.list or deb822 files."""
    for text in sources.values():
        for stanza in re.split(r"\n\s*\n", text):                  # deb822: URIs + Suites per stanza
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, flags=re.M))
            if suite in fields.get("Suites", "").split() and "Enabled: no" not in stanza:
                uris = fields.get("URIs", "").split()
                if uris and "deb" in fields.get("Types", "deb").split():
                    return uris[0].rstrip("/")
        for line in text.splitlines():                             # one-line format
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                rest = [p for p in parts[1:] if not p.startswith("[")]
                if len(rest) >= 2 and rest[1] == suite:
                    return rest[0].rstrip("/")
    return None


def apt_sources(root: Path = Path("/etc/apt")) -> dict[str, str]:
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*.list")),
             *sorted((root / "sources.list.d").glob("*.sources"))]
    return {str(f): f.read_text(errors="replace") for f in files if f.is_file()}


def inputs_hash(parts: list[tuple[str, bytes]]) -> str:
    """A short content hash of named inputs, independent of their order of discovery."""
    digest = hashlib.sha256()
    for name, data in sorted(parts):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


# ---- images --------------------------------------------------------------------------------------

@dataclass
class ImageSpec:
    """One Containerfile image: what goes into its staged context, and which image it builds on."""

    tag: str
    folder: str                                       # containers/<folder>/: Containerfile and its files
    extra: dict[str, Path] = field(default_factory=dict)   # context subdir -> host dir of files to copy
    containerfile_path: Path | None = None            # the app's is containers/Dockerfile (the name Docker users know)
    suite: str = SUITE                                # the Debian release of its base image

    @property
    def containerfile(self) -> Path:
        return self.containerfile_path or CONTAINERS_DIR / self.folder / "Containerfile"

    def files(self) -> list[tuple[str, Path]]:
        """(path in the context, host file) for everything staged; the Containerfile is staged as `Containerfile`."""
        if self.containerfile_path is not None:
            out = [("Containerfile", self.containerfile_path)]
        else:
            out = [(str(p.relative_to(CONTAINERS_DIR / self.folder)), p)
                   for p in sorted((CONTAINERS_DIR / self.folder).rglob("*")) if p.is_file()]
        for sub, source in self.extra.items():
            found = sorted(source.iterdir()) if source.is_dir() else []    # the wheelhouse may not exist yet
            out += [(f"{sub}/{p.name}", p) for p in found if p.is_file() and not p.name.startswith(".")]
        return out

    def digest(self, base_digest: str) -> str:
        return inputs_hash([("base", base_digest.encode())] + [(rel, path.read_bytes()) for rel, path in self.files()])


def image_label(tag: str) -> str | None:
    """The inputs label of a local image, None when the image does not exist."""
    result = podman("image", "inspect", tag, check=False)
    if result.returncode != 0:
        return None
    info = json.loads(result.stdout or "[]")
    labels = (info[0].get("Labels") or {}) if info else {}
    return labels.get(LABEL, "")


def image_size_mb(tag: str) -> float | None:
    result = podman("image", "inspect", tag, "--format", "{{.Size}}", check=False)
    return round(int(result.stdout.strip()) / 1e6, 1) if result.returncode == 0 and result.stdout.strip() else None


def _say(message: str) -> None:
    print(message, flush=True)


def base_image(suite: str = SUITE) -> str:
    return f"localhost/streamlab-base:{suite}"


def build_base(force: bool = False, suite: str = SUITE) -> str:
    """debootstrap minbase of `suite` -> podman import; returns the base digest (its inputs label).

    Another suite than the host's comes from the same mirror (one Debian archive serves every suite)."""
    sources = apt_sources()
    mirror = debian_mirror(sources, suite) or debian_mirror(sources, SUITE)
    if mirror is None:
        raise StackError(f"no Debian {SUITE} mirror in /etc/apt/sources.list*: add one (e.g. http://deb.debian.org/debian)")
    digest = inputs_hash([("suite", suite.encode()), ("mirror", mirror.encode()), ("recipe", BASE_RECIPE.encode())])
    tag = base_image(suite)
    if not force and image_label(tag) == digest:
        return digest
    if shutil.which("debootstrap") is None:
        raise StackError("debootstrap not found: run `make setup` or `apt-get install debootstrap`")
    if os.geteuid() != 0:
        raise StackError("building the base image needs root (debootstrap, rootful podman): run `make images` as root")
    _say(f"base image: debootstrap --variant=minbase {suite} from {mirror} ...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="streamlab-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(["debootstrap", "--variant=minbase", suite, str(rootfs), mirror],
                                capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StackError(f"debootstrap from {mirror} failed ({last[0][:200]}): is the Debian mirror reachable?")
        _trim_rootfs(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["podman", "import", "--change", f"LABEL {LABEL}={digest}",
                                   "--change", 'CMD ["/bin/bash"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True, text=True, env=podman_env())
        tar.wait()
        if imported.returncode != 0:
            raise StackError(f"podman import failed: {imported.stderr.strip()[-300:]}")
    _say(f"base image: {tag} in {time.monotonic() - started:.0f} s")
    return digest


def _trim_rootfs(rootfs: Path) -> None:
    """What Debian's own container images do: no service starts in a build, no docs, no caches."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# no service starts inside an image build\nexit 101\n")
    policy.chmod(0o755)
    (rootfs / "etc/dpkg/dpkg.cfg.d/excludes").write_text(
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-exclude /usr/share/info/*\n")
    (rootfs / "etc/apt/apt.conf.d/90streamlab").write_text(
        'APT::Install-Recommends "false";\nAcquire::Retries "3";\n')
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*",
                    "var/log/*.log", "var/log/apt/*", "usr/share/doc/*", "usr/share/man/*"):
        for path in rootfs.glob(pattern):
            if path.name in ("lock", "partial", "auxfiles"):
                continue
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def build_wheelhouse() -> Path:
    """The streamlab wheel and every dependency as wheels, built on the host (PyPI reachable here)."""
    sources = [REPO_ROOT / "pyproject.toml", REPO_ROOT / "README.md",
               *sorted(p for p in (REPO_ROOT / "lib").rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and ".egg-info" not in str(p))]
    digest = inputs_hash([(str(p.relative_to(REPO_ROOT)), p.read_bytes()) for p in sources])
    stamp, deps_stamp = WHEELHOUSE / ".inputs", WHEELHOUSE / ".dependencies"
    if stamp.is_file() and stamp.read_text() == digest:
        return WHEELHOUSE
    deps_digest = inputs_hash([("pyproject.toml", (REPO_ROOT / "pyproject.toml").read_bytes())])
    # the dependencies' wheels only when pyproject.toml changed; a code change rebuilds streamlab's wheel alone
    only_ours = deps_stamp.is_file() and deps_stamp.read_text() == deps_digest
    _say("app image: building the wheelhouse on the host (pip wheel"
         + (", streamlab only" if only_ours else ", with dependencies") + ") ...")
    deps, ours = WHEELHOUSE / "deps", WHEELHOUSE / "app"
    deps.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(ours, ignore_errors=True)
    ours.mkdir()
    with tempfile.TemporaryDirectory(prefix="streamlab-src-") as tmp:
        for path in sources:                      # a clean copy: pip builds in its source tree
            target = Path(tmp) / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", *(["--no-deps"] if only_ours else []),
                                 "--wheel-dir", str(ours if only_ours else deps), tmp], capture_output=True, text=True)
    for wheel in deps.glob("streamlab-*.whl"):             # ours goes to its own layer
        shutil.move(str(wheel), ours / wheel.name)
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"pip wheel failed ({last[0][:200]}): is PyPI reachable?")
    stamp.write_text(digest)
    deps_stamp.write_text(deps_digest)
    return WHEELHOUSE


def _stage(spec: ImageSpec) -> Path:
    context = STAGING / spec.folder
    shutil.rmtree(context, ignore_errors=True)
    for rel, source in spec.files():
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)               # jars and wheels are large: link, do not copy
        except OSError:
            shutil.copy2(source, target)
    return context


def build_image(spec: ImageSpec, base_digest: str, force: bool = False) -> str:
    digest = spec.digest(base_digest)
    if not force and image_label(spec.tag) == digest:
        return digest
    _say(f"{spec.tag}: podman build ...")
    started = time.monotonic()
    context = _stage(spec)
    # --network host: a build's only traffic is apt reaching the Debian mirror, as the host's apt does
    # (through podman's bridge, the host's resolver is not reachable on every machine).
    result = subprocess.run(["podman", "build", "--layers", "--network", "host", "-f", str(context / "Containerfile"),
                             "--build-arg", f"BASE={base_image(spec.suite)}",
                             "--label", f"{LABEL}={digest}", "-t", spec.tag, str(context)],
                            capture_output=True, text=True, env=podman_env())
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise StackError(f"podman build of {spec.tag} failed: {tail[-400:]}")
    podman("image", "prune", "-f", check=False)   # the replaced image's layers, now dangling
    _say(f"{spec.tag}: built in {time.monotonic() - started:.0f} s")
    return digest


def image_specs(jars_dir: Path | None = None) -> list[ImageSpec]:
    jars = (jars_dir or REPO_ROOT / ".cache" / "jars") / "kafka"
    return [
        ImageSpec(KAFKA_IMAGE, "kafka", {"jars": jars}),
        ImageSpec(RABBITMQ_IMAGE, "rabbitmq"),
        ImageSpec(RABBITMQ4_IMAGE, "rabbitmq", suite=SUITE_RABBITMQ4),
        ImageSpec(
            APP_IMAGE, "app", {"deps": WHEELHOUSE / "deps", "app": WHEELHOUSE / "app"}, CONTAINERS_DIR / "Dockerfile"
        ),
    ]


def build_all(force: bool = False, only: tuple[str, ...] = ()) -> dict[str, float | None]:
    """Every image, each rebuilt only when its inputs changed; returns the sizes in MB.

    One build at a time per checkout (a file lock): a second caller, such as the other test worker
    or a second `make images`, waits and then finds the images up to date, instead of rebuilding the
    wheelhouse under the first one's feet."""
    require_podman()
    jars = REPO_ROOT / ".cache" / "jars" / "kafka"
    if not any(jars.glob("kafka_2.13-*.jar")):
        raise StackError(f"Kafka jars not found in {jars}: run `make setup` first")
    with open(REPO_ROOT / ".cache" / "podman-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bases: dict[str, str] = {SUITE: build_base(force)}
        for spec in image_specs():
            if only and spec.folder not in only and spec.tag not in only:
                continue
            if spec.suite != SUITE and spec.tag not in only:
                continue        # RabbitMQ 4.0 on Debian 13: no stack runs it, built only when named
            if spec.folder == "app":
                build_wheelhouse()
            if spec.suite not in bases:
                bases[spec.suite] = build_base(force, spec.suite)
            build_image(spec, bases[spec.suite], force)
    return {tag: image_size_mb(tag) for tag in (*map(base_image, bases), *(s.tag for s in image_specs()
                                                                        if s.suite in bases))}


def stage_for_docker() -> int:
    """Docker users: the same contexts, built with `docker build` on Debian's registry image as the base."""
    build_wheelhouse()
    for spec in image_specs():
        context = _stage(spec)
        short = spec.tag.removeprefix("localhost/")
        print(f"docker build --build-arg BASE=debian:bookworm-slim -t {short} {context.relative_to(REPO_ROOT)}")
    return 0


def missing_images(tags: list[str]) -> list[str]:
    return [tag for tag in tags if image_label(tag) is None]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m streamlab.stack.podman_images", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs did not change")
    parser.add_argument("--only", nargs="*", default=[],
                        help="kafka, rabbitmq, app and/or an image's tag (the base always; "
                             f"{RABBITMQ4_IMAGE} only when named)")
    parser.add_argument("--stage-only", action="store_true",
                        help="only stage the build contexts (for `docker build`), print the commands")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.stage_only:
        return stage_for_docker()
    try:
        sizes = build_all(args.force, tuple(args.only))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    listed = ", ".join(f"{tag} {size:.0f} MB" for tag, size in sizes.items() if size is not None)
    _say(f"images ready in {time.monotonic() - started:.1f} s: {listed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Offline images for the real-parts tests, each rebuilt only when its content hash changes.

- `botstack-test/debian:bookworm`: debootstrap minbase, imported (kept when present);
- the stand-ins (python, postgres, redis, caddy) from `tests/images/<name>/`, FROM that base;
- the app wheelhouse (`pip download` for Debian's Python 3.11.2, cached by the requirements' hash);
- the app images from `app/backend/Dockerfile` and `app/web/Dockerfile` with offline build args.

Every built image carries the label `botstack.content-hash`: a sha256 over the build context as the
engine sees it (`.dockerignore` honoured, file contents and exec bits), the build args and the ids
of the images those args name. Same hash means the image is reused as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import CACHE_DIR, REPO_DIR, NotAvailable, SetupError, log_tail, say, setup_lock, step
from .engine import ensure_engine

HASH_LABEL = "botstack.content-hash"
IMAGES_DIR = REPO_DIR / "tests" / "images"

DEBIAN_IMAGE = "botstack-test/debian:bookworm"
PYTHON_IMAGE = "botstack-test/python:3.11"
POSTGRES_IMAGE = "botstack-test/postgres:15"
REDIS_IMAGE = "botstack-test/redis:7"
CADDY_IMAGE = "botstack-test/caddy:2"
BACKEND_IMAGE = "botstack/backend:dev"
WEB_IMAGE = "botstack/web:dev"

STANDIN_IMAGES = {
    "debian": DEBIAN_IMAGE,
    "python": PYTHON_IMAGE,
    "postgres": POSTGRES_IMAGE,
    "redis": REDIS_IMAGE,
    "caddy": CADDY_IMAGE,
}
APP_IMAGES = {"backend": BACKEND_IMAGE, "web": WEB_IMAGE}
PIP_INSTALL_ARGS = "--no-index --find-links=/wheelhouse"
APP_BUILD_ARGS = {
    "PYTHON_IMAGE": PYTHON_IMAGE,
    "PIP_INSTALL_ARGS": PIP_INSTALL_ARGS,
    "CADDY_IMAGE": CADDY_IMAGE,
}

BACKEND_DIR = REPO_DIR / "app" / "backend"
WEB_DIR = REPO_DIR / "app" / "web"
WHEELHOUSE_DIR = BACKEND_DIR / "wheelhouse"
REQUIREMENTS = BACKEND_DIR / "requirements.txt"
WHEELHOUSE_STAMP = CACHE_DIR / "wheelhouse.json"
# Debian bookworm's interpreter, not the host's: markers differ (redis needs async-timeout < 3.11.3).
PIP_DOWNLOAD_ARGS = (
    "--python-version", "3.11.2", "--only-binary=:all:",
    "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "any",
)  # fmt: skip
WHEEL_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class Recipe:
    """How to build one image: a context dir with a Dockerfile, and the build args it may take."""

    image: str
    context: Path
    args: dict[str, str] = field(default_factory=dict)  # offered; only ARGs the Dockerfile declares go
    wheelhouse: bool = False  # fill app/backend/wheelhouse first

    @property
    def dockerfile(self) -> Path:
        return self.context / "Dockerfile"

    def build_args(self) -> dict[str, str]:
        declared = set(re.findall(r"(?im)^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", self.dockerfile.read_text()))
        return {k: v for k, v in self.args.items() if k in declared}


_BASE = {"BASE_IMAGE": DEBIAN_IMAGE}
RECIPES: dict[str, Recipe] = {
    PYTHON_IMAGE: Recipe(PYTHON_IMAGE, IMAGES_DIR / "python", _BASE),
    POSTGRES_IMAGE: Recipe(POSTGRES_IMAGE, IMAGES_DIR / "postgres", _BASE),
    REDIS_IMAGE: Recipe(REDIS_IMAGE, IMAGES_DIR / "redis", _BASE),
    CADDY_IMAGE: Recipe(CADDY_IMAGE, IMAGES_DIR / "caddy", _BASE),
    BACKEND_IMAGE: Recipe(BACKEND_IMAGE, BACKEND_DIR, APP_BUILD_ARGS, wheelhouse=True),
    WEB_IMAGE: Recipe(WEB_IMAGE, WEB_DIR, APP_BUILD_ARGS),
}
ALL_IMAGES = (DEBIAN_IMAGE, *RECIPES)


def _client() -> Any:
    try:
        import docker  # the SDK is a test requirement; imported late so `engine` works without it
    except ImportError:
        raise SetupError(
            "the docker SDK for Python is missing: run with .venv/bin/python (make venv) or pip install -r requirements-test.txt"
        ) from None
    return docker.from_env(timeout=900)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def _image_attrs(name: str) -> dict | None:
    client = _client()
    import docker.errors

    try:
        return client.api.inspect_image(name)
    except docker.errors.ImageNotFound:
        return None


def _label(attrs: dict) -> str | None:
    return ((attrs.get("Config") or {}).get("Labels") or {}).get(HASH_LABEL)


def _slug(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", image)


# --- content hashes -----------------------------------------------------------------------------


def _context_files(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """The regular files the engine receives as build context (same rules as the docker SDK)."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore = context / ".dockerignore"
    if ignore.exists():
        patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    paths = exclude_paths(str(context), patterns, dockerfile=dockerfile)
    return sorted(p for p in paths if (context / p).is_file() and not (context / p).is_symlink())


def _hash_files(h: hashlib._Hash, root: Path, files: Iterable[str]) -> None:
    for rel in files:
        path = root / rel
        h.update(f"file {rel} {os.stat(path).st_mode & 0o111:o}\n".encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\n")


def content_hash(recipe: Recipe, base_ids: dict[str, str]) -> str:
    h = hashlib.sha256(b"botstack tests.setup v1\n")
    for key, value in sorted(recipe.build_args().items()):
        h.update(f"arg {key}={value} {base_ids.get(value, '')}\n".encode())
    _hash_files(h, recipe.context, _context_files(recipe.context))
    return h.hexdigest()


# --- the base image -------------------------------------------------------------------------------


def _debian_recipe() -> dict[str, str]:
    path = IMAGES_DIR / "debian" / "recipe.env"
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in values.items()}


def _debian_hash() -> str:
    recipe = (IMAGES_DIR / "debian" / "recipe.env").read_bytes()
    return hashlib.sha256(b"debootstrap+import v1 (apt caches removed)\n" + recipe).hexdigest()


def _ensure_debian() -> str:
    with step(DEBIAN_IMAGE) as s:
        attrs = _image_attrs(DEBIAN_IMAGE)
        wanted = _debian_hash()
        if attrs is not None and _label(attrs) in (None, wanted):
            # No label: made by hand with the same recipe (test-environment.md); keep it.
            s.result = "cached" if _label(attrs) else "present (made outside tests.setup, kept)"
            return attrs["Id"]
        _build_debian(wanted)
        s.result = "built"
        attrs = _image_attrs(DEBIAN_IMAGE)
        assert attrs is not None
        return attrs["Id"]


def _build_debian(content_hash_: str) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SetupError("debootstrap is not installed: apt-get install debootstrap")
    recipe = _debian_recipe()
    root = CACHE_DIR / f"debootstrap-{recipe['SUITE']}"
    log = CACHE_DIR / f"build-{_slug(DEBIAN_IMAGE)}.log"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    try:
        with open(log, "wb") as out:
            result = subprocess.run(
                [debootstrap, f"--variant={recipe['VARIANT']}", recipe["SUITE"], str(root), recipe["MIRROR"]],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise SetupError(f"debootstrap failed ({result.returncode}); last lines of {log}:\n{log_tail(log)}")
        # Package caches are dead weight in every image built from this one (~80 MB).
        for cache in ("var/cache/apt", "var/lib/apt/lists"):
            for entry in (root / cache).glob("**/*"):
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
        with open(log, "ab") as out:
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                ["docker", "import", "--change", 'CMD ["bash"]',
                 "--change", f"LABEL {HASH_LABEL}={content_hash_}", "-", DEBIAN_IMAGE],
                stdin=tar.stdout, stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
            assert tar.stdout is not None
            tar.stdout.close()
            tar_rc = tar.wait()
        if tar_rc != 0 or imported.returncode != 0:
            raise SetupError(
                f"importing {root} failed (tar {tar_rc}, docker import {imported.returncode}); "
                f"last lines of {log}:\n{log_tail(log)}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- the wheelhouse -------------------------------------------------------------------------------


def _wheelhouse_files() -> set[str]:
    if not WHEELHOUSE_DIR.is_dir():
        return set()
    return {p.name for p in WHEELHOUSE_DIR.iterdir() if p.name.endswith(WHEEL_SUFFIXES)}


def ensure_wheelhouse() -> Path:
    """Fill app/backend/wheelhouse for Debian's Python 3.11.2; cached by the requirements' hash."""
    with setup_lock():
        _memo.clear()
        return Path(_ensure(_WHEELHOUSE_KEY))


def _ensure_wheelhouse() -> Path:
    with step(f"wheelhouse {_rel(WHEELHOUSE_DIR)}") as s:
        if not REQUIREMENTS.exists():
            raise NotAvailable(f"{_rel(REQUIREMENTS)} does not exist yet")
        wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + " ".join(PIP_DOWNLOAD_ARGS).encode()).hexdigest()
        try:
            stamp = json.loads(WHEELHOUSE_STAMP.read_text())
        except (OSError, ValueError):
            stamp = {}
        present = _wheelhouse_files()
        if stamp.get("hash") == wanted and set(stamp.get("files", [])) <= present and stamp.get("files"):
            s.result = f"cached ({len(stamp['files'])} files)"
            return WHEELHOUSE_DIR
        WHEELHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        log = CACHE_DIR / "wheelhouse.log"
        with open(log, "wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
                 *PIP_DOWNLOAD_ARGS, "-d", str(WHEELHOUSE_DIR), "-r", str(REQUIREMENTS)],
                stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise SetupError(f"pip download failed ({result.returncode}); last lines of {log}:\n{log_tail(log)}")
        used = set()
        for line in log.read_text(errors="replace").splitlines():
            found = re.search(r"(?:Saved|File was already downloaded) (\S+)", line)
            if found:
                used.add(Path(found.group(1)).name)
        if not used:
            raise SetupError(f"pip download named no files; see {log}")
        stale = present - used
        for name in stale:  # wheels of older requirements would let pip pick a wrong version
            (WHEELHOUSE_DIR / name).unlink()
        WHEELHOUSE_STAMP.write_text(json.dumps({"hash": wanted, "files": sorted(used)}, indent=1))
        s.result = f"downloaded ({len(used)} files, {len(stale)} stale removed)"
        return WHEELHOUSE_DIR


# --- Dockerfile images ----------------------------------------------------------------------------


def _build(recipe: Recipe, build_args: dict[str, str], content_hash_: str) -> str:
    log = CACHE_DIR / f"build-{_slug(recipe.image)}.log"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    image_id = None
    with open(log, "w") as out:
        out.write(f"# docker build {_rel(recipe.context)} -t {recipe.image} args={sorted(build_args)}\n")
        stream = _client().api.build(
            path=str(recipe.context),
            tag=recipe.image,
            buildargs=build_args,
            labels={HASH_LABEL: content_hash_},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                out.write(chunk["stream"])
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            if "error" in chunk:
                out.write(f"ERROR: {chunk['error']}\n")
                out.flush()
                raise SetupError(
                    f"building {recipe.image} from {_rel(recipe.dockerfile)} failed; last lines of {log}:\n{log_tail(log)}"
                )
    attrs = _image_attrs(recipe.image)
    if attrs is None or (image_id and attrs["Id"] != image_id):
        raise SetupError(f"{recipe.image} is not tagged after its build; see {log}")
    return attrs["Id"]


def _ensure_recipe(recipe: Recipe) -> str:
    if not recipe.dockerfile.exists():
        with step(recipe.image):
            raise NotAvailable(f"{_rel(recipe.dockerfile)} does not exist yet")
    build_args = recipe.build_args()
    base_ids = {value: _ensure(value) for value in build_args.values() if value in ALL_IMAGES}
    if recipe.wheelhouse:
        _ensure(_WHEELHOUSE_KEY)
    with step(recipe.image) as s:
        wanted = content_hash(recipe, base_ids)
        attrs = _image_attrs(recipe.image)
        if attrs is not None and _label(attrs) == wanted:
            s.result = "cached"
            return attrs["Id"]
        image_id = _build(recipe, build_args, wanted)
        s.result = "built"
        return image_id


# What this run already ensured (cleared by each public call), so a shared base prints one line.
_memo: dict[str, str] = {}
_WHEELHOUSE_KEY = "wheelhouse"


def _ensure(name: str) -> str:
    if name in _memo:
        return _memo[name]
    if name == DEBIAN_IMAGE:
        result = _ensure_debian()
    elif name == _WHEELHOUSE_KEY:
        result = str(_ensure_wheelhouse())
    elif name in RECIPES:
        result = _ensure_recipe(RECIPES[name])
    else:
        raise SetupError(f"unknown image {name!r}; known: {', '.join(ALL_IMAGES)}")
    _memo[name] = result
    return result


# --- public API -------------------------------------------------------------------------------------


def ensure_image(name: str) -> str:
    """Make image `name` (and the images it is built from) exist and be current; return its id.

    Raises NotAvailable when its inputs don't exist yet (an app Dockerfile), SetupError otherwise.
    """
    with setup_lock():
        _memo.clear()
        ensure_engine()
        return _ensure(name)


def ensure_all() -> dict[str, str]:
    """Engine, base image, stand-ins, wheelhouse, app images. Returns {image name: id} of what exists.

    Parts whose inputs don't exist yet (the app) are skipped with a message, not an error.
    """
    results: dict[str, str] = {}
    with setup_lock():
        _memo.clear()
        ensure_engine()
        results[DEBIAN_IMAGE] = _ensure(DEBIAN_IMAGE)
        # The stand-ins mostly wait on apt downloads, the wheelhouse on PyPI: side by side.
        with ThreadPoolExecutor(max_workers=5) as pool:
            futures = {name: pool.submit(_ensure, name) for name in RECIPES if name not in APP_IMAGES.values()}
            wheelhouse = pool.submit(_ensure, _WHEELHOUSE_KEY)
            for name, future in futures.items():
                results[name] = future.result()
            with contextlib.suppress(NotAvailable):  # step() said why
                wheelhouse.result()
        with ThreadPoolExecutor(max_workers=2) as pool:
            app_futures = {name: pool.submit(_ensure, name) for name in APP_IMAGES.values()}
            for name, future in app_futures.items():
                with contextlib.suppress(NotAvailable):  # step() said why
                    results[name] = future.result()
    return results


def image_sizes(names: Iterable[str] = ALL_IMAGES) -> dict[str, int]:
    sizes = {}
    for name in names:
        attrs = _image_attrs(name)
        if attrs is not None:
            sizes[name] = int(attrs["Size"])
    return sizes


def report_sizes() -> None:
    for name, size in image_sizes().items():
        say(f"{name} size {size / 1e6:.0f} MB")

#!/usr/bin/env python3
"""Build the container image with podman, then run it and check it: `python3 scripts/dev.py image`.

Made for a machine without a Docker engine or access to an image registry (Debian 12 as root,
as in CI); needs only python3 (stdlib). In order:

1. tools: podman, runc and mmdebstrap, with apt-get if any is missing; podman runs with
   `--runtime runc --cgroup-manager cgroupfs` (crun needs CAP_SYS_RESOURCE on hybrid cgroups),
   and /etc/containers/containers.conf gets `default_ulimits = []` if it does not exist;
2. base image, made once: mmdebstrap of Debian 12 with python3 from the mirror apt uses, then
   `podman import`, tagged localhost/newsmt-base:bookworm and passed as PYTHON_IMAGE;
3. build of the real Dockerfile with PULL_MODELS=0: pip reaches PyPI over the host network with
   the host's certificates, and torch comes from the wheel folder pip's find-links names on
   this machine if it holds the pinned CPU wheel (else from the PyTorch CPU index). Both are
   build-time mounts, never in the image;
4. inspection: size, user, health check, what the runtime stage holds;
5. `newsmt smoke --demo-size tiny` in a container;
6. `newsmt serve` with tiny demo models mounted at /models and a published port: health and a
   translation from the host (the repo's .venv if it has the client, else a client container
   on the host network), seconds from `podman run` to SERVING, JSON logs;
7. `podman stop` (SIGTERM): exit 0 within the grace;
8. with --compose, compose.yaml with podman-compose (pip, into build/image): tiny demo models,
   both replicas SERVING, the smoke service passing against each.

The last line is the summary: image size, seconds to SERVING, smoke stages passed. Exit 0
when every check passed, 1 when one failed, 3 when this machine cannot run containers at all
(no podman to be installed, or runc cannot start one); with --skip-if-unsupported that case
says why and exits 0 (CI). The build log goes to build/image/build.log.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "build" / "image"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
PACKAGES = ("podman", "runc", "mmdebstrap")
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
BASE_IMAGE = "localhost/newsmt-base:bookworm"
#: Debian 12: its python3 is 3.11, as in python:3.11-slim-bookworm (the Dockerfile's default).
BASE_SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
PYTHON_TAG = "cp311"
#: Where the local torch wheel's folder is mounted at build time: a folder every Debian image
#: has, empty, so that the mount point leaves no trace in the image.
WHEELS_MOUNT = "/mnt"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
STOP_GRACE_S = 30  # as compose.yaml's stop_grace_period; the server's own grace is 20 s
SERVING_LIMIT_S = 300.0
PODMAN_COMPOSE = "podman-compose==1.6.0"
#: compose.yaml's `models` service, building tiny demo models (the file's default is full size).
COMPOSE_TINY = """services:
  models:
    command: ["make-demo", "--size", "tiny", "--convert", "--model-dir", "/models"]
"""
EXIT_FAILED, EXIT_UNSUPPORTED = 1, 3
#: What the running image must not hold: sources, build mounts, compilers, test suites.
INSPECT = """
import importlib.metadata as md, json, os, shutil, sys, sysconfig
import torch
site = sysconfig.get_paths()["purelib"]
tests = [d for d, _, _ in os.walk(site) if ".dist-info" not in d
         and os.path.basename(d) in ("test", "tests")]
tests += [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(site, "newsmt")) for f in fs
          if f.startswith(("test_", "conftest"))]
print(json.dumps({
    "uid": os.getuid(),
    "python": sys.version.split()[0],
    "leftovers": [p for p in ("/src", "/staging", "/tmp/deps", "/opt/pull", "/wheels")
                  if os.path.exists(p)] + [os.path.join("/mnt", f) for f in os.listdir("/mnt")],
    "compilers": [c for c in ("gcc", "cc", "g++", "make") if shutil.which(c)],
    "tests": tests,
    "torch": torch.__version__,
    "torch_cuda": torch.version.cuda,
    "distributions": {d: md.version(d) for d in ("newsmt", "newsmt-client")},
}))
"""
#: Run by the client's python: seconds from argv[2] (epoch) until the server is SERVING; exit 1
#: at the limit, 2 as soon as every model has failed (it will never serve). A new client per
#: try, so that gRPC's reconnect backoff does not inflate the measurement.
POLL = """
import sys, time
from newsmt.client import Client, NewsmtError
address, started, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
while time.time() - started < limit:
    with Client(address, timeout=2, retries=0) as client:
        try:
            if client.health("", timeout=2) == "SERVING":
                print(f"{time.time() - started:.1f}")
                sys.exit(0)
            models = client.list_models(timeout=2)
            if models and all(m.state in ("failed", "missing") for m in models):
                print(", ".join(f"{m.name}={m.state}" for m in models), file=sys.stderr)
                sys.exit(2)
        except NewsmtError:
            pass
    time.sleep(0.2)
sys.exit(1)
"""
SAMPLE = "The central bank raised interest rates on Tuesday.\n"


class CheckFailed(Exception):
    """A step or check failed: the image is not good."""


class Unsupported(Exception):
    """This machine cannot run containers at all."""


@dataclass
class Report:
    """What the checks measured, for the summary line."""

    image: str = ""
    size_bytes: int = 0
    build_s: float = 0.0
    steps: int = 0
    cached: int = 0
    smoke: str = ""
    serving_s: float = 0.0
    stop_s: float = 0.0
    compose: str = ""

    def summary(self) -> str:
        return (
            f"image {self.image}: {self.size_bytes / 1e6:,.0f} MB; "
            f"SERVING {self.serving_s:.1f} s after podman run; smoke {self.smoke} stages passed; "
            f"stopped with exit 0 in {self.stop_s:.1f} s; built in {self.build_s:.0f} s "
            f"({self.cached}/{self.steps} steps from cache)"
            + (f"; compose: {self.compose}" if self.compose else "")
        )


# -- helpers ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"image: {text}", flush=True)


def run(
    cmd: Sequence[str],
    *,
    capture: bool = False,
    check: bool = True,
    timeout: float | None = 600,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, echoed; raise CheckFailed on a non-zero exit when `check`."""
    print("+", shlex.join(cmd), flush=True)
    try:
        result = subprocess.run(
            list(cmd),
            cwd=ROOT,
            capture_output=capture,
            text=True,
            input=stdin,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{cmd[0]} ran over {timeout:.0f} s") from None
    if check and result.returncode != 0:
        if capture:
            sys.stdout.write(result.stdout + result.stderr)
        raise CheckFailed(f"`{shlex.join(cmd[:4])} ...` exited {result.returncode}")
    return result


def podman(
    *args: str, capture: bool = False, check: bool = True, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    return run([*PODMAN, *args], capture=capture, check=check, timeout=timeout)


def one_shot(
    tag: str,
    entrypoint: str,
    *args: str,
    options: Sequence[str] = (),
    capture: bool = False,
    check: bool = True,
    timeout: float | None = 600,
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm` of the image with another entrypoint, without a network by default."""
    cmd = ["run", "--rm", "--no-healthcheck", "--network", "none", *options]
    return podman(
        *cmd, "--entrypoint", entrypoint, tag, *args, capture=capture, check=check, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. tools --------------------------------------------------------------------------------


def ensure_tools() -> None:
    """Install podman, runc and mmdebstrap if missing; raise Unsupported if that cannot be."""
    missing = [p for p in PACKAGES if shutil.which(p) is None]
    if missing:
        if shutil.which("apt-get") is None:
            raise Unsupported(f"{', '.join(missing)} not installed and no apt-get to install them")
        if os.geteuid() != 0:
            raise Unsupported(f"{', '.join(missing)} not installed, and installing needs root")
        say(f"installing {' '.join(PACKAGES)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            run(["apt-get", "update", "-q"], env=env, timeout=900)
            run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env, timeout=1800)
        except CheckFailed as exc:
            raise Unsupported(f"cannot install {' '.join(PACKAGES)}: {exc}") from None
    if not CONTAINERS_CONF.exists():
        say(f"writing {CONTAINERS_CONF}: default_ulimits = [] (runc cannot set them here)")
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text("[containers]\ndefault_ulimits = []\n")


# -- 2. base image ---------------------------------------------------------------------------


def apt_sources(paths: Sequence[Path] = APT_SOURCES) -> list[tuple[str, str]]:
    """(uri, suite) for every `deb` entry apt reads, one-line and deb822 formats."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in {".list", ".sources"})
        elif path.is_file():
            files.append(path)
    entries: list[tuple[str, str]] = []
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip() and not line.lstrip().startswith("#") and ":" in line:
                        key, _, value = line.partition(":")
                        fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled") != "no":
                    entries += [
                        (uri, suite)
                        for uri in fields.get("uris", "").split()
                        for suite in fields.get("suites", "").split()
                    ]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    entries.append((words[1], words[2]))
    return entries


def debian_mirrors(entries: Sequence[tuple[str, str]], codename: str) -> list[str]:
    """mmdebstrap mirror lines for BASE_SUITE, from the URIs apt uses for Debian `codename`."""
    main = next((uri for uri, suite in entries if suite == codename), None)
    if main is None:
        raise CheckFailed(
            f"no Debian mirror for {codename!r} in {', '.join(map(str, APT_SOURCES))}: "
            "the base image is built from the mirror apt uses"
        )
    lines = [f"deb {main} {BASE_SUITE} main"]
    if (main, f"{codename}-updates") in entries:
        lines.append(f"deb {main} {BASE_SUITE}-updates main")
    security = next((uri for uri, suite in entries if suite == f"{codename}-security"), None)
    if security is not None:
        lines.append(f"deb {security} {BASE_SUITE}-security main")
    return lines


def os_codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return BASE_SUITE


def ensure_base_image() -> None:
    """Make localhost/newsmt-base:bookworm once: Debian 12 minbase with python3."""
    if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
        say(f"base image {BASE_IMAGE} exists (`podman rmi {BASE_IMAGE}` to make it again)")
        return
    mirrors = debian_mirrors(apt_sources(), os_codename())
    with tempfile.TemporaryDirectory(prefix="newsmt-base-") as tmp:
        rootfs = str(Path(tmp) / "rootfs.tar")
        t0 = time.monotonic()
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                f"--include={BASE_PACKAGES}",
                BASE_SUITE,
                rootfs,
                *mirrors,
            ],
            timeout=1800,
        )
        podman("import", "--change", "ENV=LANG=C.UTF-8", rootfs, BASE_IMAGE, capture=True)
    say(f"base image {BASE_IMAGE} made in {time.monotonic() - t0:.0f} s")


def check_runtime() -> None:
    """Raise Unsupported if runc cannot start a container here."""
    result = one_shot(BASE_IMAGE, "true", check=False, capture=True, timeout=300)
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise Unsupported(f"runc cannot start a container here: {why[0]}")


# -- 3. build --------------------------------------------------------------------------------


def pinned_torch(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The torch version the server distribution pins."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for dep in deps:
        found = re.fullmatch(r"torch\s*==\s*([\w.]+)", dep.strip())
        if found:
            return found.group(1)
    raise CheckFailed("pyproject.toml pins no torch==VERSION")


def pip_find_links(
    environ: dict[str, str] | None = None, config_files: Sequence[Path] | None = None
) -> list[Path]:
    """Local folders pip's `find-links` names on this machine (environment and config files)."""
    environ = dict(os.environ) if environ is None else environ
    if config_files is None:
        xdg = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
        home = Path(environ.get("HOME", "/root"))
        config_files = [
            Path("/etc/pip.conf"),
            *(Path(d) / "pip" / "pip.conf" for d in xdg),
            home / ".pip" / "pip.conf",
            home / ".config" / "pip" / "pip.conf",
        ]
        if environ.get("PIP_CONFIG_FILE"):
            config_files.append(Path(environ["PIP_CONFIG_FILE"]))
    values = [environ.get("PIP_FIND_LINKS", "")]
    for path in config_files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError):
            continue
        values += [parser.get(s, "find-links", fallback="") for s in ("global", "install")]
    folders: list[Path] = []
    for value in values:
        for link in value.split():
            folder = Path(link.removeprefix("file://"))
            if "://" not in link.removeprefix("file://") and folder.is_dir():
                folders.append(folder)
    return list(dict.fromkeys(folders))


def local_torch_wheel(version: str, folders: Sequence[Path]) -> Path | None:
    """The CPU build of torch==`version` for the image's Python, in one of `folders`."""
    for folder in folders:
        found = sorted(folder.glob(f"torch-{version}+cpu-{PYTHON_TAG}-{PYTHON_TAG}-*x86_64.whl"))
        if found:
            return found[0]
    return None


def build_command(tag: str, wheel: Path | None) -> list[str]:
    cmd = [
        *PODMAN,
        "build",
        "--format",
        "docker",  # the OCI format has no HEALTHCHECK
        "--pull=never",
        "--network",
        "host",
        "--volume",
        "/etc/ssl/certs:/etc/ssl/certs:ro",
        "--build-arg",
        f"PYTHON_IMAGE={BASE_IMAGE}",
        "--build-arg",
        "PULL_MODELS=0",
        "--tag",
        tag,
    ]
    if wheel is not None:
        cmd += [
            "--volume",
            f"{wheel.parent}:{WHEELS_MOUNT}:ro",  # /mnt exists, empty: nothing is left
            "--build-arg",
            f"TORCH_SOURCE=--find-links {WHEELS_MOUNT}",
        ]
    return [*cmd, str(ROOT)]


def cache_use(log: str) -> tuple[int, int, list[str]]:
    """(steps, steps from cache, the steps that ran) in a podman build log."""
    steps: list[str] = []
    cached: set[int] = set()
    for line in log.splitlines():
        if re.match(r"(\[\d+/\d+\] )?STEP \d+/\d+: ", line):
            steps.append(line)
        elif line.startswith("--> Using cache") and steps:
            cached.add(len(steps) - 1)
    ran = [s for i, s in enumerate(steps) if i not in cached and " FROM " not in f" {s}"]
    return len(steps), len(cached), ran


def build(tag: str, report: Report) -> None:
    wheel = local_torch_wheel(pinned_torch(), pip_find_links())
    if wheel is not None:
        say(f"torch from {wheel} (its folder mounted at {WHEELS_MOUNT}, at build time only)")
    else:
        say("no local torch CPU wheel in pip's find-links: torch from the PyTorch CPU index")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / "build.log"
    cmd = build_command(tag, wheel)
    print("+", shlex.join(cmd), flush=True)
    t0 = time.monotonic()
    lines: list[str] = []
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(f"{time.monotonic() - t0:6.1f}s {line}")  # when each step ran
            lines.append(line.rstrip("\n"))
        code = process.wait()
    report.build_s = time.monotonic() - t0
    if code != 0:
        raise CheckFailed(f"podman build exited {code} (log: {log_path})")
    report.steps, report.cached, ran = cache_use("\n".join(lines))
    say(
        f"built {tag} in {report.build_s:.0f} s: {report.cached} of {report.steps} steps from "
        f"cache (log: {log_path.relative_to(ROOT)}); ran:"
    )
    for step in ran:
        print(f"    {step[:110]}", flush=True)


# -- 4. inspection ---------------------------------------------------------------------------


def inspect(tag: str, report: Report) -> None:
    raw = podman("image", "inspect", tag, capture=True).stdout
    info = json.loads(raw)[0]
    report.size_bytes = int(info["Size"])
    config = info.get("Config") or {}
    user = str(config.get("User", ""))
    health = info.get("Healthcheck") or config.get("Healthcheck") or {}
    say(f"size {report.size_bytes / 1e6:,.0f} MB, user {user!r}, health check {health.get('Test')}")
    if user in {"", "0", "root"}:
        raise CheckFailed(f"the image runs as {user or 'root'}")
    if not health.get("Test"):
        raise CheckFailed("the image has no HEALTHCHECK")
    found = json.loads(one_shot(tag, "python", "-c", INSPECT, capture=True).stdout)
    say(f"runtime: {json.dumps(found)}")
    problems = [f"{key}: {found[key]}" for key in ("leftovers", "compilers", "tests") if found[key]]
    if found["uid"] == 0:
        problems.append("runs as root")
    if found["torch_cuda"] is not None:
        problems.append(f"torch {found['torch']} is a CUDA build")
    if problems:
        raise CheckFailed(f"the runtime stage holds what it must not: {'; '.join(problems)}")
    one_shot(tag, "pip", "check")


# -- 5. smoke --------------------------------------------------------------------------------


def smoke(tag: str, report: Report) -> None:
    t0 = time.monotonic()
    result = one_shot(
        tag, "newsmt", "smoke", "--demo-size", "tiny", capture=True, check=False, timeout=1800
    )
    sys.stdout.write(result.stdout + result.stderr)
    verdict = re.search(r"^(PASSED|FAILED): .*?(\d+) stages, (\d+) passed", result.stdout, re.M)
    if result.returncode != 0 or verdict is None or verdict.group(1) != "PASSED":
        raise CheckFailed(f"newsmt smoke in the container exited {result.returncode}")
    report.smoke = f"{verdict.group(3)}/{verdict.group(2)}"
    say(f"smoke in the container: {report.smoke} stages passed in {time.monotonic() - t0:.0f} s")


# -- 6 and 7. serve, then stop ---------------------------------------------------------------


class HostClient:
    """The Python that runs the client from the host: the repo's .venv if it has newsmt, else
    the image in a container on the host network (which reaches the published port as a host
    process does)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.containers: list[str] = []
        venv = ROOT / ".venv" / "bin" / "python"
        found = venv.exists() and run([str(venv), "-c", "import newsmt.client"], check=False)
        self.venv = venv if found and found.returncode == 0 else None
        where = "the image's, in a container on the host network"
        say(f"client: {f'{self.venv} (the repo virtualenv)' if self.venv else where}")

    def python(self) -> list[str]:
        if self.venv is not None:
            return [str(self.venv)]
        name = f"newsmt-image-client-{os.getpid()}-{len(self.containers)}"
        self.containers.append(name)
        options = ["--rm", "-i", "--no-healthcheck", "--network", "host", "--name", name]
        return [*PODMAN, "run", *options, "--entrypoint", "python", self.tag]

    def newsmt(self, *args: str) -> list[str]:
        return [*self.python(), "-m", "newsmt.cli.main", *args]


def remove(names: Sequence[str]) -> None:
    for name in names:
        podman("rm", "--force", "--time", "0", name, check=False, capture=True)


@contextmanager
def removed(name: str) -> Iterator[None]:
    """Remove the container at the end, whatever happened."""
    try:
        yield
    finally:
        remove([name])


def wait_serving(client: HostClient, address: str, started: float) -> float:
    """Seconds from `started` (epoch) until the server at `address` is SERVING."""
    poll = run(
        [*client.python(), "-c", POLL, address, f"{started:.3f}", str(SERVING_LIMIT_S)],
        capture=True,
        check=False,
        timeout=SERVING_LIMIT_S + 60,
    )
    if poll.returncode != 0:
        why = poll.stderr.strip().splitlines()[-1:] or [f"{SERVING_LIMIT_S:.0f} s passed"]
        raise CheckFailed(f"{address} not SERVING: {why[0]}")
    return float(poll.stdout.strip().splitlines()[-1])


def serve_and_stop(tag: str, report: Report) -> None:
    client = HostClient(tag)
    models = Path(tempfile.mkdtemp(prefix="newsmt-image-models-"))
    models.chmod(0o755)  # the server (user 10001) reads it
    name = f"newsmt-image-check-{os.getpid()}"
    try:
        # As compose.yaml's `models` service: root writes files everyone may read.
        demo = ["make-demo", "--size", "tiny", "--convert", "--model-dir", "/models"]
        options = ["--user", "0:0", "--volume", f"{models}:/models"]
        one_shot(tag, "newsmt", "models", *demo, options=options, timeout=900)
        port = free_port()
        address = f"127.0.0.1:{port}"
        with removed(name):
            started = time.time()
            volume, publish = f"{models}:/models:ro", f"{address}:50051"
            podman("run", "--detach", "--name", name, "-p", publish, "-v", volume, tag)
            try:
                report.serving_s = wait_serving(client, address, started)
            except CheckFailed:
                podman("logs", "--tail", "20", name, check=False)
                raise
            say(f"SERVING {report.serving_s:.1f} s after podman run")
            health = run(client.newsmt("health", "--address", address), capture=True)
            say(f"newsmt health from the host: {health.stdout.strip()}")
            podman("healthcheck", "run", name)
            say("the image's HEALTHCHECK passes (podman healthcheck run)")
            translate = client.newsmt("translate", "--to", "ru", "--address", address)
            translated = run(translate, capture=True, stdin=SAMPLE)
            if not translated.stdout.strip():
                raise CheckFailed("newsmt translate through the published port printed nothing")
            say(f"translated through {address}: {len(translated.stdout)} chars (demo models)")
            stop(name, report)
    finally:
        shutil.rmtree(models, ignore_errors=True)
        remove(client.containers)  # client containers left by a timeout


def stop(name: str, report: Report) -> None:
    t0 = time.monotonic()
    podman("stop", "--time", str(STOP_GRACE_S), name, capture=True, timeout=STOP_GRACE_S + 60)
    report.stop_s = time.monotonic() - t0
    state = json.loads(podman("inspect", name, capture=True).stdout)[0]["State"]
    code = int(state["ExitCode"])
    say(f"podman stop: exit {code} in {report.stop_s:.1f} s (grace {STOP_GRACE_S} s)")
    if code != 0 or report.stop_s >= STOP_GRACE_S:
        raise CheckFailed(f"SIGTERM: exit {code} after {report.stop_s:.1f} s")
    output = podman("logs", name, capture=True)
    logs = (output.stdout + output.stderr).splitlines()
    not_json = [line for line in logs if line.strip() and not _is_json_object(line)]
    if not logs or not_json:
        raise CheckFailed(f"{len(not_json)} of {len(logs)} log lines are not JSON objects")
    say(f"{len(logs)} log lines, each a JSON object")


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# -- 8. compose (--compose) ------------------------------------------------------------------


def podman_compose() -> list[str]:
    """podman-compose from PyPI in a virtualenv under build/image, with podman's flags."""
    venv = LOG_DIR / "podman-compose"
    exe = venv / "bin" / "podman-compose"
    if not exe.exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--quiet", PODMAN_COMPOSE], timeout=900)
    return [str(exe), *(f"--podman-args={arg}" for arg in PODMAN[1:])]


def compose(tag: str, report: Report) -> None:
    """compose.yaml's services with tiny demo models, started in the order its conditions ask
    for: podman 4.3 cannot wait for `service_healthy` (podman-compose skips it, and health
    checks need systemd), so each step waits here instead."""
    client = HostClient(tag)
    with tempfile.TemporaryDirectory(prefix="newsmt-compose-") as tmp:
        tiny = Path(tmp) / "compose.tiny.yaml"
        tiny.write_text(COMPOSE_TINY)
        files = ["-f", str(ROOT / "compose.yaml"), "-f", str(tiny)]
        pc = [*podman_compose(), "--project-name", "newsmt-image-check", *files]
        try:
            run([*pc, "run", "--rm", "models"], timeout=900)
            started = time.time()
            run([*pc, "up", "--detach", "--no-deps", "--no-build", "replica1", "replica2"])
            for port in (50051, 50052):
                say(
                    f"compose replica on {port}: SERVING {wait_serving(client, f'127.0.0.1:{port}', started):.1f} s after up"
                )
            result = run(
                [*pc, "run", "--rm", "--no-deps", "smoke"], capture=True, check=False, timeout=900
            )
            sys.stdout.write(result.stdout + result.stderr)
            verdicts = re.findall(r"^PASSED: .*?(\d+) stages, (\d+) passed", result.stdout, re.M)
            if result.returncode != 0 or len(verdicts) != 2:
                raise CheckFailed(f"compose smoke exited {result.returncode}")
            passed = "+".join(f"{p}/{n}" for n, p in verdicts)
            report.compose = f"2 replicas SERVING, smoke {passed} stages passed"
            say(f"compose: {report.compose}")
        finally:
            run([*pc, "down", "--volumes"], check=False, capture=True)
            remove(client.containers)


# -- main ------------------------------------------------------------------------------------


def image_tag() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return f"newsmt:{project['version']}"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="dev.py image", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--skip-if-unsupported",
        action="store_true",
        help="exit 0, saying why, where this machine cannot run containers (CI)",
    )
    parser.add_argument("--tag", default=None, help="image tag (default: newsmt:<version>)")
    parser.add_argument(
        "--compose",
        action="store_true",
        help="then run compose.yaml with podman-compose (from PyPI): two replicas and smoke",
    )
    args = parser.parse_args(argv)
    report = Report(image=args.tag or image_tag())
    t0 = time.monotonic()
    try:
        ensure_tools()
        ensure_base_image()
        check_runtime()
        build(report.image, report)
        inspect(report.image, report)
        smoke(report.image, report)
        serve_and_stop(report.image, report)
        if args.compose:
            compose(report.image, report)
    except Unsupported as exc:
        say(f"cannot run containers on this machine: {exc}")
        if args.skip_if_unsupported:
            say("skipped: the image was neither built nor run")
            return 0
        return EXIT_UNSUPPORTED
    except CheckFailed as exc:
        say(f"FAILED: {exc}")
        return EXIT_FAILED
    say(f"all checks passed in {time.monotonic() - t0:.0f} s")
    print(report.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

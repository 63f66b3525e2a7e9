"""The container image tooling: scripts/image.py's parsing and build command, the Dockerfile's
layer order and dependency list, scripts/pull_models.py. Offline; nothing here runs podman
(`python3 scripts/dev.py image` does, in CI)."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from newsmt.models.lock import LockEntry
from newsmt.models.registry import ModelSpec, Registry

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", "")


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"scripts_{name}", ROOT / "scripts" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


image = load_script("image")
pull_models = load_script("pull_models")


def stages() -> dict[str, list[str]]:
    """Each stage's instruction lines, by stage name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("FROM "):
            current = found.setdefault(line.split(" AS ")[-1].strip(), [])
        elif line.strip() and not line.startswith("#"):
            current.append(line)
    return found


# -- the Dockerfile --------------------------------------------------------------------------


def test_runtime_copies_dependencies_then_models_then_code() -> None:
    runtime = [line for line in stages()["runtime"] if line.startswith("COPY")]
    sources = [re.search(r"--from=(\w+)", line) for line in runtime]
    order = [m.group(1) for m in sources if m is not None]
    assert order == ["deps", "models", "code"]
    assert runtime[-1].startswith("COPY --from=code"), "code is the last layer"


@pytest.mark.parametrize(
    ("stage", "wanted"),
    [
        ("requirements", {"pyproject.toml", "clients/python/pyproject.toml"}),
        ("deps", {"--from=requirements", "/requirements.txt"}),
        ("models", {"service/newsmt/core", "service/newsmt/models", "scripts/pull_models.py"}),
    ],
)
def test_cached_stages_copy_no_code_they_do_not_need(stage: str, wanted: set[str]) -> None:
    copies = [line.split()[1:] for line in stages()[stage] if line.startswith("COPY")]
    assert {part for args in copies for part in args[:-1]} == wanted


def test_torch_source_defaults_to_the_pytorch_cpu_index() -> None:
    found = re.search(r'^ARG TORCH_SOURCE="(.+)"$', DOCKERFILE, re.MULTILINE)
    assert found is not None
    assert found.group(1) == "--index-url https://download.pytorch.org/whl/cpu"


def test_dependency_list_is_both_distributions_without_the_client(tmp_path: Path) -> None:
    """Run the requirements stage's inline script on the repository's two pyproject.toml files."""
    code = re.search(r'python3 -c "(.+?)"\s+> /requirements.txt', DOCKERFILE)
    assert code is not None
    (tmp_path / "server.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    (tmp_path / "client.toml").write_bytes((ROOT / "clients/python/pyproject.toml").read_bytes())
    script = code.group(1).replace("/tmp/", f"{tmp_path}/")
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    wanted = [
        dep
        for path in ("clients/python/pyproject.toml", "pyproject.toml")
        for dep in tomllib.loads((ROOT / path).read_text())["project"]["dependencies"]
        if not dep.startswith("newsmt-client")
    ]
    assert [line for line in out if line] == wanted
    assert any(line.startswith("torch==") for line in out)


# -- scripts/image.py ------------------------------------------------------------------------


def test_apt_sources_reads_one_line_and_deb822_files(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb [arch=amd64] http://one.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
    )
    folder = tmp_path / "sources.list.d"
    folder.mkdir()
    (folder / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://deb.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\n"
    )
    (folder / "notes.txt").write_text("deb http://ignored.example/debian bookworm main\n")
    entries = image.apt_sources([tmp_path / "sources.list", folder])
    assert entries == [
        ("http://one.example/debian", "bookworm"),
        ("http://deb.example/debian", "bookworm"),
        ("http://deb.example/debian", "bookworm-updates"),
        ("http://sec.example/debian-security", "bookworm-security"),
    ]
    assert image.debian_mirrors(entries[1:], "bookworm") == [
        "deb http://deb.example/debian bookworm main",
        "deb http://deb.example/debian bookworm-updates main",
        "deb http://sec.example/debian-security bookworm-security main",
    ]


def test_debian_mirrors_for_bookworm_from_another_release() -> None:
    lines = image.debian_mirrors([("http://mirror.example/debian", "trixie")], "trixie")
    assert lines == ["deb http://mirror.example/debian bookworm main"]


def test_no_debian_mirror_is_an_error() -> None:
    with pytest.raises(image.CheckFailed, match="no Debian mirror"):
        image.debian_mirrors([("https://apt.example/repo", "stable")], "bookworm")


def test_find_links_from_environment_and_config_files(tmp_path: Path) -> None:
    wheels, more = tmp_path / "wheels", tmp_path / "more"
    wheels.mkdir()
    more.mkdir()
    conf = tmp_path / "pip.conf"
    conf.write_text(
        f"[global]\nfind-links = file://{more}\n    https://example.org/links\n"
        f"    {tmp_path / 'missing'}\n[install]\nfind-links = {wheels}\n"
    )
    broken = tmp_path / "broken.conf"
    broken.write_text("not = an ini file without a section\n")
    found = image.pip_find_links({"PIP_FIND_LINKS": str(wheels)}, [conf, broken, tmp_path / "no"])
    assert found == [wheels, more]


def test_local_torch_wheel_is_the_pinned_cpu_build_for_python_311(tmp_path: Path) -> None:
    for name in (
        "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl",  # CUDA build
        "torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl",
        "torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
    ):
        (tmp_path / name).touch()
    assert image.local_torch_wheel("2.13.0", [tmp_path]) is None
    wanted = tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    wanted.touch()
    assert image.local_torch_wheel("2.13.0", [tmp_path]) == wanted


def test_pinned_torch_is_read_from_pyproject(tmp_path: Path) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", image.pinned_torch())
    bare = tmp_path / "pyproject.toml"
    bare.write_text('[project]\nname = "x"\ndependencies = ["torch>=2"]\n')
    with pytest.raises(image.CheckFailed, match="pins no torch"):
        image.pinned_torch(bare)


def test_build_command_mounts_the_wheel_only_at_build_time() -> None:
    wheel = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
    cmd = image.build_command("newsmt:test", wheel)
    pairs = set(itertools.pairwise(cmd))
    assert ("--format", "docker") in pairs, "the OCI format would drop the HEALTHCHECK"
    assert ("--build-arg", "PULL_MODELS=0") in pairs
    assert ("--build-arg", "TORCH_SOURCE=--find-links /mnt") in pairs
    assert ("--volume", "/opt/wheels:/mnt:ro") in pairs
    default = image.build_command("newsmt:test", None)
    assert not any("TORCH_SOURCE" in part or "/mnt" in part for part in default)
    assert default[-1] == str(ROOT)


def test_cache_use_counts_steps_from_the_build_log() -> None:
    log = (
        "[1/2] STEP 1/3: FROM localhost/base AS deps\n"
        "[1/2] STEP 2/3: COPY pyproject.toml /tmp/\n--> Using cache 1a2b\n--> 1a2b\n"
        "[1/2] STEP 3/3: RUN pip install x\n--> Using cache 3c4d\n"
        "[2/2] STEP 1/2: FROM localhost/base AS runtime\n"
        "[2/2] STEP 2/2: COPY --from=deps /opt/venv /opt/venv\nCopying blob\n--> 5e6f\n"
    )
    steps, cached, ran = image.cache_use(log)
    assert (steps, cached) == (5, 2)
    assert ran == ["[2/2] STEP 2/2: COPY --from=deps /opt/venv /opt/venv"]


def test_summary_line_names_size_serving_time_and_smoke() -> None:
    report = image.Report(
        image="newsmt:0.1.0",
        size_bytes=1_234_000_000,
        build_s=61,
        steps=20,
        cached=17,
        smoke="7/7",
        serving_s=9.26,
        stop_s=1.2,
    )
    line = report.summary()
    assert "1,234 MB" in line and "SERVING 9.3 s" in line and "smoke 7/7 stages" in line
    assert "\n" not in line


# -- scripts/pull_models.py ------------------------------------------------------------------


class FakeStore:
    """Records what pull_all asks of a ModelStore; `broken` names fail to download."""

    def __init__(self, broken: set[str], converted: set[str]) -> None:
        self.broken, self.converted = broken, converted
        self.conversions: list[tuple[str, str]] = []
        self.recorded: dict[str, LockEntry] = {}

    def pull(self, spec: ModelSpec) -> Path:
        if spec.name in self.broken:
            raise OSError("no route to the hub")
        return Path("/models") / spec.name

    def lock_entry(self, spec: ModelSpec, path: Path) -> LockEntry:
        return LockEntry(spec.repo, spec.revision, f"commit-of-{path.name}", ())

    def record(self, entries: dict[str, LockEntry]) -> Path:
        self.recorded.update(entries)
        return Path("/models/newsmt.lock")

    def locate(self, spec: ModelSpec) -> ModelSpec:
        return spec

    def is_converted(self, local: ModelSpec, compute_type: str) -> bool:
        return local.name in self.converted

    def convert(self, local: ModelSpec, compute_type: str) -> Path:
        self.conversions.append((local.name, compute_type))
        return Path("/models/ct2") / local.name


def test_pull_models_pulls_locks_and_converts_each_model_and_counts_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = Registry.load()
    names = list(registry.models)
    store = FakeStore(broken={names[0]}, converted={names[1]})
    assert pull_models.pull_all(store, registry) == 1
    assert store.conversions == [(name, "int8") for name in names[2:]]
    assert sorted(store.recorded) == sorted(names[1:]), "every model pulled is in the lock"
    out, err = capsys.readouterr()
    assert f"{names[0]}: OSError" in err
    assert all(f"{name}: /models/{name} (commit commit-of-{name}" in out for name in names[1:])
    assert f"lock: /models/newsmt.lock ({len(names) - 1} model(s) recorded)" in out


def test_pull_models_usage() -> None:
    assert pull_models.main([]) == 2


def test_missing_tools_without_root_cannot_run_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image.shutil, "which", lambda name: None if name == "runc" else name)
    monkeypatch.setattr(image.os, "geteuid", lambda: 1000)
    with pytest.raises(image.Unsupported, match="runc not installed, and installing needs root"):
        image.ensure_tools()


@pytest.mark.parametrize(("flag", "code"), [([], 3), (["--skip-if-unsupported"], 0)])
def test_unsupported_machine_skips_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: list[str], code: int
) -> None:
    def no_podman() -> None:
        raise image.Unsupported("podman not installed and no apt-get to install them")

    monkeypatch.setattr(image, "ensure_tools", no_podman)
    assert image.main(flag) == code
    out = capsys.readouterr().out
    assert "cannot run containers on this machine: podman not installed" in out
    assert ("skipped" in out) == bool(flag)


@pytest.mark.parametrize("project", ["pyproject.toml", "clients/python/pyproject.toml"])
def test_every_package_on_disk_is_in_its_distribution(project: str) -> None:
    """The image installs both distributions from wheels, not editable: a subpackage missing
    from `packages` (setuptools' explicit list) is missing there, though tests pass in a venv."""
    path = ROOT / project
    setuptools = tomllib.loads(path.read_text())["tool"]["setuptools"]
    declared = set(setuptools["packages"])
    folders = setuptools.get("package-dir", {})
    on_disk = set()
    for package in declared:
        folder = path.parent / folders.get(package, package.replace(".", "/"))
        on_disk |= {
            ".".join([package, *init.parent.relative_to(folder).parts])
            for init in folder.rglob("__init__.py")
        }
    assert on_disk - declared == set()

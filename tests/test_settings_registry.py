from __future__ import annotations

import os
from pathlib import Path

import pytest

from newsmt.models.registry import Registry, RegistryError
from newsmt.server.app import plan_threads
from newsmt.server.cpu import cgroup_cpu_quota, usable_cpus
from newsmt.server.settings import Settings, SettingsError

from .conftest import running_server


def test_precedence_flags_env_file_defaults(tmp_path: Path) -> None:
    config = tmp_path / "newsmt.toml"
    config.write_text("[server]\nport = 6000\nmax_queue = 10\nlog_format = 'json'\n")
    env = {"NEWSMT_PORT": "7000", "NEWSMT_MAX_BATCH_TOKENS": "1024"}
    s = Settings.load({"port": 8000}, config_file=config, environ=env)
    assert s.port == 8000  # flag beats env and file
    assert s.max_batch_tokens == 1024  # env beats default
    assert s.max_queue == 10 and s.log_format == "json"  # file beats default
    assert s.max_batch_size == 64  # default
    assert Settings.load(environ=env).port == 7000


def test_bad_values_name_the_setting_and_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"\$NEWSMT_PORT"):
        Settings.load(environ={"NEWSMT_PORT": "abc"})
    with pytest.raises(SettingsError, match="--log-format must be text or json"):
        Settings.load({"log_format": "xml"}, environ={})
    config = tmp_path / "c.toml"
    config.write_text("nonsense = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'nonsense'"):
        Settings.load(config_file=config, environ={})


def test_threads_default_to_two_calls_sharing_the_cpus_and_refuse_oversubscription() -> None:
    def plan(cpus: int, **values: int) -> tuple[int, int]:
        threads = plan_threads(Settings.load(values, environ={}), cpus=cpus)
        return threads.intra, threads.inter

    # Two engine calls at once wherever there are two CPUs, the CPUs divided between them.
    assert plan(2) == (1, 2)
    assert plan(4) == (2, 2)
    assert plan(5) == (2, 2)
    assert plan(1) == (1, 1)
    # One call, asked for: every CPU but one, never zero.
    assert plan(4, inter_threads=1) == (3, 1)
    assert plan(2, inter_threads=1) == (1, 1)
    assert plan(1, inter_threads=1) == (1, 1)
    assert plan(8, inter_threads=4) == (2, 4)
    assert plan_threads(Settings.load(environ={}), cpus=4).grpc_workers == 64 + 8
    with pytest.raises(SettingsError, match="oversubscribe"):
        plan_threads(Settings.load({"intra_threads": 3, "inter_threads": 2}, environ={}), cpus=4)
    with pytest.raises(SettingsError, match="oversubscribe"):
        plan_threads(Settings.load({"inter_threads": 3}, environ={}), cpus=2)
    with pytest.raises(SettingsError, match="negative"):
        Settings.load({"inter_threads": -1}, environ={})


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_quota_files_are_read(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == quota


def test_usable_cpus_is_capped_by_the_quota_rounded_up(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert usable_cpus(tmp_path) == min(affinity, 2)
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cpus(tmp_path) == 1  # half a CPU still runs one thread


def test_default_registry() -> None:
    registry = Registry.load()
    assert set(registry.models) == {
        "opus-mt-en-ru",
        "opus-mt-ru-en",
        "opus-mt-en-es",
        "opus-mt-es-en",
        "distilbart-cnn-12-6",
    }
    assert registry.translator("ru", "en").repo == "Helsinki-NLP/opus-mt-ru-en"  # type: ignore[union-attr]
    assert registry.translator("ru", "es") is None
    assert registry.summarizer().architecture == "bart"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[models.a]\ntask = "translation"\n', "'source' is required"),
        ('[models.a]\ntask = "x"\nrepo = "r"\n', "'task' must be one of"),
        (
            '[models.a]\ntask = "translation"\nrepo = "r"\narchitecture = "marian"\nsource = "en"\ntarget = "en"\n',
            "source != target",
        ),
        (
            '[models.a]\ntask = "translation"\nrepo = "r"\narchitecture = "marian"\nsource = "en"\ntarget = "ru"\nrevison = "x"\n',
            "unknown keys revison",
        ),
        ("not toml", "not valid TOML"),
        ("", "at least one"),
    ],
)
def test_registry_errors_are_specific(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(body)
    with pytest.raises(RegistryError, match=message):
        Registry.load(path)


def test_pinned_revision_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[models.x]\ntask = "translation"\nrepo = "Helsinki-NLP/opus-mt-en-ru"\n'
        'revision = "0123abcd"\narchitecture = "marian"\nsource = "en"\ntarget = "ru"\n'
    )
    assert Registry.load(path).models["x"].revision == "0123abcd"


def test_ipv6_listen_address_is_bracketed() -> None:
    from newsmt.server.app import _listen_address

    assert _listen_address("::", 50051) == "[::]:50051"
    assert _listen_address("[::1]", 1) == "[::1]:1"
    assert _listen_address("0.0.0.0", 2) == "0.0.0.0:2"


def test_the_batching_waits_reach_every_model_batcher(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"--queue-quiet-ms must be 0\.\.1000"):
        Settings.load({"queue_quiet_ms": 2000}, environ={})
    registry = Registry.load().with_engine("identity")
    overrides = {"model_dir": tmp_path, "queue_quiet_ms": 7, "max_queue_delay_ms": 40}
    with running_server(registry, **overrides) as (srv, _):
        batcher = srv.pool.info("opus-mt-en-ru").batcher
        assert batcher is not None
        assert batcher.config.quiet == pytest.approx(0.007)
        assert batcher.config.max_delay == pytest.approx(0.040)

"""The CLI as a user runs it: real processes, real ports, exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SEEDS
from .support import NEWSMT, ServerProcess


def cli(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*NEWSMT, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, **kw
    )


def test_smoke_builds_demo_models_and_reports(tmp_path: Path) -> None:
    result = cli("smoke", "--demo-size", "tiny", "--model-dir", str(tmp_path / "models"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Building tiny demo models" in out
    assert "DEMO MODELS" in out and "RANDOM WEIGHTS" in out
    for stage in (
        "translate en>ru",
        "translate en>es",
        "summary en",
        "summary ru",
        "summary es",
        "back ru>en",
        "back es>en",
    ):
        assert stage in out
    assert "PASSED: 1 article(s), 7 stages, 7 passed, 0 failed" in out
    # Second run: demo models are cached, not rebuilt; JSON report.
    again = cli("smoke", "--json", "--model-dir", str(tmp_path / "models"))
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["ok"] and report["failed"] == 0 and report["passed"] == 7
    assert report["demo_warning"] and len(report["demo_models"]) == 5
    assert {s["stage"] for s in report["reports"][0]["stages"]} >= {"summary ru", "back es>en"}


def test_smoke_fails_with_usage_error_without_seeds(tmp_path: Path) -> None:
    result = cli("smoke", "--seeds", str(tmp_path))
    assert result.returncode == 2
    assert "no .txt articles" in result.stderr


def test_smoke_reports_failures_with_exit_code_1(tmp_path: Path) -> None:
    """A registry whose summarizer files are missing: summaries fail, the rest pass, exit 1."""
    registry = (ROOT / "service/newsmt/models/registry.toml").read_text()
    registry = registry.replace(
        'repo = "sshleifer/distilbart-cnn-12-6"',
        'repo = "sshleifer/distilbart-cnn-12-6"\nengine = "transformers"',
    )
    path = tmp_path / "registry.toml"
    path.write_text(registry)
    models = tmp_path / "models"
    assert (
        cli(
            "models",
            "make-demo",
            "--size",
            "tiny",
            "--model-dir",
            str(models),
            "--registry",
            str(path),
        ).returncode
        == 0
    )
    # Break the summarizer's weights: the model fails to load, its stages fail.
    (models / "demo" / "distilbart-cnn-12-6" / "model.safetensors").write_bytes(b"broken")
    result = cli("smoke", "--model-dir", str(models), "--registry", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL summary en" in result.stdout and "FAILED_PRECONDITION" in result.stdout
    assert "OK   translate en>ru" in result.stdout


def test_models_list_and_make_demo(tmp_path: Path) -> None:
    listing = cli("models", "list", "--model-dir", str(tmp_path))
    assert listing.returncode == 0
    assert listing.stdout.count("missing") == 5
    built = cli(
        "models", "make-demo", "opus-mt-en-ru", "--size", "tiny", "--model-dir", str(tmp_path)
    )
    assert built.returncode == 0 and "DEMO" in built.stderr
    listing = cli("models", "list", "--model-dir", str(tmp_path))
    assert "demo-tiny" in listing.stdout and listing.stdout.count("missing") == 4
    unknown = cli("models", "make-demo", "nope", "--model-dir", str(tmp_path))
    assert unknown.returncode == 2 and "not in the registry" in unknown.stderr


def test_models_pull_respects_offline_mode(tmp_path: Path) -> None:
    result = cli("models", "pull", "opus-mt-en-ru", "--model-dir", str(tmp_path))
    assert result.returncode == 1
    assert "HF_HUB_OFFLINE" in result.stderr


def test_serve_translate_health_and_sigterm(tmp_path: Path) -> None:
    registry = tmp_path / "registry.toml"
    text = (ROOT / "service/newsmt/models/registry.toml").read_text()
    registry.write_text(text.replace('task = "', 'engine = "identity"\ntask = "'))
    env = {"NEWSMT_REGISTRY": str(registry), "NEWSMT_LOG_FORMAT": "json"}
    log = tmp_path / "serve.log"
    with ServerProcess("--model-dir", str(tmp_path), env=env, log=log, ready_timeout=60) as server:
        address = server.address
        health = cli("health", "--address", address)
        assert health.returncode == 0 and "SERVING" in health.stdout
        article = (SEEDS / "000_c5d375cfc53bbf9d.txt").read_text()
        translated = cli(
            "translate",
            "--to",
            "ru",
            "--from",
            "en",
            "--address",
            address,
            input=article,
        )
        assert translated.returncode == 0, translated.stderr
        assert translated.stdout == article  # identity engine: exact, nothing added
        jsonl = cli(
            "translate",
            "--to",
            "es",
            "--format",
            "jsonl",
            "--address",
            address,
            str(SEEDS),
        )
        record = json.loads(jsonl.stdout.splitlines()[0])
        assert (
            record["ok"]
            and record["source_language"] == "en"
            and record["models"] == ["opus-mt-en-es"]
        )
        bad = cli("translate", "--to", "xx", "--address", address, input="Hello.")
        assert bad.returncode == 1 and "target_language_code" in bad.stderr
        summary = cli(
            "summarize",
            "--to",
            "en",
            "--max-sentences",
            "1",
            "--address",
            address,
            input="One. Two. Three.",
        )
        assert summary.returncode == 0 and summary.stdout.strip() == "One."
        documents_from_the_cli(address, tmp_path)
        assert server.stop(signal.SIGTERM, timeout=30) == 0
    logs = log.read_text()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(
        r.get("method") == "/newsmt.v1.TranslationService/Translate" and r.get("request_id")
        for r in lines
    )
    assert any("SIGTERM" in r["message"] for r in lines)
    assert "Anatoly Antonov" not in logs  # article text never reaches the log
    down = cli("health", "--address", address, "--timeout", "1")
    assert down.returncode == 1


def documents_from_the_cli(address: str, tmp_path: Path) -> None:
    """HTML and Markdown by extension, --markup, --glossary and --keep (identity engine)."""
    page = tmp_path / "page.html"
    page.write_text('<p>The <b>minister</b> met <a href="/x?a=1&amp;b=2">Reuters</a>.</p>\n')
    article = tmp_path / "article.md"
    article.write_text("## Results\n\nThe *minister* said [no](https://ex.com/a_(b)).\n")
    out = cli("translate", "--to", "ru", "--from", "en", "--address", address, str(page))
    assert out.returncode == 0 and out.stdout == page.read_text()
    out = cli("translate", "--to", "ru", "--format", "jsonl", "--address", address, str(article))
    record = json.loads(out.stdout)
    assert record["format"] == "markdown" and record["text"] == article.read_text()
    forced = cli(
        "translate", "--to", "ru", "--markup", "html", "--format", "jsonl", "--address", address,
        input="<p>Hi &amp; bye.</p>",
    )  # fmt: skip
    assert json.loads(forced.stdout)["format"] == "html"
    glossary = tmp_path / "terms.tsv"
    glossary.write_text("# source\ttarget\nminister\tминистр\nReuters\n")
    out = cli(
        "translate", "--to", "ru", "--from", "en", "--format", "jsonl", "--address", address,
        "--glossary", str(glossary), "--keep", "Moscow", str(page),
    )  # fmt: skip
    record = json.loads(out.stdout)
    assert "министр" in record["text"] and "Reuters" in record["text"]
    assert set(record["applied_terms"]) == {"minister", "Reuters"}
    bad = tmp_path / "bad.tsv"
    bad.write_text("\tорфан\n")
    out = cli("translate", "--to", "ru", "--glossary", str(bad), "--address", address, str(page))
    assert out.returncode == 2 and "bad.tsv:1: empty source term" in out.stderr


def test_serve_refuses_bad_settings() -> None:
    result = cli("serve", "--intra-threads", "64", "--inter-threads", "4", "--port", "0")
    assert result.returncode == 2
    assert "oversubscribe" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-batch-size", "0"], "--max-batch-size must be >= 1"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (
            ["--max-message-bytes", "1000", "--max-document-bytes", "1000"],
            "--max-message-bytes must exceed --max-document-bytes",
        ),
    ],
)
def test_bad_settings_are_named_as_the_flags_the_user_typed(args: list[str], says: str) -> None:
    result = cli("serve", "--port", "0", *args)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["smoke"],
        ["translate"],
        ["summarize"],
        ["models"],
        ["models", "pull"],
        ["models", "make-demo"],
        ["health"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = cli(*command, "--help", timeout=60)
    assert result.returncode == 0
    assert "usage: newsmt" in result.stdout and len(result.stdout) > 200


def test_stubs_match_protos() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_readme_settings_table_matches_the_code() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/settings_table.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- settings:start -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert block == result.stdout.rstrip("\n"), (
        "README settings table is stale: run scripts/settings_table.py"
    )


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_serve_on_a_busy_port_says_which_in_one_line(tmp_path: Path, flag: str) -> None:
    """It ended in a traceback from gRPC or from the metrics server."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--metrics-port": "-1", flag: str(port)}
        result = cli(
            "serve", "--host", "127.0.0.1", "--model-dir", str(tmp_path),
            *(item for pair in ports.items() for item in pair),
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"newsmt serve: {flag} {port}: cannot listen on 127.0.0.1:{port}")


def test_a_port_taken_after_the_check_is_still_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe runs first; gRPC's bind and the metrics server's bind say the same when a
    port is taken between the probe and the bind."""
    from newsmt.models.registry import Registry
    from newsmt.server import app
    from newsmt.server.settings import Settings, SettingsError

    registry = Registry.load().with_engine("identity")
    monkeypatch.setattr(app, "check_port_free", lambda *_: None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy_grpc = Settings.load(
            {"host": "127.0.0.1", "port": port, "metrics_port": -1, "model_dir": tmp_path},
            environ={},
        )
        with pytest.raises(SettingsError, match=f"--port {port}: cannot listen"):
            app.create_server(busy_grpc, registry)
        busy_metrics = Settings.load(
            {"host": "127.0.0.1", "port": 0, "metrics_port": port, "model_dir": tmp_path},
            environ={},
        )
        server, _ = app.create_server(busy_metrics, registry)
        with pytest.raises(SettingsError, match=f"--metrics-port {port}: cannot listen"):
            server.start()

"""TLS, mutual TLS, bearer tokens, per-client rate limits, and safe model loading."""

from __future__ import annotations

import contextlib
import datetime
import pickle
import shutil
import statistics
import threading
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsmt.client import (
    AuthenticationError,
    Client,
    OverloadedError,
    UnavailableError,
    tls_credentials,
)
from newsmt.models.registry import Registry
from newsmt.models.store import ModelStore
from newsmt.server.auth import TokenAuth, Unauthenticated

from .conftest import running_server
from .support import wait_for

TOKEN_A = "token-a-0123456789abcdef"
TOKEN_B = "token-b-0123456789abcdef"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str, key, issuer_name: str, issuer_key, *, ca: bool, san: bool
) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _cert("newsmt test CA", ca_key, "newsmt test CA", ca_key, ca=True, san=False)
    files: dict[str, Path] = {}

    def write(name: str, cert: x509.Certificate, key) -> None:  # type: ignore[no-untyped-def]
        files[f"{name}.crt"] = d / f"{name}.crt"
        files[f"{name}.crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            files[f"{name}.key"] = d / f"{name}.key"
            files[f"{name}.key"].write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )

    write("ca", ca, None)
    server_key, client_key = _key(), _key()
    write(
        "server",
        _cert("localhost", server_key, "newsmt test CA", ca_key, ca=False, san=True),
        server_key,
    )
    write(
        "client",
        _cert("client", client_key, "newsmt test CA", ca_key, ca=False, san=False),
        client_key,
    )
    return files


def identity_registry() -> Registry:
    return Registry.load().with_engine("identity")


def test_tls(pki: dict[str, Path], tmp_path: Path) -> None:
    with running_server(
        identity_registry(),
        model_dir=tmp_path,
        host="localhost",
        tls_cert=pki["server.crt"],
        tls_key=pki["server.key"],
    ) as (_, local):
        address = local.replace("127.0.0.1", "localhost")
        with Client(address, credentials=tls_credentials(pki["ca.crt"]), timeout=10) as client:
            assert client.translate(["Over TLS."], source="en", target="ru")[0].text == "Over TLS."
        with Client(address, timeout=3, retries=0) as plaintext, pytest.raises(UnavailableError):
            plaintext.translate(["In clear."], source="en", target="ru")


def test_mutual_tls_requires_a_client_certificate(pki: dict[str, Path], tmp_path: Path) -> None:
    with running_server(
        identity_registry(),
        model_dir=tmp_path,
        host="localhost",
        tls_cert=pki["server.crt"],
        tls_key=pki["server.key"],
        tls_client_ca=pki["ca.crt"],
    ) as (_, local):
        address = local.replace("127.0.0.1", "localhost")
        creds = tls_credentials(pki["ca.crt"], pki["client.crt"], pki["client.key"])
        with Client(address, credentials=creds, timeout=10) as client:
            assert client.list_models()
        with (
            Client(
                address, credentials=tls_credentials(pki["ca.crt"]), timeout=3, retries=0
            ) as anonymous,
            pytest.raises(UnavailableError),
        ):
            anonymous.list_models()


def test_bearer_token_on_every_method(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# clients\n{TOKEN_A}\n\n{TOKEN_B}\n")
    with running_server(identity_registry(), model_dir=tmp_path, auth_tokens_file=tokens) as (
        _,
        address,
    ):
        for token in (None, "wrong-token-0123456789"):
            with Client(address, token=token, timeout=5, retries=0) as client:
                calls = [
                    lambda c=client: c.translate(["x"], source="en", target="ru"),
                    lambda c=client: c.detect_language(["x"]),
                    lambda c=client: c.list_languages(),
                    lambda c=client: c.list_models(),
                    lambda c=client: c.summarize("x", source="en"),
                    lambda c=client: c.process_article("t", "b", targets=["ru"]),
                ]
                for call in calls:
                    with pytest.raises(AuthenticationError) as info:
                        call()
                    assert info.value.code is grpc.StatusCode.UNAUTHENTICATED
                    assert "0123456789" not in info.value.message  # never echoes what was sent
                assert client.health() == "SERVING"  # probes need no token
        with grpc.insecure_channel(address) as channel:
            from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            with pytest.raises(grpc.RpcError) as rpc_info:
                list(stub.ServerReflectionInfo(iter([request]), timeout=5))
            assert rpc_info.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        for token in (TOKEN_A, TOKEN_B):
            with Client(address, token=token, timeout=5) as client:
                assert client.translate(["Hi."], source="en", target="ru")[0].text == "Hi."


def test_token_check_compares_every_token_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = TokenAuth([TOKEN_A, TOKEN_B, "c" * 32])
    assert auth.check([("authorization", f"Bearer {TOKEN_B}")]) == "token#1"
    for header in (
        "",
        "Bearer",
        f"Basic {TOKEN_A}",
        f"Bearer {TOKEN_A}x",
        f"Bearer {TOKEN_A[:-1]}",
    ):
        with pytest.raises(Unauthenticated):
            auth.check([("authorization", header)])
    with pytest.raises(ValueError, match="16 characters"):
        TokenAuth(["short"])
    # Behaviour, not source text: every check runs the constant-time comparison against every
    # token, whether the first matches, a later one does, or none does (no early exit to time).
    import hmac

    import newsmt.server.auth as auth_module

    calls: list[bytes] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return compare(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    for presented in (TOKEN_A, "c" * 32, TOKEN_B + "x"):
        calls.clear()
        with contextlib.suppress(Unauthenticated):
            auth.check([("authorization", f"Bearer {presented}")])
        assert len(calls) == 3


def test_rate_limit_isolates_an_abusive_client(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN_A}\n{TOKEN_B}\n")
    with running_server(
        identity_registry(),
        model_dir=tmp_path,
        auth_tokens_file=tokens,
        rate_limit_rps=20,
        rate_limit_burst=10,
    ) as (_, address):
        stop = threading.Event()
        refused = [0]
        accepted = [0]

        def abuse() -> None:
            with Client(address, token=TOKEN_A, timeout=5, retries=0) as abuser:
                while not stop.is_set():
                    try:
                        abuser.translate(["spam"], source="en", target="ru")
                        accepted[0] += 1
                    except OverloadedError as exc:
                        assert exc.retry_after is not None and exc.retry_after > 0
                        refused[0] += 1

        with Client(address, token=TOKEN_B, timeout=5, retries=0) as polite:
            baseline = []
            for _ in range(10):
                t0 = time.monotonic()
                polite.translate(["Hello."], source="en", target="ru")
                baseline.append(time.monotonic() - t0)
                time.sleep(0.06)  # the polite pace (~16/s), within B's own 20/s: part of the test
            abusers = [threading.Thread(target=abuse) for _ in range(2)]
            for t in abusers:
                t.start()
            # A's burst is spent and its limit bites before B's second round starts.
            wait_for(lambda: refused[0] > 0, 5, what="the abuser refused")
            during = []
            for _ in range(10):  # 10 requests at ~16/s: within B's own limit
                t0 = time.monotonic()
                polite.translate(["Hello."], source="en", target="ru")
                during.append(time.monotonic() - t0)
                time.sleep(0.06)  # the same polite pace
            stop.set()
            for t in abusers:
                t.join(10)
        assert refused[0] > 10 and accepted[0] <= 10 + 20 * 2  # burst + rate x ~1.5 s
        assert statistics.median(during) < statistics.median(baseline) + 0.05


def test_model_loading_refuses_pickled_code(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A pytorch_model.bin that runs code when unpickled must not load (weights-only)."""
    spec = Registry.load().models["opus-mt-en-ru"]
    local = ModelStore(tiny_model_dir).locate(spec)
    assert local is not None
    evil_dir = tmp_path / "models" / "demo" / spec.name
    shutil.copytree(local.path, evil_dir)
    (evil_dir / "model.safetensors").unlink()
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (marker,))

    with (evil_dir / "pytorch_model.bin").open("wb") as f:
        pickle.dump({"weights": Exploit()}, f)
    registry = Registry(models={spec.name: spec})
    with running_server(registry, model_dir=tmp_path / "models") as (server, _):
        assert server.pool.info(spec.name).state.value == "failed"
    assert not marker.exists(), "loading ran code from a pickle"


def test_remote_code_is_never_trusted(tiny_model_dir: Path, tmp_path: Path) -> None:
    import json

    spec = Registry.load().models["opus-mt-en-ru"]
    local = ModelStore(tiny_model_dir).locate(spec)
    assert local is not None
    model_dir = tmp_path / "models" / "demo" / spec.name
    shutil.copytree(local.path, model_dir)
    marker = tmp_path / "pwned"
    (model_dir / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    config = json.loads((model_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSeq2SeqLM": "evil.Model", "AutoConfig": "evil.Config"}
    (model_dir / "config.json").write_text(json.dumps(config))
    registry = Registry(models={spec.name: spec})
    with running_server(registry, model_dir=tmp_path / "models"):
        pass
    assert not marker.exists(), "loading ran the repository's own code"

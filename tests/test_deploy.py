"""Static checks of the deployment files (deploy/k8s/, compose.yaml): schema validation and the
invariants between them, the Dockerfile and the server's settings. Offline; no cluster, no
Docker engine."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from newsmt.server.settings import ENV_PREFIX, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"

#: Oldest Kubernetes the manifests support (native gRPC probes are GA since 1.27), and the
#: newest that kubernetes-validate ships schemas for.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
DEFAULTS = Settings()


# -- loading ---------------------------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    """Every resource in deploy/k8s, by "Kind/name"."""
    found: dict[str, dict[str, Any]] = {}
    for path in manifests():
        for doc in load_all(path):
            key = f"{doc['kind']}/{doc['metadata']['name']}"
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


@pytest.fixture(scope="module")
def deployment(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    [dep] = [r for r in resources.values() if r["kind"] == "Deployment"]
    return dep


@pytest.fixture(scope="module")
def pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return dict(deployment["spec"]["template"]["spec"])


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    [only] = pod["containers"]
    return dict(only)


@pytest.fixture(scope="module")
def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # resolves `<<` merge keys
    return dict(data)


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def dockerfile(instruction: str) -> list[str]:
    """The arguments of every `instruction` line in the runtime stage of the Dockerfile."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    runtime = text.rsplit("\nFROM ", 1)[1]
    return [
        m.group(1).strip()
        for m in re.finditer(rf"^{instruction}\s+(.+)$", runtime, flags=re.MULTILINE)
    ]


def dockerfile_env() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for args in dockerfile("ENV"):
        pairs.update(re.findall(r"(\w+)=(\S+)", args))
    return pairs


def cpus(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


_BYTES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}


def memory(quantity: str | int) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMG])?", str(quantity))
    assert m, f"unparsed memory quantity {quantity!r}"
    return int(float(m.group(1)) * _BYTES.get(m.group(2) or "", 1))


def probes(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}


def budget(probe: dict[str, Any]) -> int:
    """Seconds of consecutive failures before the probe acts."""
    return int(probe.get("periodSeconds", 10)) * int(probe.get("failureThreshold", 3))


def prestop_sleep(container: dict[str, Any]) -> float:
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    command = pre.get("exec", {}).get("command", [])
    assert command[:1] == ["sleep"], f"preStop is not a sleep: {pre}"
    return float(command[1])


# -- schemas ---------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    [kustomization] = load_all(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in manifests()]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path, version: str) -> None:
    docs = load_all(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc}")


def test_strict_validation_catches_a_misspelt_field(deployment: dict[str, Any]) -> None:
    """The schema check above is not vacuous: strict mode rejects an unknown field."""
    bad = copy.deepcopy(deployment)
    container = bad["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


# -- the deployment --------------------------------------------------------------------------


def test_probes_are_native_grpc_on_the_grpc_port(container: dict[str, Any]) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for name, probe in probes(container).items():
        handlers = {"grpc", "exec", "httpGet", "tcpSocket"} & probe.keys()
        assert handlers == {"grpc"}, f"{name} is not a native gRPC probe: {handlers}"
        assert probe["grpc"]["port"] == ports["grpc"] == DEFAULTS.port, name
        assert probe["grpc"].get("service", "") == "", f"{name} must check the whole server"


def test_probe_budgets(container: dict[str, Any], pod: dict[str, Any]) -> None:
    p = probes(container)
    # Models take minutes to load and warm up; the server is NOT_SERVING meanwhile.
    assert budget(p["startupProbe"]) >= 300
    # Liveness restarts only a server that stopped answering, never one that is merely slow
    # or draining (health NOT_SERVING for the whole termination sequence).
    assert budget(p["livenessProbe"]) > budget(p["readinessProbe"])
    assert budget(p["livenessProbe"]) > pod["terminationGracePeriodSeconds"]
    assert p["livenessProbe"].get("timeoutSeconds", 1) >= 5


def test_termination_grace_covers_prestop_and_shutdown_grace(
    container: dict[str, Any], pod: dict[str, Any], env: dict[str, str]
) -> None:
    grace = float(env["NEWSMT_SHUTDOWN_GRACE"])
    sleep = prestop_sleep(container)
    assert 1 <= sleep <= 15, "preStop sleep: a few seconds for endpoints to be removed"
    # The kubelet's clock starts with preStop; the server then drains for `grace` seconds and
    # needs a moment to cancel what is left and close.
    assert pod["terminationGracePeriodSeconds"] >= sleep + grace + 3
    assert pod["terminationGracePeriodSeconds"] > grace


def test_engine_threads_fit_the_cpu_limit(container: dict[str, Any], env: dict[str, str]) -> None:
    limit = cpus(container["resources"]["limits"]["cpu"])
    intra = int(env["NEWSMT_INTRA_THREADS"])
    inter = int(env.get("NEWSMT_INTER_THREADS", DEFAULTS.inter_threads))
    assert intra >= 1, "set the threads explicitly, matched to the CPU limit"
    assert intra * inter <= limit
    assert cpus(container["resources"]["requests"]["cpu"]) <= limit


def test_resources(container: dict[str, Any]) -> None:
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert memory(requests["memory"]) <= memory(limits["memory"])
    assert memory(requests["memory"]) >= 2**30, "five models need at least a gibibyte"


def test_runs_as_the_images_non_root_user(pod: dict[str, Any], container: dict[str, Any]) -> None:
    [user] = dockerfile("USER")
    assert int(user) != 0
    pod_ctx, ctx = pod["securityContext"], container["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True
    assert pod_ctx["runAsUser"] == int(user)
    assert ctx.get("runAsUser", pod_ctx["runAsUser"]) == int(user)
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert not ctx["capabilities"].get("add")
    assert ctx.get("privileged", False) is False


def test_tmp_is_a_writable_emptydir(pod: dict[str, Any], container: dict[str, Any]) -> None:
    volumes = {v["name"]: v for v in pod["volumes"]}
    [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]
    assert not tmp.get("readOnly", False)


def test_ports_match_dockerfile_and_settings(
    deployment: dict[str, Any], container: dict[str, Any], env: dict[str, str]
) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "grpc": DEFAULTS.port,
        "http": DEFAULTS.http_port,
        "metrics": DEFAULTS.metrics_port,
    }
    exposed = {int(p.split("/")[0]) for line in dockerfile("EXPOSE") for p in line.split()}
    assert DEFAULTS.port in exposed
    assert exposed <= set(ports.values()), "every port the image exposes is declared"
    assert int(dockerfile_env().get("NEWSMT_PORT", DEFAULTS.port)) == ports["grpc"]
    assert int(env.get("NEWSMT_PORT", DEFAULTS.port)) == ports["grpc"]
    assert int(env.get("NEWSMT_METRICS_PORT", DEFAULTS.metrics_port)) == ports["metrics"]
    assert int(env.get("NEWSMT_HTTP_PORT", DEFAULTS.http_port)) == ports["http"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_environment_is_valid_server_settings(env: dict[str, str]) -> None:
    names = {ENV_PREFIX + name.upper() for name, *_ in Settings.fields_help()}
    assert set(env) <= names, f"not newsmt settings: {set(env) - names}"
    settings = Settings.load(environ=env)  # raises SettingsError on a bad value
    assert settings.host == "0.0.0.0"
    assert settings.log_format == "json"


def test_service_links_cannot_break_the_settings(
    resources: dict[str, dict[str, Any]], pod: dict[str, Any]
) -> None:
    """Kubernetes injects <SERVICE>_PORT=tcp://ip:port for every ClusterIP Service in the
    namespace: a Service named `newsmt` or `newsmt-metrics` would set a newsmt setting to a value
    the server refuses."""
    with pytest.raises(SettingsError):
        Settings.load(environ={"NEWSMT_METRICS_PORT": "tcp://10.0.0.1:9464"})
    assert pod["enableServiceLinks"] is False
    names = {ENV_PREFIX + name.upper() for name, *_ in Settings.fields_help()}
    for svc in (r for r in resources.values() if r["kind"] == "Service"):
        link = svc["metadata"]["name"].upper().replace("-", "_") + "_PORT"
        assert svc["spec"].get("clusterIP") == "None" or link not in names, svc["metadata"]


def test_rollout_keeps_capacity(deployment: dict[str, Any]) -> None:
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert deployment["spec"].get("progressDeadlineSeconds", 600) > 600


# -- service, PDB, HPA -----------------------------------------------------------------------


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_service_is_headless_for_client_side_balancing(
    resources: dict[str, dict[str, Any]], deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    svc = resources["Service/newsmt"]["spec"]
    assert svc["clusterIP"] == "None"
    assert svc.get("publishNotReadyAddresses", False) is False
    assert selects(svc["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    ports = {p["name"]: p for p in svc["ports"]}
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["grpc"]["port"] == DEFAULTS.port
    assert ports["http"]["port"] == DEFAULTS.http_port
    for port in ports.values():
        target = port.get("targetPort", port["port"])
        assert target in container_ports or target in container_ports.values(), port


def test_pdb_and_hpa_target_the_deployment(
    resources: dict[str, dict[str, Any]], deployment: dict[str, Any]
) -> None:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [pdb] = [r for r in resources.values() if r["kind"] == "PodDisruptionBudget"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1
    [hpa] = [r for r in resources.values() if r["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    [cpu] = [m["resource"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"]
    assert cpu["name"] == "cpu"
    assert 60 <= cpu["target"]["averageUtilization"] <= 80


def test_kustomize_image_override_matches_the_image(container: dict[str, Any]) -> None:
    [kustomization] = load_all(K8S / "kustomization.yaml")
    names = {i["name"] for i in kustomization.get("images", [])}
    assert container["image"].rsplit(":", 1)[0] in names


# -- compose ---------------------------------------------------------------------------------


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the server: the image's entrypoint (`newsmt serve`) unchanged."""
    return {
        name: s
        for name, s in compose["services"].items()
        if s.get("image") == "newsmt:0.1.0" and "entrypoint" not in s and "command" not in s
    }


def test_compose_has_two_replicas_with_healthchecks(compose: dict[str, Any]) -> None:
    found = replicas(compose)
    assert len(found) == 2, sorted(found)
    for name, service in found.items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["newsmt", "health"], name
        address = test[test.index("--address") + 1]
        assert int(address.rsplit(":", 1)[1]) == DEFAULTS.port, name
        assert service["healthcheck"].get("start_period"), f"{name}: models take time to load"
        assert "models:/models:ro" in service["volumes"], name


def test_compose_replicas_threads_and_grace(compose: dict[str, Any]) -> None:
    for name, service in replicas(compose).items():
        env = compose_env(service)
        Settings.load(environ=env)  # valid settings
        intra = int(env["NEWSMT_INTRA_THREADS"])
        inter = int(env.get("NEWSMT_INTER_THREADS", DEFAULTS.inter_threads))
        assert 1 <= intra * inter <= float(service["cpus"]), name
        grace = float(env.get("NEWSMT_SHUTDOWN_GRACE", DEFAULTS.shutdown_grace))
        assert int(service["stop_grace_period"].removesuffix("s")) > grace, name


def test_compose_models_service_fills_the_volume(compose: dict[str, Any]) -> None:
    models = compose["services"]["models"]
    assert models["build"]["args"]["PULL_MODELS"] == "0"
    command = [*models["entrypoint"], *models["command"]]
    assert command[:2] == ["newsmt", "models"]
    assert command[2] in {"make-demo", "pull"}
    assert command[command.index("--model-dir") + 1] == "/models"
    assert "models:/models" in models["volumes"]
    assert "models" in compose["volumes"]
    for service in replicas(compose).values():
        assert service["depends_on"]["models"]["condition"] == "service_completed_successfully"


def test_compose_smoke_runs_against_every_healthy_replica(compose: dict[str, Any]) -> None:
    smoke = compose["services"]["smoke"]
    script = " ".join([*smoke.get("entrypoint", []), *smoke.get("command", [])])
    runs = [run.split() for run in re.findall(r"newsmt smoke ([^&;|]*)", script)]
    addresses = {run[run.index("--address") + 1] for run in runs}
    assert addresses == {f"{name}:{DEFAULTS.port}" for name in replicas(compose)}
    for name in replicas(compose):
        assert smoke["depends_on"][name]["condition"] == "service_healthy"
    # The seed articles are mounted where --seeds points (edits need no rebuild).
    mounts = {v.split(":")[1] for v in smoke["volumes"]}
    for run in runs:
        assert run[run.index("--seeds") + 1] in mounts


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates() -> None:
    """The Compose tool's own schema check, when one is installed (it needs no engine)."""
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*cli, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr

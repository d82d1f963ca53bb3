"""deploy/, checked offline: the manifests against Kubernetes' own schemas (kubernetes-validate ships them), and
every name that must agree across files against what payops really has: image, ports, probe paths, the
variables payops reads, the module Dagster loads, the dagster-k8s pin."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from ingest.webhooks import receiver_app
from payops.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
KUBERNETES_VERSION = "1.31"
IMAGE = "ghcr.io/payops/payops:0.1.0"
STREAMLIT_HEALTH = "/_stcore/health"
"""Streamlit's own health endpoint (the app serves no route of ours)."""


def manifests() -> list[dict]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def values() -> dict:
    return yaml.safe_load((DEPLOY / "dagster-values.yaml").read_text())


class ReadRecorder(dict):
    """An environment that remembers every variable asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def variables_payops_reads() -> set[str]:
    """Environment variables the settings ask for, the Dagster resources' EnvVars and the alert thresholds."""
    environment = ReadRecorder()
    Settings.from_env(environment)
    text = "\n".join(path.read_text() for path in sorted((REPO / "dagster_project").rglob("*.py")))
    return environment.read | set(re.findall(r'EnvVar(?:\.int)?\("([A-Z0-9_]+)"\)', text)) | set(
        re.findall(r'"(PAYOPS_ALERT_[A-Z0-9_]+)"', (REPO / "ingest" / "webhook_health.py").read_text()))


def containers(kind: str) -> list[tuple[str, dict]]:
    return [(doc["metadata"]["name"], container) for doc in manifests() if doc["kind"] == kind
            for container in doc["spec"]["template"]["spec"]["containers"]]


@pytest.mark.parametrize("doc", manifests(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_each_manifest_is_valid_for_kubernetes(doc: dict):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_receiver_and_streamlit_run_the_repository_image_and_probe_paths_that_answer():
    by_name = dict(containers("Deployment"))
    assert set(by_name) == {"payops-receiver", "payops-streamlit"}
    receiver_paths = {route.path for route in receiver_app(("whsec_unused",), store=None).routes}
    expected = {"payops-receiver": (8765, "/healthz"), "payops-streamlit": (8501, STREAMLIT_HEALTH)}
    for name, container in by_name.items():
        port, path = expected[name]
        assert container["image"] == IMAGE
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert str(port) in container["command"], "the process listens where the container port says"
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == path
            assert container[probe]["httpGet"]["port"] == container["ports"][0]["name"]
    assert "/healthz" in receiver_paths
    assert by_name["payops-receiver"]["command"][:3] == ["payops", "webhooks", "serve"]
    assert by_name["payops-streamlit"]["command"][2] == "streamlit_app/server.py"
    assert (REPO / "streamlit_app" / "server.py").is_file()


def test_each_service_selects_its_deployment_and_targets_a_named_port():
    docs = manifests()
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    services = [doc for doc in docs if doc["kind"] == "Service"]
    assert {service["metadata"]["name"] for service in services} == set(deployments)
    for service in services:
        deployment = deployments[service["metadata"]["name"]]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        port_names = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names


def test_every_variable_given_to_a_container_is_one_payops_reads():
    reads = variables_payops_reads()
    assert {"WAREHOUSE_URL", "STRIPE_WEBHOOK_SECRET", "PAYOPS_HOME", "PAYOPS_TIMEZONE"} <= reads
    given = {env["name"] for _, container in containers("Deployment") for env in container.get("env", [])}
    given |= {env["name"] for d in values()["dagster-user-deployments"]["deployments"] for env in d.get("env", [])}
    assert given <= reads, f"not read by payops: {sorted(given - reads)}"
    for _, container in containers("Deployment"):
        for env in container.get("env", []):
            if "valueFrom" in env:
                assert env["valueFrom"]["secretKeyRef"] == {"name": "payops-env", "key": env["name"]}


def test_the_dagster_values_load_payops_from_the_dockerfile_image_with_k8s_runs_and_postgres_storage():
    chart = values()
    (deployment,) = chart["dagster-user-deployments"]["deployments"]
    assert f"{deployment['image']['repository']}:{deployment['image']['tag']}" == IMAGE
    module = deployment["dagsterApiGrpcArgs"][deployment["dagsterApiGrpcArgs"].index("-m") + 1]
    assert (REPO / (module.replace(".", "/") + ".py")).is_file()
    assert chart["runLauncher"]["type"] == "K8sRunLauncher"
    assert chart["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"] == deployment["envSecrets"]
    assert chart["postgresql"]["enabled"] is False and chart["postgresql"]["postgresqlHost"]
    assert chart["generatePostgresqlPasswordSecret"] is False and chart["global"]["postgresqlSecretName"]

    dockerfile = (DEPLOY / "Dockerfile").read_text()
    command = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1)
    assert yaml.safe_load(command)[-2:] == ["-m", module]
    exposed = {int(port) for port in re.search(r"^EXPOSE (.*)$", dockerfile, re.MULTILINE).group(1).split()}
    assert exposed == {deployment["port"], 8765, 8501}
    assert 'pip install ".[k8s]"' in dockerfile


def test_dagster_k8s_is_an_optional_extra_pinned_with_the_dagster_family():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dagster_pin = next(d for d in project["dependencies"] if d.startswith("dagster-dbt=="))
    assert project["optional-dependencies"]["k8s"] == [f"dagster-k8s=={dagster_pin.split('==')[1]}"]
    assert not any(d.startswith("dagster-k8s") for d in project["dependencies"])
    assert "1.13.27" in (DEPLOY / "dagster-values.yaml").read_text().split("\n\n")[0], "the chart's version"

"""deploy/kuberay/: the RayCluster and RayJob validate against the ray.io/v1 fields they use
(tests/data/kuberay/, written from KubeRay v1.3's CRDs), a typo or a wrong type fails, and the
manifests agree with the rest of the project: the Ray version pinned, the image built by
docker/, options `mllib-tui run` has, a pipeline that parses, keys only in a Secret."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from backends.pipeline import parse_pipeline
from tests.conftest import ROOT, cli

KUBERAY = ROOT / "deploy" / "kuberay"
SCHEMA = json.loads((ROOT / "tests" / "data" / "kuberay" / "ray.io-v1.schema.json").read_text())


def _documents() -> list[dict[str, Any]]:
    return [d for p in sorted(KUBERAY.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())]


def _one(kind: str) -> dict[str, Any]:
    (found,) = [d for d in _documents() if d["kind"] == kind]
    return found


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [e.message for e in validator.iter_errors(document)]


def test_the_ray_manifests_validate() -> None:
    kinds = [d["kind"] for d in _documents()]
    assert sorted(kinds) == ["ConfigMap", "PersistentVolumeClaim", "RayCluster", "RayJob"]
    for document in _documents():
        if document["apiVersion"] == "ray.io/v1":
            assert _errors(document) == [], document["kind"]


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("RayCluster", "spec.workerGroupSpec", []),  # a typo of workerGroupSpecs
        ("RayCluster", "spec.workerGroupSpecs.0.replicas", "1"),  # a string for an int32
        ("RayCluster", "spec.workerGroupSpecs.0.groupName", _DELETE),  # required
        ("RayCluster", "spec.headGroupSpec.rayStartParams.num-cpus", 2),  # params are strings
        ("RayCluster", "spec.headGroupSpec.template.spec.containers.0.imagePullPolicy", "Often"),
        ("RayCluster", "spec.headGroupSpec.template.spec.containers.0.resources.limits.cpu", "2x"),
        ("RayCluster", "apiVersion", "ray.io/v1alpha1"),
        ("RayJob", "spec.submissionMode", "K8sMode"),
        ("RayJob", "spec.entryPoint", "mllib-tui run"),  # a typo of entrypoint
        ("RayJob", "spec.backoffLimit", 1.5),
    ],
)
def test_a_typo_or_a_wrong_type_fails(kind: str, path: str, value: Any) -> None:
    assert _errors(_set(_one(kind), path, value))


def test_the_manifests_agree_with_the_project() -> None:
    cluster, job, pipelines = _one("RayCluster"), _one("RayJob"), _one("ConfigMap")
    pinned = re.search(r'"ray\[default\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned and cluster["spec"]["rayVersion"] == pinned.group(1)
    dockerfile = (ROOT / "docker" / "ray.Dockerfile").read_text()
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    for group in groups:
        (container,) = group["template"]["spec"]["containers"]
        assert container["image"].startswith("mllib-ray:") and "-t mllib-ray" in dockerfile
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"  # never an open cluster
        assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        creds = Path(env["MLLIB_CREDS"]["value"])
        assert mounts[str(creds.parent)]["readOnly"]  # the store's keys: a Secret, read-only
        volumes = {v["name"]: v for v in group["template"]["spec"]["volumes"]}
        assert "secret" in volumes[mounts[str(creds.parent)]["name"]]
    gpu = cluster["spec"]["workerGroupSpecs"][0]
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    entrypoint = job["spec"]["entrypoint"].split()
    assert entrypoint[:3] == ["mllib-tui", "run", "--headless"]
    help_text = cli("run", "--help").stdout
    assert all(o in help_text for o in entrypoint if o.startswith("--"))
    pipeline = Path(entrypoint[-1])
    mounted = {
        m["mountPath"]: m["name"]
        for m in cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
            "volumeMounts"
        ]
    }
    assert mounted[str(pipeline.parent)] == "pipelines"
    parsed = parse_pipeline(pipelines["data"][pipeline.name].encode(), pipeline.name)
    assert parsed.executor.kind == "ray" and parsed.executor.exchange == "s3"
    assert len(parsed.variants()) == 4
    for path in KUBERAY.glob("*.yaml"):
        text = path.read_text().lower()
        assert "secret key" not in text and "aws_secret" not in text and "access key" not in text

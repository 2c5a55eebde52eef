"""The cluster manifests: valid YAML with KubeRay's CRD field names, the project's image, and
entrypoints that the CLI accepts."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from rllib_ext.app.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "cluster"
IMAGE = "rllib-ext:latest"


def load(name):
    return yaml.safe_load((CLUSTER / name).read_text())


def check_container(template, gpu: bool):
    containers = template["spec"]["containers"]
    assert containers and all(c["image"] == IMAGE for c in containers)
    limits = containers[0]["resources"]["limits"]
    assert {"cpu", "memory"} <= set(limits)
    assert ("nvidia.com/gpu" in limits) == gpu
    return containers[0]


def check_cluster_spec(spec):
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    ports = {p["containerPort"] for p in check_container(head["template"], gpu=False)["ports"]}
    assert {6379, 8265} <= ports
    assert spec["workerGroupSpecs"]
    for group in spec["workerGroupSpecs"]:
        assert group["groupName"] and isinstance(group["rayStartParams"], dict)
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        check_container(group["template"], gpu=True)


def test_raycluster():
    doc = load("kuberay/raycluster.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster" and doc["metadata"]["name"]
    assert doc["spec"]["rayVersion"].startswith("2.60")
    check_cluster_spec(doc["spec"])


def test_rayjob_runs_a_valid_command():
    doc = load("kuberay/rayjob.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    check_cluster_spec(spec["rayClusterSpec"])
    argv = shlex.split(spec["entrypoint"])
    assert argv[0] == "rllib-ext"
    build_parser().parse_args(argv[1:])  # exits on an argument the CLI does not know
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)


def test_volume_claim_matches_the_mounts():
    claim = load("kuberay/storage.yaml")
    assert claim["kind"] == "PersistentVolumeClaim"
    for name in ("kuberay/raycluster.yaml", "kuberay/rayjob.yaml"):
        assert f"claimName: {claim['metadata']['name']}" in (CLUSTER / name).read_text()


def test_image_installs_the_project():
    text = (CLUSTER / "Dockerfile").read_text()
    assert re.search(r"^FROM rayproject/ray:2\.60\.\S+", text, re.M)
    assert re.search(r"COPY .* \. \.", text) and re.search(r"pip install [^\n]*\.$", text, re.M)


def test_cluster_launcher():
    doc = load("launcher.yaml")
    assert {"cluster_name", "provider", "available_node_types", "head_node_type"} <= set(doc)
    assert doc["head_node_type"] in doc["available_node_types"]
    assert doc["docker"]["image"].startswith("rayproject/ray:2.60")
    mount = next(dest for dest, src in doc["file_mounts"].items() if src == ".")
    assert any(f"pip install -e {mount}" in cmd for cmd in doc["setup_commands"])
    workers = [t for n, t in doc["available_node_types"].items() if n != doc["head_node_type"]]
    assert workers and all(t["max_workers"] <= doc["max_workers"] for t in workers)


DOC_FILES = [CLUSTER / "README.md", ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASH_BLOCKS = [
    pytest.param(block, id=f"{path.relative_to(ROOT).as_posix()}-block{i}")
    for path in DOC_FILES
    for i, block in enumerate(re.findall(r"```bash\n(.*?)```", path.read_text(), re.S))
]
ENV_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


@pytest.mark.parametrize("block", BASH_BLOCKS)
def test_readme_commands_are_valid_cli_calls(block):
    for command in block.replace("\\\n", " ").splitlines():
        argv = shlex.split(command.split("&&")[0].split(" &")[0], comments=True)
        while argv and ENV_ASSIGNMENT.fullmatch(argv[0]):  # OMP_NUM_THREADS=1 rllib-ext ...
            argv = argv[1:]
        if argv[:1] == ["rllib-ext"]:
            args = build_parser().parse_args(argv[1:])
            if args.command == "submit":
                job = args.job[1:] if args.job[:1] == ["--"] else args.job
                build_parser().parse_args(job)

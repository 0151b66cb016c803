"""Acceptance: the Python `kubernetes` client (PyPI) lists, creates, patches and watches pods
on a real `peapod server --disable-agent`, configured only from the kubeconfig the server
writes. The test starts the server itself: PEAPOD_BIN (default target/debug/peapod)."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("PEAPOD_BIN", os.path.join(REPO, "target", "debug", "peapod"))
    if not os.path.isfile(binary):
        pytest.fail(f"peapod binary not found at {binary}: run cargo build or set PEAPOD_BIN")
    data_dir = tempfile.mkdtemp(prefix="peapod-pytest-")
    port = _free_port()
    log = open(os.path.join(data_dir, "server.log"), "wb")
    process = subprocess.Popen(
        [binary, "server", "--data-dir", data_dir, "--https-port", str(port),
         "--bind-address", "127.0.0.1", "--disable-agent"],
        stdout=log, stderr=subprocess.STDOUT)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    deadline = time.time() + 30
    kubeconfig = os.path.join(data_dir, "kubeconfig.yaml")
    while True:
        if process.poll() is not None:
            pytest.fail("peapod server exited: " + open(os.path.join(data_dir, "server.log")).read())
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=insecure, timeout=2) as r:
                if r.read() == b"ok" and os.path.isfile(kubeconfig):
                    break
        except OSError:
            pass
        if time.time() > deadline:
            process.kill()
            pytest.fail("/readyz did not answer ok in 30 s")
        time.sleep(0.02)
    try:
        yield kubeconfig
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def core(server):
    api_client = config.new_client_from_config(config_file=server)
    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(core):
    name = "py-" + uuid.uuid4().hex[:8]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _settled(core, namespace, name, timeout=5.0):
    """Waits until the scheduler has recorded its verdict on the pod (PodScheduled; with no
    node it stays False), so that later changes to the pod are the test's own."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        if any(c.type == "PodScheduled" for c in (pod.status.conditions or [])):
            return pod
        time.sleep(0.05)
    return core.read_namespaced_pod(name, namespace)


def _pod(name, image="nginx", labels=None):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image=image)]))


def test_server_version_and_default_namespaces(server, core):
    api_client = config.new_client_from_config(config_file=server)
    version = client.VersionApi(api_client).get_code()
    assert version.major == "1"
    assert version.minor == "33"
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_create_get_and_list_pods(core, namespace):
    created = core.create_namespaced_pod(namespace, _pod("web", labels={"app": "web"}))
    assert created.metadata.name == "web"
    assert created.metadata.uid
    assert created.metadata.resource_version
    assert created.status.phase == "Pending"
    assert created.spec.containers[0].image_pull_policy == "Always"
    core.create_namespaced_pod(namespace, _pod("db", image="postgres:16", labels={"app": "db"}))

    pods = core.list_namespaced_pod(namespace)
    assert sorted(p.metadata.name for p in pods.items) == ["db", "web"]
    assert pods.metadata.resource_version
    selected = core.list_namespaced_pod(namespace, label_selector="app=web")
    assert [p.metadata.name for p in selected.items] == ["web"]
    by_field = core.list_namespaced_pod(namespace, field_selector="metadata.name=db")
    assert [p.metadata.name for p in by_field.items] == ["db"]
    everywhere = core.list_pod_for_all_namespaces(label_selector="app in (web,db)")
    assert {(p.metadata.namespace, p.metadata.name) for p in everywhere.items} >= {(namespace, "web"), (namespace, "db")}

    got = core.read_namespaced_pod("web", namespace)
    assert got.metadata.uid == created.metadata.uid


def test_errors_are_api_exceptions_with_status(core, namespace):
    core.create_namespaced_pod(namespace, _pod("dup"))
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_pod(namespace, _pod("dup"))
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("nope", namespace)
    assert missing.value.status == 404
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_pod(namespace, _pod("Bad_Name"))
    assert invalid.value.status == 422
    assert "metadata.name" in invalid.value.body


def test_patch_pods(core, namespace):
    core.create_namespaced_pod(namespace, _pod("p", image="nginx:1.26", labels={"app": "p"}))
    # The client sends a dict body as a strategic merge patch for patch_namespaced_pod.
    patched = core.patch_namespaced_pod("p", namespace, {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels == {"app": "p", "tier": "front"}
    patched = core.patch_namespaced_pod(
        "p", namespace, {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}})
    assert patched.spec.containers[0].image == "nginx:1.27"
    # JSON patch: a list body.
    patched = core.patch_namespaced_pod(
        "p", namespace, [{"op": "replace", "path": "/metadata/labels/app", "value": "q"}])
    assert patched.metadata.labels["app"] == "q"
    # A forbidden change is a 422.
    with pytest.raises(ApiException) as invalid:
        core.patch_namespaced_pod("p", namespace, {"spec": {"containers": [{"name": "main", "command": ["sh"]}]}})
    assert invalid.value.status == 422
    assert core.read_namespaced_pod("p", namespace).spec.containers[0].image == "nginx:1.27"


def test_replace_with_stale_resource_version_conflicts(core, namespace):
    core.create_namespaced_pod(namespace, _pod("r"))
    pod = _settled(core, namespace, "r")
    pod.metadata.labels = {"v": "1"}
    updated = core.replace_namespaced_pod("r", namespace, pod)
    assert updated.metadata.resource_version != pod.metadata.resource_version
    pod.metadata.labels = {"v": "2"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_pod("r", namespace, pod)
    assert conflict.value.status == 409


def test_watch_pods(core, namespace):
    core.create_namespaced_pod(namespace, _pod("before"))
    _settled(core, namespace, "before")
    listed = core.list_namespaced_pod(namespace)
    events = []

    def watch_pods():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_pod, namespace,
                              resource_version=listed.metadata.resource_version, timeout_seconds=20):
            events.append((event["type"], event["object"].metadata.name, event["object"]))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=watch_pods)
    thread.start()
    time.sleep(0.5)
    core.create_namespaced_pod(namespace, _pod("w1"))
    core.patch_namespaced_pod("w1", namespace, {"metadata": {"labels": {"x": "y"}}})
    core.delete_namespaced_pod("w1", namespace)
    thread.join(timeout=30)
    assert not thread.is_alive(), f"watch did not end; saw {[(t, n) for t, n, _ in events]}"
    # Only w1 changed after the list; the scheduler may add a MODIFIED of its own
    # (PodScheduled=False: there is no node).
    assert {n for _, n, _ in events} == {"w1"}
    types = [t for t, _, _ in events]
    assert types[0] == "ADDED" and types[-1] == "DELETED" and set(types[1:-1]) == {"MODIFIED"}, types
    assert any(o.metadata.labels == {"x": "y"} for t, _, o in events if t == "MODIFIED")
    versions = [int(o.metadata.resource_version) for _, _, o in events]
    assert versions == sorted(versions)
    # Objects arrive typed, as V1Pod.
    assert isinstance(events[0][2], client.V1Pod)


def test_delete_pods(core, namespace):
    core.create_namespaced_pod(namespace, _pod("gone"))
    core.delete_namespaced_pod("gone", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("gone", namespace)
    assert missing.value.status == 404
    for name in ("x1", "x2"):
        core.create_namespaced_pod(namespace, _pod(name, labels={"batch": "x"}))
    core.delete_collection_namespaced_pod(namespace, label_selector="batch=x")
    assert core.list_namespaced_pod(namespace, label_selector="batch=x").items == []

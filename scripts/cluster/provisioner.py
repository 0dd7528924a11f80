"""Dynamic hostPath provisioner of the local test cluster.

A small controller (standard library only, talks to the API server through
kubectl): every few seconds it gives each pending PersistentVolumeClaim of a
StorageClass whose provisioner is ours a PersistentVolume pre-bound to it,
backed by a fresh directory under --base-dir (mode 0777, so non-root pods can
write without fsGroup, which hostPath volumes ignore). When a claim is gone
and its volume is Released with reclaim policy Delete, it removes the
directory and the volume. Data lives as long as the claim: deleting pods keeps
it. For a single-node test cluster only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ANNOTATION = "pv.kubernetes.io/provisioned-by"


def log(msg):
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), msg, flush=True)


class Kube:
    def __init__(self, kubeconfig):
        self.base = ["kubectl", "--kubeconfig", kubeconfig, "--request-timeout=20s"]

    def get(self, *args):
        out = subprocess.run(self.base + ["get", *args, "-o", "json"], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)

    def create(self, obj):
        subprocess.run(self.base + ["create", "-f", "-"], input=json.dumps(obj), check=True,
                       capture_output=True, text=True)

    def delete_pv(self, name):
        subprocess.run(self.base + ["delete", "pv", name, "--wait=false", "--ignore-not-found"],
                       check=True, capture_output=True, text=True)


def provision(kube, args, classes, pvc, existing):
    meta, spec = pvc["metadata"], pvc["spec"]
    name = "pvc-" + meta["uid"]
    if name in existing:
        return
    sc = classes[spec["storageClassName"]]
    if spec.get("volumeMode", "Filesystem") != "Filesystem":
        log(f"skipping {meta['namespace']}/{meta['name']}: only Filesystem volumes")
        return
    path = os.path.join(args.base_dir, f"{meta['namespace']}_{meta['name']}_{meta['uid']}")
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {ANNOTATION: args.provisioner},
                     "labels": {"app.kubernetes.io/managed-by": "mlops-stack-provisioner"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": "Filesystem",
            "hostPath": {"path": path, "type": "DirectoryOrCreate"},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta["uid"]},
        },
    }
    kube.create(pv)
    log(f"provisioned {name} for {meta['namespace']}/{meta['name']} at {path}")


def reclaim(kube, args, pv):
    spec = pv["spec"]
    path = spec.get("hostPath", {}).get("path", "")
    base = os.path.realpath(args.base_dir) + os.sep
    if os.path.realpath(path).startswith(base):
        shutil.rmtree(path, ignore_errors=True)
    kube.delete_pv(pv["metadata"]["name"])
    log(f"deleted {pv['metadata']['name']} and {path}")


def sync(kube, args):
    classes = {c["metadata"]["name"]: c for c in kube.get("storageclass")["items"]
               if c.get("provisioner") == args.provisioner}
    pvs = kube.get("pv")["items"]
    existing = {pv["metadata"]["name"] for pv in pvs}
    for pvc in kube.get("pvc", "--all-namespaces")["items"]:
        spec = pvc["spec"]
        if (pvc.get("status", {}).get("phase") == "Pending" and not spec.get("volumeName")
                and spec.get("storageClassName") in classes
                and not pvc["metadata"].get("deletionTimestamp")):
            try:
                provision(kube, args, classes, pvc, existing)
            except subprocess.CalledProcessError as e:
                log(f"failed to provision {pvc['metadata']['name']}: {e.stderr.strip()}")
    for pv in pvs:
        if (pv["metadata"].get("annotations", {}).get(ANNOTATION) == args.provisioner
                and pv.get("status", {}).get("phase") in ("Released", "Failed")
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
            try:
                reclaim(kube, args, pv)
            except subprocess.CalledProcessError as e:
                log(f"failed to delete {pv['metadata']['name']}: {e.stderr.strip()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--base-dir", required=True)
    parser.add_argument("--provisioner", default="mlops-stack.local/hostpath")
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    os.makedirs(args.base_dir, exist_ok=True)
    kube = Kube(args.kubeconfig)
    log(f"watching claims for {args.provisioner}, volumes under {args.base_dir}")
    while True:
        try:
            sync(kube, args)
        except (subprocess.CalledProcessError, json.JSONDecodeError) as e:
            log(f"sync failed: {getattr(e, 'stderr', e)}")
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())

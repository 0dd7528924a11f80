#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_access
short_description: Read what a client needs to reach a Service of the stack, in one call
version_added: 0.2.0
description:
  - Reads, in one call to the Kubernetes API, what a client on the controller needs to reach a
    component of the stack, the reads the roles' C(connect) entry points would otherwise make as
    separate tasks.
  - The login Secret O(secret), decoded. The Service O(service), whether its
    C(mlops.stack/tls) annotation says it serves TLS (the collection's charts set it). TLS follows
    the running release, not the caller's settings.
  - When the Service serves TLS, the CA bundle (key C(ca.crt)) of the ConfigMap O(trust_configmap),
    written to C(ca.crt) in a new private directory on the controller (mode 0700, the file
    0600), since libpq and boto3 take the CA as a file. Remove the directory when done (the
    roles' C(disconnect) entry points do).
  - Changes nothing in the cluster, so it reports no change.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_auth
requirements:
  - kubernetes >= 24.2
attributes:
  check_mode:
    description: Reads as in a normal run; the CA file on the controller is written too.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - The returned O(secret) data is a credential. Give the task C(no_log) (the roles do).
options:
  namespace:
    description: Namespace of the Service and the objects read.
    type: str
    default: mlops
  service:
    description: Name of the Service whose C(mlops.stack/tls) annotation is read; omit to skip it.
    type: str
  secret:
    description: Name of a Secret to read and return decoded in RV(credentials); omit to skip it.
    type: str
  trust_configmap:
    description:
      - Name of the ConfigMap with the CA bundle (key C(ca.crt)) that verifies the Service.
      - Read only when O(service) serves TLS.
    type: str
"""

EXAMPLES = r"""
- name: Find out how to reach MinIO
  mlops.stack.service_access:
    namespace: mlops
    service: minio
    secret: minio-auth
    trust_configmap: mlops-tls-trust
  register: minio_access
  no_log: true

- name: List the buckets over TLS when MinIO serves it
  amazon.aws.s3_bucket_info:
    endpoint_url: "{{ 'https' if minio_access.serves_tls else 'http' }}://127.0.0.1:9000"
    access_key: "{{ minio_access.credentials['root-user'] }}"
    secret_key: "{{ minio_access.credentials['root-password'] }}"
    aws_ca_bundle: "{{ minio_access.ca_file or omit }}"
  no_log: true
"""

RETURN = r"""
secret_found:
  description: Whether O(secret) exists (false when it was not asked for).
  returned: always
  type: bool
credentials:
  description: The data of O(secret), decoded; empty when it was not asked for or does not exist.
  returned: always
  type: dict
  sample: {root-user: minio-admin, root-password: "..."}
serves_tls:
  description: Whether O(service) carries the annotation C(mlops.stack/tls=on).
  returned: always
  type: bool
service_found:
  description: Whether O(service) exists (false when it was not asked for).
  returned: always
  type: bool
ca_found:
  description: Whether O(trust_configmap) holds a non-empty C(ca.crt) (read only when the Service serves TLS).
  returned: always
  type: bool
ca_file:
  description:
    - Path of the CA bundle written for the client.
    - Empty when the Service serves no TLS or the bundle is missing.
  returned: always
  type: str
  sample: /tmp/mlops-stack-tls.x1y2z3/ca.crt
"""

import base64
import os
import tempfile

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration
from ansible_collections.mlops.stack.plugins.module_utils.errors import KubernetesError

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:  # pragma: no cover - reported through k8s.KUBERNETES_IMPORT_ERROR
    ApiException = None

# The annotation the collection's server charts put on a Service that serves TLS.
TLS_ANNOTATION = "mlops.stack/tls"


def _read(action, read, name, namespace):
    """An object read with read(name, namespace), or None when it does not exist."""
    try:
        return read(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise KubernetesError("%s %s/%s: %s %s" % (action, namespace, name, error.status, error.reason)) from error


def write_ca_file(bundle):
    """The CA bundle as ca.crt in a new directory only this user may enter."""
    directory = tempfile.mkdtemp(prefix="mlops-stack-tls.")
    path = os.path.join(directory, "ca.crt")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(bundle)
    return path


def read_access(api, params):
    """What a client needs, read with api (a CoreV1Api)."""
    namespace = params["namespace"]
    result = dict(changed=False, secret_found=False, credentials={}, service_found=False, serves_tls=False,
                  ca_found=False, ca_file="")
    if params["secret"]:
        secret = _read("cannot read Secret", api.read_namespaced_secret, params["secret"], namespace)
        if secret is not None:
            result["secret_found"] = True
            result["credentials"] = dict((key, base64.b64decode(value).decode("utf-8"))
                                         for key, value in (secret.data or {}).items())
    if params["service"]:
        service = _read("cannot read Service", api.read_namespaced_service, params["service"], namespace)
        if service is not None:
            result["service_found"] = True
            annotations = service.metadata.annotations or {}
            result["serves_tls"] = annotations.get(TLS_ANNOTATION) == "on"
    if result["serves_tls"] and params["trust_configmap"]:
        configmap = _read("cannot read ConfigMap", api.read_namespaced_config_map, params["trust_configmap"],
                          namespace)
        bundle = ((configmap.data or {}) if configmap is not None else {}).get("ca.crt", "")
        if bundle.strip():
            result["ca_found"] = True
            result["ca_file"] = write_ca_file(bundle)
    return result


def run_service_access(module):
    module.require("kubernetes", k8s.KUBERNETES_IMPORT_ERROR)
    params = module.params
    api = k8s.CoreV1Api(k8s.kubernetes_client(params["kubeconfig"], params["context"]))
    return read_access(api, params)


OPTIONS = dict(
    namespace=dict(type="str", default="mlops"),
    service=dict(type="str"),
    secret=dict(type="str", no_log=False),
    trust_configmap=dict(type="str"),
    **k8s.k8s_auth_argument_spec()
)
MODULE = ModuleDeclaration(run_service_access, "read how to reach the Service", OPTIONS, groups=())
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

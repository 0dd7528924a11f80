# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Kubernetes access: an API client and the raw exec WebSocket of a pod.

Where the client's settings come from, first match wins (the one rule of the
collection; roles/component/files/port-forward.sh follows it for kubectl):

1. the module's ``kubeconfig`` or ``context`` option;
2. ``K8S_AUTH_HOST`` with ``K8S_AUTH_API_KEY`` (a bearer token), checked with
   ``K8S_AUTH_SSL_CA_CERT`` unless ``K8S_AUTH_VERIFY_SSL`` is false: what the AWX
   "OpenShift or Kubernetes API Bearer Token" credential injects;
3. ``K8S_AUTH_KUBECONFIG`` or ``K8S_AUTH_CONTEXT``;
4. the in-cluster service account (in a pod, without ``KUBECONFIG``), else
   ``KUBECONFIG``, else ``~/.kube/config``.

kubernetes.core reads the same variables, with one difference: it prefers
K8S_AUTH_HOST with K8S_AUTH_API_KEY to a kubeconfig option. A play therefore
gets a kubeconfig (mlops_kubeconfig) or a bearer token, never both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.module_utils.parsing import convert_bool

from ansible_collections.mlops.stack.plugins.module_utils.errors import KubernetesError

try:
    import kubernetes
    from kubernetes import config as k8s_config
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream as k8s_stream

    KUBERNETES_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    KUBERNETES_IMPORT_ERROR = import_error


def k8s_auth_argument_spec():
    """The options naming a kubeconfig and its context, as every module that calls the API has them."""
    return dict(kubeconfig=dict(type="path"), context=dict(type="str"))


def _verify_ssl(environ):
    value = environ.get("K8S_AUTH_VERIFY_SSL", "").strip()
    if not value:
        return True
    try:
        # Ansible's own reading of a boolean, as kubernetes.core applies to this variable.
        return convert_bool.boolean(value, strict=True)
    except TypeError:
        raise KubernetesError("K8S_AUTH_VERIFY_SSL must be true or false, not '%s'"
                              % environ["K8S_AUTH_VERIFY_SSL"]) from None


def _token_settings(environ):
    host = environ.get("K8S_AUTH_HOST", "").strip()
    token = environ.get("K8S_AUTH_API_KEY", "").strip()
    if not token:
        raise KubernetesError("K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset: "
                              "give the bearer token too, or unset K8S_AUTH_HOST")
    if not host:
        raise KubernetesError("K8S_AUTH_API_KEY is set but K8S_AUTH_HOST is empty or unset: "
                              "give the API server URL too, or unset K8S_AUTH_API_KEY")
    if not host.startswith(("https://", "http://")):
        raise KubernetesError("K8S_AUTH_HOST must be the API server's https:// URL, not '%s'" % host)
    settings = dict(source="token", host=host.rstrip("/"), api_key=token, verify_ssl=_verify_ssl(environ),
                    ssl_ca_cert=None)
    ca_cert = environ.get("K8S_AUTH_SSL_CA_CERT", "").strip()
    if ca_cert and settings["verify_ssl"]:
        if not os.path.isfile(ca_cert) or not os.access(ca_cert, os.R_OK):
            raise KubernetesError("K8S_AUTH_SSL_CA_CERT names %s, which is not a readable file" % ca_cert)
        settings["ssl_ca_cert"] = ca_cert
    return settings


def connection_settings(kubeconfig=None, context=None, environ=None):
    """Where the API client's settings come from, by the rule of this file's docstring.

    A dict: source "kubeconfig" (with kubeconfig and context, None for the
    client's defaults), "token" (host, api_key, verify_ssl, ssl_ca_cert) or
    "in_cluster". Raises KubernetesError naming the variable that is wrong.
    """
    environ = os.environ if environ is None else environ
    if kubeconfig or context:
        return dict(source="kubeconfig", kubeconfig=kubeconfig, context=context)
    if environ.get("K8S_AUTH_HOST", "").strip() or environ.get("K8S_AUTH_API_KEY", "").strip():
        return _token_settings(environ)
    kubeconfig = environ.get("K8S_AUTH_KUBECONFIG", "").strip() or None
    context = environ.get("K8S_AUTH_CONTEXT", "").strip() or None
    if kubeconfig or context:
        return dict(source="kubeconfig", kubeconfig=kubeconfig, context=context)
    if environ.get("KUBERNETES_SERVICE_HOST") and not environ.get("KUBECONFIG"):
        return dict(source="in_cluster")
    return dict(source="kubeconfig", kubeconfig=None, context=None)


def _token_client(settings):
    configuration = kubernetes.client.Configuration()
    configuration.host = settings["host"]
    # The "authorization" key is the one every supported client release reads.
    configuration.api_key = {"authorization": "Bearer %s" % settings["api_key"]}
    configuration.verify_ssl = settings["verify_ssl"]
    configuration.ssl_ca_cert = settings["ssl_ca_cert"]
    return kubernetes.client.ApiClient(configuration)


def kubernetes_client(kubeconfig=None, context=None):
    """An API client configured by connection_settings()."""
    settings = connection_settings(kubeconfig, context)
    try:
        if settings["source"] == "token":
            return _token_client(settings)
        if settings["source"] == "in_cluster":
            k8s_config.load_incluster_config()
            return kubernetes.client.ApiClient()
        return k8s_config.new_client_from_config(config_file=settings["kubeconfig"], context=settings["context"])
    except Exception as error:  # pylint: disable=broad-except
        raise KubernetesError("cannot load Kubernetes configuration: %s" % error) from error


def first_container(api_client, pod, namespace):
    """Name of the pod's first container."""
    try:
        return CoreV1Api(api_client).read_namespaced_pod(pod, namespace).spec.containers[0].name
    except Exception as error:  # pylint: disable=broad-except
        reason = getattr(error, "reason", None) or str(error)
        raise KubernetesError("cannot read pod %s/%s: %s" % (namespace, pod, reason)) from error


def open_exec(api_client, pod, namespace, command, container=None, stdin=False):
    """The WSClient of ``command`` run in the pod, its content not preloaded.

    The caller reads and writes its channels (pod_exec_stream.ExecSession).
    """
    kwargs = dict(command=command, stderr=True, stdout=True, stdin=stdin, tty=False, _preload_content=False)
    if container:
        kwargs["container"] = container
    try:
        return k8s_stream(CoreV1Api(api_client).connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    except Exception as error:  # pylint: disable=broad-except
        reason = getattr(error, "reason", None) or str(error)
        raise KubernetesError("cannot exec in pod %s/%s: %s" % (namespace, pod, reason)) from error

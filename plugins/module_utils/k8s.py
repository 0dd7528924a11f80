# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Kubernetes access: an API client and the raw exec WebSocket of a pod."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.mlops.stack.plugins.module_utils.errors import KubernetesError

try:
    import kubernetes
    from kubernetes import config as k8s_config
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream as k8s_stream

    KUBERNETES_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    KUBERNETES_IMPORT_ERROR = import_error


def kubernetes_client(kubeconfig=None, context=None):
    """An API client from a kubeconfig, or the in-cluster service account."""
    try:
        if not kubeconfig and not context and os.environ.get("KUBERNETES_SERVICE_HOST") \
                and not os.environ.get("KUBECONFIG"):
            k8s_config.load_incluster_config()
            return kubernetes.client.ApiClient()
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
    except Exception as error:  # pylint: disable=broad-except
        raise KubernetesError("cannot load Kubernetes configuration: %s" % error) from error


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

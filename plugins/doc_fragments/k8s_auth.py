# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How a module that calls the Kubernetes API finds the cluster
    # (module_utils/k8s.py: one rule for the whole collection).
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to the kubeconfig.
      - Without it and O(context), E(K8S_AUTH_HOST) with the bearer token E(K8S_AUTH_API_KEY) come
        first (as an AWX bearer-token credential sets them, with E(K8S_AUTH_SSL_CA_CERT) and
        E(K8S_AUTH_VERIFY_SSL)), then E(K8S_AUTH_KUBECONFIG) and E(K8S_AUTH_CONTEXT), then the in-cluster
        service account, then E(KUBECONFIG), then C(~/.kube/config) (docs/awx.md).
    type: path
  context:
    description: Context of O(kubeconfig) to use.
    type: str
"""

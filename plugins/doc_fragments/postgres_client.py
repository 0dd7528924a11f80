# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where pg_dump, pg_restore and psql run: in the PostgreSQL pod or locally.
    DOCUMENTATION = r"""
options:
  pod:
    description:
      - Name of the PostgreSQL pod. When set, C(pg_dump), C(pg_restore) and C(psql)
        run inside it through the Kubernetes exec API, so the controller needs
        neither a PostgreSQL client nor network access to the database.
      - Inside the pod, O(login_host=localhost) means the server's Unix socket.
      - O(login_password) reaches the pod on the command's standard input, never
        on its command line.
      - When unset, the local client programs and a direct connection are used;
        the local C(pg_dump) must not be older than the server.
    type: str
  namespace:
    description:
      - Namespace of O(pod).
    type: str
    default: mlops
  container:
    description:
      - Container of O(pod) that has the PostgreSQL client programs.
      - Defaults to the pod's only (or first) container.
    type: str
  kubeconfig:
    description:
      - Path to the kubeconfig used to reach O(pod).
      - Without it and O(context), E(K8S_AUTH_HOST) with the bearer token E(K8S_AUTH_API_KEY) come
        first (as an AWX bearer-token credential sets them, with E(K8S_AUTH_SSL_CA_CERT) and
        E(K8S_AUTH_VERIFY_SSL)), then E(K8S_AUTH_KUBECONFIG) and E(K8S_AUTH_CONTEXT), then the in-cluster
        service account, then E(KUBECONFIG), then C(~/.kube/config) (docs/awx.md).
    type: path
  context:
    description:
      - Context of O(kubeconfig) to use.
    type: str
  pg_bindir:
    description:
      - Directory holding the local C(pg_dump) and C(pg_restore) when O(pod) is unset.
      - Defaults to C(/usr/lib/postgresql/<server major>/bin), then the E(PATH).
    type: path
requirements:
  - kubernetes >= 24.2 (only with O(pod))
"""

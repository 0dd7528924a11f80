# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: tls_dns_names
short_description: The DNS names a server certificate of a stack release must hold
version_added: 0.3.0
description:
  - The names a client inside or outside the cluster dials a release of the collection's charts by, for the
    subject alternative names of its server certificate; the first is the Service's full name, which the
    roles also make the certificate's common name when it fits in the 64 characters X.509 allows.
  - The Service in all its spellings (C(<release>), C(.<namespace>), C(.<namespace>.svc),
    C(.<namespace>.svc.<domain>)), the headless Service C(<release>-headless.<namespace>.svc.<domain>),
    each pod of the StatefulSet through it (C(<release>-<i>.<release>-headless...)), which distributed
    MinIO servers dial each other by, and C(localhost) for port-forwards; then the extra names, each once.
  - The charts name the Service and the StatefulSet after the release (the roles set C(fullnameOverride)).
author:
  - mlops.stack contributors (@mlops-stack)
options:
  _input:
    description: The release name.
    type: str
    required: true
  namespace:
    description: The release's namespace.
    type: str
    required: true
  cluster_domain:
    description: The cluster's DNS domain.
    type: str
    default: cluster.local
  replicas:
    description: Number of pods of the StatefulSet.
    type: int
    default: 1
  extra:
    description: Further DNS names, such as an ingress host.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: The names of the PostgreSQL certificate
  ansible.builtin.debug:
    msg: "{{ 'postgresql' | mlops.stack.tls_dns_names(namespace='mlops') }}"
  # postgresql.mlops.svc.cluster.local, postgresql, postgresql.mlops, postgresql.mlops.svc,
  # postgresql-headless.mlops.svc.cluster.local, postgresql-0.postgresql-headless.mlops.svc.cluster.local,
  # localhost
"""

RETURN = r"""
_value:
  description: The DNS names, the Service's full name first, none twice.
  type: list
  elements: str
"""

# Helm truncates generated names to a DNS label (63 characters) and drops a
# trailing "-" (the charts' "<name>.headlessName").
LABEL_LIMIT = 63


def _label(name):
    return name[:LABEL_LIMIT].rstrip("-")


def tls_dns_names(release, namespace, cluster_domain="cluster.local", replicas=1, extra=None):
    """The DNS names of a release's server certificate, the Service's full name first."""
    if not release or not namespace:
        raise AnsibleFilterError("tls_dns_names needs a release name and a namespace")
    try:
        replicas = int(replicas)
    except (TypeError, ValueError):
        raise AnsibleFilterError("tls_dns_names: replicas must be an integer, not %r" % (replicas,)) from None
    if replicas < 1:
        raise AnsibleFilterError("tls_dns_names: replicas must be at least 1, not %d" % replicas)
    extra = extra or []
    if isinstance(extra, str) or not all(isinstance(name, str) for name in extra):
        raise AnsibleFilterError("tls_dns_names: extra must be a list of names, not %r" % (extra,))
    service = _label(release)
    headless = _label(service + "-headless")
    in_cluster = "%s.svc.%s" % (namespace, cluster_domain)
    names = ["%s.%s" % (service, in_cluster), service, "%s.%s" % (service, namespace),
             "%s.%s.svc" % (service, namespace), "%s.%s" % (headless, in_cluster)]
    names += ["%s-%d.%s.%s" % (service, index, headless, in_cluster) for index in range(replicas)]
    names += ["localhost"] + [name.strip() for name in extra]
    return list(dict.fromkeys(name for name in names if name))


class FilterModule(object):

    def filters(self):
        return {"tls_dns_names": tls_dns_names}

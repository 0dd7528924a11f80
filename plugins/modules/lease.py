#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: lease
short_description: Take or release the Lease lock that lets one backup or restore run at a time
version_added: 0.2.0
description:
  - Claims or releases a C(coordination.k8s.io/v1) Lease, so that one backup or restore runs at a
    time in a namespace, whoever starts it (a playbook, AWX or the backup CronJob).
  - The Lease is never deleted. Every write carries the C(resourceVersion) read just before it, so
    of two runs that claim the Lease at once exactly one succeeds; the other fails at once with a
    message naming the holder.
  - A Lease is free when it names no holder, or when its holder has not renewed it for
    C(leaseDurationSeconds); only then is it taken over. O(state=held) by the holder that already
    has it renews it. M(mlops.stack.backup) and M(mlops.stack.restore) renew it while they run
    (their O(mlops.stack.backup#module:lock) option).
  - O(state=released) clears the holder, if O(holder) still has it.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.k8s_auth
requirements:
  - kubernetes >= 24.2
attributes:
  check_mode:
    description: Reads the Lease and fails as a claim would, without writing it.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
options:
  name:
    description: Name of the Lease.
    type: str
    required: true
  namespace:
    description: Namespace of the Lease.
    type: str
    default: mlops
  holder:
    description:
      - Identity of this run, written as C(holderIdentity). Use one that no other run shares,
        for example C(backup/<host>/<random>).
    type: str
    required: true
  state:
    description:
      - V(held) claims the Lease (or renews it when O(holder) has it already); V(released) clears
        the holder.
    type: str
    choices: [held, released]
    default: held
  duration:
    description:
      - Seconds a claim lasts after each renewal (C(leaseDurationSeconds)). A lock left by a killed
        run expires that long after its last renewal.
      - Must outlast the longest step of the run that does not renew the Lease.
    type: int
    default: 900
  labels:
    description: Labels of the Lease, added when it is claimed.
    type: dict
"""

EXAMPLES = r"""
- name: Take the lock
  mlops.stack.lease:
    name: mlops-stack-backup
    namespace: mlops
    holder: "backup/{{ inventory_hostname }}/{{ lookup('ansible.builtin.password', '/dev/null', length=8) }}"
    duration: 900
  register: lock

- name: Release the lock
  mlops.stack.lease:
    name: mlops-stack-backup
    namespace: mlops
    holder: "{{ lock.holder }}"
    state: released
"""

RETURN = r"""
holder:
  description: O(holder), as written into the Lease.
  returned: always
  type: str
  sample: backup/controller/k3v9x2ab
renewed:
  description: Whether O(holder) had the Lease already, so the claim only renewed it.
  returned: O(state=held)
  type: bool
  sample: false
taken_over:
  description: Holder of an expired claim that this claim replaced, or null.
  returned: O(state=held)
  type: str
  sample: restore/controller/4jz0qq1c
"""

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils._lease import Lease
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, failure_of


def run_lease(module):
    params = module.params
    module.require("kubernetes", k8s.KUBERNETES_IMPORT_ERROR)
    if params["duration"] < 1:
        raise ParameterError("Invalid duration %r: it must be at least 1 second" % params["duration"])
    lease = Lease(k8s.kubernetes_client(params["kubeconfig"], params["context"]), params["namespace"],
                  params["name"])
    if params["state"] == "released":
        with failure_of("release the backup lock"):
            released = lease.release(params["holder"], check_mode=module.check_mode)
        return dict(changed=released, holder=params["holder"])
    result = lease.acquire(params["holder"], params["duration"], labels=params["labels"],
                           check_mode=module.check_mode)
    return dict(result, holder=params["holder"])


OPTIONS = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", default="mlops"),
    holder=dict(type="str", required=True),
    state=dict(type="str", choices=["held", "released"], default="held"),
    duration=dict(type="int", default=900),
    labels=dict(type="dict"),
    **k8s.k8s_auth_argument_spec()
)
MODULE = ModuleDeclaration(run_lease, "take the backup lock", OPTIONS, groups=())
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

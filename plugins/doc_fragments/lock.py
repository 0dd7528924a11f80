# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The Lease lock a long step renews while it runs (taken by mlops.stack.lease).
    DOCUMENTATION = r"""
options:
  lock:
    description:
      - The Lease lock this run holds (taken with M(mlops.stack.lease)), in namespace O(namespace),
        reached with O(kubeconfig) and O(context).
      - While the module runs it renews the Lease every third of O(lock.duration), so a step that
        lasts hours keeps the lock, and a lock left by a killed run expires O(lock.duration) seconds
        after its last renewal.
      - When another run has taken the Lease meanwhile (after it expired), the module fails once its
        work is done, since that work was no longer protected by the lock.
    type: dict
    suboptions:
      name:
        description: Name of the Lease.
        type: str
        required: true
      holder:
        description: Identity of this run, as it claimed the Lease.
        type: str
        required: true
      duration:
        description: Seconds the claim lasts after each renewal.
        type: int
        required: true
requirements:
  - kubernetes >= 24.2 (only with O(lock))
"""

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The backup key and the stack's identity (backup, restore, backup_info);
    # module_utils._backup.params.key_argument_spec() builds these options.
    DOCUMENTATION = r"""
options:
  key:
    description:
      - The backup key, at least 32 characters. It signs every set's manifest (HMAC-SHA256 over a
        manifest that lists every file's size and sha256) and encrypts the dump and the objects
        (AES-256-GCM in 1 MiB segments, the STREAM construction, a key per file derived with HKDF-SHA256).
      - Whoever holds it can read every set and make sets a restore accepts; whoever loses it loses the
        sets. The role M(mlops.stack.backup) generates it once into a Secret of its own.
      - Never logged.
    type: str
  stack_id:
    description:
      - The id of the stack, recorded in every set's manifest with O(namespace).
      - Readers and retention consider only the sets of this stack (the same namespace and id);
        omitted, every set of O(namespace).
    type: str
requirements:
  - cryptography
"""

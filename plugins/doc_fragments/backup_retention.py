# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Which sets retention removes (backup after a set, backup_retention on its own);
    # module_utils._backup.retention.retention_argument_spec() builds these options.
    DOCUMENTATION = r"""
options:
  keep_last:
    description:
      - Keep at most this many complete sets (a set M(mlops.stack.backup) is writing counts among
        them), unless O(keep_within) keeps them. At least 1.
      - With neither O(keep_last) nor O(keep_within), no complete set is removed.
    type: int
  keep_within:
    description:
      - Keep every complete set younger than this, for example V(7d), V(12h), V(30m) or V(2w).
    type: str
  incomplete_grace:
    description:
      - Remove sets without a manifest (interrupted runs) once they are older
        than this. Younger ones may belong to a backup still running.
    type: str
    default: 1d
"""

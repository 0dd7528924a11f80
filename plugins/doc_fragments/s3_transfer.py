# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How big objects are transferred (module_utils.s3.transfer_argument_spec).
    DOCUMENTATION = r"""
options:
  multipart_threshold_mb:
    description:
      - Objects from this size (MiB) are transferred in parts.
    type: int
    default: 64
  multipart_chunk_mb:
    description:
      - Size (MiB) of each part of a multipart transfer.
    type: int
    default: 16
"""

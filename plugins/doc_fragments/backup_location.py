# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The options of a location where backup sets are kept, under a prefix:
# "destination" for backup and backup_info, "source" for restore
# (module_utils.s3.location_argument_spec builds the same options).
_LOCATION = r"""
options:
  %(prefix)s:
    description:
      - Where backup sets are %(verb)s, either an S3 URL C(s3://bucket/prefix) on any endpoint
        or an absolute directory path (local or mounted).
      - Each set is kept under C(<%(prefix)s>/<backup id>/) and is complete only once its
        C(manifest.json) is written.
    type: str
    required: true
  %(prefix)s_endpoint_url:
    description:
      - S3 endpoint of O(%(prefix)s) when it is an S3 URL.
      - Defaults to O(endpoint_url), the endpoint of the artifact buckets.
    type: str
  %(prefix)s_access_key:
    description:
      - Access key for O(%(prefix)s). Defaults to O(access_key).
    type: str
  %(prefix)s_secret_key:
    description:
      - Secret key for O(%(prefix)s). Never logged. Defaults to O(secret_key).
    type: str
  %(prefix)s_region:
    description:
      - Region sent in request signatures for O(%(prefix)s). Defaults to O(region).
    type: str
  %(prefix)s_validate_certs:
    description:
      - Verify the TLS certificate of O(%(prefix)s_endpoint_url). Defaults to O(validate_certs).
    type: bool
  %(prefix)s_ca_bundle:
    description:
      - CA bundle for O(%(prefix)s_endpoint_url). Defaults to O(ca_bundle).
    type: path
"""


class ModuleDocFragment(object):
    # Where backup sets are written (backup) or listed (backup_info).
    DESTINATION = _LOCATION % dict(prefix="destination", verb="kept")

    # Where the backup set to restore is read from (restore).
    SOURCE = _LOCATION % dict(prefix="source", verb="read from")

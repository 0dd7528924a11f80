# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Where backup sets are written (backup) or listed (backup_info);
    # module_utils.s3.location_argument_spec("destination") builds these options.
    DESTINATION = r"""
options:
  destination:
    description:
      - Where backup sets are kept, either an S3 URL C(s3://bucket/prefix) on any endpoint
        or an absolute directory path (local or mounted).
      - Each set is kept under C(<destination>/<backup id>/) and is complete only once its
        C(manifest.json) is written.
    type: str
    required: true
  destination_endpoint_url:
    description:
      - S3 endpoint of O(destination) when it is an S3 URL.
      - Defaults to O(endpoint_url), the endpoint of the artifact buckets.
    type: str
  destination_access_key:
    description:
      - Access key for O(destination). Defaults to O(access_key).
      - The backup module writes with it and, for retention, deletes sets.
    type: str
  destination_secret_key:
    description:
      - Secret key for O(destination). Never logged. Defaults to O(secret_key).
    type: str
  destination_region:
    description:
      - Region sent in request signatures for O(destination). Defaults to O(region).
    type: str
  destination_validate_certs:
    description:
      - Verify the TLS certificate of O(destination_endpoint_url). Defaults to O(validate_certs).
    type: bool
  destination_ca_bundle:
    description:
      - CA bundle for O(destination_endpoint_url). Defaults to O(ca_bundle).
    type: path
"""

    # Where the backup set to restore is read from (restore);
    # module_utils.s3.location_argument_spec("source") builds these options.
    SOURCE = r"""
options:
  source:
    description:
      - Where the set to restore is read from, an S3 URL C(s3://bucket/prefix) on any
        endpoint or an absolute directory path (local or mounted), as O(mlops.stack.backup#module:destination)
        wrote it.
    type: str
    required: true
  source_endpoint_url:
    description:
      - S3 endpoint of O(source) when it is an S3 URL; defaults to O(endpoint_url), where the buckets are restored to.
    type: str
  source_access_key:
    description:
      - Access key for O(source), which restore only reads. Defaults to O(access_key).
    type: str
  source_secret_key:
    description:
      - Secret key for O(source), never logged; defaults to O(secret_key).
    type: str
  source_region:
    description:
      - Region of O(source) for request signatures; defaults to O(region).
    type: str
  source_validate_certs:
    description:
      - Whether the TLS certificate of O(source_endpoint_url) is verified (defaults to O(validate_certs)).
    type: bool
  source_ca_bundle:
    description:
      - CA bundle that signs the certificate of O(source_endpoint_url); defaults to O(ca_bundle).
    type: path
"""

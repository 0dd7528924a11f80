# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of every module that connects to an S3 endpoint (MinIO first).
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - URL of the S3 endpoint, for example C(http://minio.mlops.svc.cluster.local:9000).
      - Leave unset for AWS S3.
      - Falls back to the E(MINIO_ENDPOINT), then E(AWS_ENDPOINT_URL) environment variable.
    type: str
    aliases: [s3_url]
  access_key:
    description:
      - Access key (MinIO root user or a service account).
      - Falls back to E(MINIO_ROOT_USER), then E(AWS_ACCESS_KEY_ID).
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - Secret key matching O(access_key). Never logged.
      - Falls back to E(MINIO_ROOT_PASSWORD), then E(AWS_SECRET_ACCESS_KEY).
    type: str
    aliases: [aws_secret_access_key]
  region:
    description:
      - Region name sent in request signatures. MinIO accepts the default.
      - Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION).
    type: str
    default: us-east-1
  validate_certs:
    description:
      - Verify the endpoint's TLS certificate.
    type: bool
    default: true
  ca_bundle:
    description:
      - CA bundle used to verify the endpoint's certificate.
      - Falls back to E(AWS_CA_BUNDLE).
    type: path
requirements:
  - boto3 >= 1.28
"""

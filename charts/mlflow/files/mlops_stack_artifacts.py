"""The artifact store of the chart's tracking server: S3 behind the server's proxy.

MLflow 3.15 and later advertise presigned S3 transfers in /server-info whenever
the repository of --artifacts-destination can presign (S3's can), and the
client and the UI then download (and upload 500 MB or more) straight from the
URL the server signed. The server signs it for the endpoint it reaches S3 by
itself (MLFLOW_S3_ENDPOINT_URL), a cluster-internal name such as
http://minio:9000 that clients outside the cluster cannot resolve. MLflow has no
server setting to turn this off or to sign for another endpoint, so the chart
puts this module on the server's PYTHONPATH with an entry point (group
mlflow.artifact_repository) that makes it the server's repository for s3://:

- without MLOPS_STACK_S3_EXTERNAL_ENDPOINT_URL it presigns nothing, so the server
  advertises no presigned transfers and every client goes through it;
- with it (an S3 endpoint clients reach, e.g. a MinIO ingress), the server signs
  URLs for that endpoint while it keeps reaching S3 through its own.

Clients never load it: it changes only what the server offers them.
"""

import os

from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository, _get_s3_client

EXTERNAL_ENDPOINT_ENV = "MLOPS_STACK_S3_EXTERNAL_ENDPOINT_URL"


class ProxiedS3ArtifactRepository(ArtifactRepository):
    """S3 reached only through the server: no presigning, so none is advertised."""

    def __init__(self, artifact_uri, tracking_uri=None, registry_uri=None):
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        self._s3 = S3ArtifactRepository(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)

    def log_artifact(self, local_file, artifact_path=None):
        self._s3.log_artifact(local_file, artifact_path)

    def log_artifacts(self, local_dir, artifact_path=None):
        self._s3.log_artifacts(local_dir, artifact_path)

    def list_artifacts(self, path=None):
        return self._s3.list_artifacts(path)

    def _download_file(self, remote_file_path, local_path):
        self._s3._download_file(remote_file_path, local_path)  # pylint: disable=protected-access

    def delete_artifacts(self, artifact_path=None):
        self._s3.delete_artifacts(artifact_path)


class _SigningClient:
    """The server's S3 client, except that URLs are signed for the clients' endpoint.

    Signing is local (no request), so the server never needs to reach that endpoint."""

    def __init__(self, client, signer):
        self._client = client
        self._signer = signer

    def generate_presigned_url(self, *args, **kwargs):
        return self._signer.generate_presigned_url(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


class ExternallyPresignedS3ArtifactRepository(S3ArtifactRepository):
    """S3 with presigned transfers whose URLs name the external endpoint."""

    def __init__(self, artifact_uri, external_endpoint_url, tracking_uri=None, registry_uri=None):
        super().__init__(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
        self._external_endpoint_url = external_endpoint_url

    def _get_s3_client(self):
        return _SigningClient(super()._get_s3_client(), _get_s3_client(s3_endpoint_url=self._external_endpoint_url))


def repository(artifact_uri, tracking_uri=None, registry_uri=None):
    """The entry point: the server's repository for an s3:// URI."""
    external = os.environ.get(EXTERNAL_ENDPOINT_ENV, "").strip()
    if external:
        return ExternallyPresignedS3ArtifactRepository(artifact_uri, external, tracking_uri, registry_uri)
    return ProxiedS3ArtifactRepository(artifact_uri, tracking_uri, registry_uri)

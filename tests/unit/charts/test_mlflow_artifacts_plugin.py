"""The chart's artifact repository (charts/mlflow/files/mlops_stack_artifacts.py), offline.

What the server advertises follows from the repository's type (MLflow checks
isinstance against its presigning mixins), and presigned URLs are signed
locally, so both are checked here without an S3 endpoint; the integration
tests run it in a real server on a real MinIO.
"""
import importlib.util
import os
from unittest import mock

import pytest
from mlflow.store.artifact.artifact_repo import MultipartDownloadMixin, MultipartUploadMixin, PresignedUploadMixin

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "charts", "mlflow", "files", "mlops_stack_artifacts.py")
SPEC = importlib.util.spec_from_file_location("mlops_stack_artifacts", PATH)
plugin = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(plugin)
PRESIGNING = (MultipartDownloadMixin, MultipartUploadMixin, PresignedUploadMixin)


@pytest.fixture(autouse=True)
def s3_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.delenv(plugin.EXTERNAL_ENDPOINT_ENV, raising=False)


def test_without_an_external_endpoint_nothing_is_presigned():
    repo = plugin.repository("s3://mlflow/artifacts")
    assert not isinstance(repo, PRESIGNING)
    assert repo.artifact_uri == "s3://mlflow/artifacts"


def test_every_transfer_is_the_s3_repository_s():
    repo = plugin.repository("s3://mlflow")
    with mock.patch.object(plugin.S3ArtifactRepository, "list_artifacts", return_value=["listed"]) as listing, \
            mock.patch.object(plugin.S3ArtifactRepository, "_download_file") as download, \
            mock.patch.object(plugin.S3ArtifactRepository, "log_artifact") as upload, \
            mock.patch.object(plugin.S3ArtifactRepository, "log_artifacts") as upload_dir, \
            mock.patch.object(plugin.S3ArtifactRepository, "delete_artifacts") as delete:
        assert repo.list_artifacts("1/run") == ["listed"]
        repo._download_file("1/run/model.pkl", "/tmp/model.pkl")
        repo.log_artifact("/tmp/model.pkl", "1/run")
        repo.log_artifacts("/tmp/dir", "1/run")
        repo.delete_artifacts("1/run")
    listing.assert_called_once_with("1/run")
    download.assert_called_once_with("1/run/model.pkl", "/tmp/model.pkl")
    upload.assert_called_once_with("/tmp/model.pkl", "1/run")
    upload_dir.assert_called_once_with("/tmp/dir", "1/run")
    delete.assert_called_once_with("1/run")


def test_with_an_external_endpoint_urls_name_it(monkeypatch):
    monkeypatch.setenv(plugin.EXTERNAL_ENDPOINT_ENV, "https://s3.example.com")
    repo = plugin.repository("s3://mlflow/artifacts")
    assert isinstance(repo, PRESIGNING)
    client = repo._get_s3_client()
    url = client.generate_presigned_url("get_object", Params={"Bucket": "mlflow", "Key": "artifacts/1/model.pkl"})
    assert url.startswith("https://s3.example.com/mlflow/artifacts/1/model.pkl?")
    # Every request still goes to the server's own endpoint.
    assert client.meta.endpoint_url == "http://minio:9000"

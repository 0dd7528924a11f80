"""Unit tests for the bucket service against a stubbed S3 client."""

import botocore.stub
import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _bucket, _bucket_service
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import s3_client

ANY = botocore.stub.ANY


@pytest.fixture
def stubbed():
    client = s3_client(dict(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b"))
    with botocore.stub.Stubber(client) as stubber:
        yield _bucket_service.BucketService(client), stubber
        stubber.assert_no_pending_responses()


def test_exists(stubbed):
    service, stub = stubbed
    stub.add_response("head_bucket", {}, dict(Bucket="data"))
    stub.add_client_error("head_bucket", "404", http_status_code=404)
    assert service.exists("data") is True
    assert service.exists("data") is False


def test_a_refused_head_is_asked_again_for_its_reason(stubbed):
    service, stub = stubbed
    stub.add_client_error("head_bucket", "403", http_status_code=403)
    stub.add_client_error("get_bucket_location", "InvalidAccessKeyId", "The key is unknown.")
    with pytest.raises(S3Error) as caught:
        service.exists("data")
    assert caught.value.message == ("Failed to read bucket data: InvalidAccessKeyId The key is unknown. "
                                    "(check access_key and secret_key)")


def test_a_refused_head_with_no_other_reason_is_access_denied(stubbed):
    service, stub = stubbed
    stub.add_client_error("head_bucket", "403", http_status_code=403)
    stub.add_response("get_bucket_location", {})
    with pytest.raises(S3Error, match="^Failed to read bucket data: access denied$"):
        service.exists("data")


def test_read_takes_missing_settings_for_none(stubbed):
    service, stub = stubbed
    stub.add_response("head_bucket", {})
    stub.add_response("get_bucket_versioning", {"Status": "Enabled"})
    stub.add_client_error("get_object_lock_configuration", "ObjectLockConfigurationNotFoundError")
    stub.add_client_error("get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration")
    stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy")
    stub.add_response("get_bucket_tagging", {"TagSet": [{"Key": "app", "Value": "mlflow"}]})
    bucket = service.read("data")
    assert bucket["exists"] and bucket["versioning"] == "enabled" and bucket["object_lock"] is False
    assert bucket["lifecycle"] == [] and bucket["policy"] == "none" and bucket["tags"] == {"app": "mlflow"}


def test_a_failed_read_names_the_setting(stubbed):
    service, stub = stubbed
    stub.add_response("head_bucket", {})
    stub.add_client_error("get_bucket_versioning", "AccessDenied", "no")
    with pytest.raises(S3Error, match="^Failed to read versioning of bucket data: AccessDenied no$"):
        service.read("data")


def test_apply_creates_and_sets_only_what_differs(stubbed):
    service, stub = stubbed
    current = _bucket.absent_bucket("data")
    after = dict(current, exists=True, tags={"app": "mlflow"})
    stub.add_response("create_bucket", {}, dict(Bucket="data"))
    stub.add_response("put_bucket_tagging", {}, dict(Bucket="data", Tagging=dict(
        TagSet=[dict(Key="app", Value="mlflow")])))
    service.apply(current, after)


def test_apply_deletes_a_setting_set_to_nothing(stubbed):
    service, stub = stubbed
    current = dict(_bucket.absent_bucket("data"), exists=True, tags={"app": "mlflow"})
    stub.add_response("delete_bucket_tagging", {}, dict(Bucket="data"))
    service.apply(current, dict(current, tags={}))


def test_empty_reports_objects_it_could_not_delete(stubbed):
    service, stub = stubbed
    stub.add_response("list_object_versions", {"Versions": [{"Key": "a", "VersionId": "1"}]})
    stub.add_response("delete_objects", {"Errors": [{"Key": "a", "Code": "AccessDenied", "Message": "locked"}]})
    with pytest.raises(S3Error, match="^Failed to empty bucket data: 1 objects could not be deleted, first a"):
        service.empty("data")


class FakeModule:
    def __init__(self, **params):
        self.params = dict(name="data", state="absent", force=False, versioning=None, object_lock=None,
                           lifecycle=None, purge_lifecycle=True, anonymous_access=None, tags=None,
                           purge_tags=True, endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b",
                           region="us-east-1", validate_certs=True, ca_bundle=None)
        self.params.update(params)
        self.check_mode = True
        self.diff_mode = True


@pytest.fixture
def plain_bucket(monkeypatch):
    """A stubbed client whose bucket data has no settings; the test adds the listing."""
    client = s3_client(dict(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b"))
    monkeypatch.setattr(_bucket_service, "s3_client", lambda connection: client)
    with botocore.stub.Stubber(client) as stub:
        stub.add_response("head_bucket", {})
        stub.add_response("get_bucket_versioning", {})
        for method in ("get_object_lock_configuration", "get_bucket_lifecycle_configuration",
                       "get_bucket_policy", "get_bucket_tagging"):
            stub.add_client_error(method, "NotFound")
        yield stub


def test_a_bucket_with_objects_is_kept_without_force(plain_bucket):
    plain_bucket.add_response("list_object_versions", {"Versions": [{"Key": "a", "VersionId": "1"}]})
    with pytest.raises(ParameterError, match="^Failed to delete bucket data: the bucket is not empty"):
        _bucket_service.manage_bucket(FakeModule())


def test_check_mode_plans_the_deletion_of_an_empty_bucket(plain_bucket):
    plain_bucket.add_response("list_object_versions", {})
    result = _bucket_service.manage_bucket(FakeModule())
    assert result["changed"] and result["changes"] == ["delete bucket"]
    assert result["bucket"] == {} and result["diff"]["before"]["name"] == "data"

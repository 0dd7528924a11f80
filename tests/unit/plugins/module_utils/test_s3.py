"""Unit tests for the S3 options, client checks and the one S3 error handler."""

import botocore.exceptions
import pytest

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils.errors import S3Error


def client_error(code, message="", operation="HeadBucket"):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


def raising(error):
    def method(**kwargs):
        raise error
    return method


def test_s3_errors_turns_botocore_errors_into_one_line_failures():
    with pytest.raises(S3Error) as caught:
        with s3.s3_errors("read bucket data"):
            raise client_error("AccessDenied", "Access Denied.")
    assert caught.value.message == "Failed to read bucket data: AccessDenied Access Denied."
    assert caught.value.code == "AccessDenied"
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)


def test_s3_errors_names_the_endpoint_it_could_not_reach():
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="http://minio:9000")
    with pytest.raises(S3Error, match=r"^Failed to list bucket b: endpoint unreachable \(http://minio:9000\)$"):
        with s3.s3_errors("list bucket b"):
            raise error


def test_s3_errors_takes_failed_transfers_too():
    import boto3.exceptions

    with pytest.raises(S3Error, match="^Failed to write x to s3://b: Failed to upload"):
        with s3.s3_errors("write x to s3://b"):
            raise boto3.exceptions.S3UploadFailedError("Failed to upload x to b/x: AccessDenied")


def test_s3_errors_lets_other_errors_through():
    with pytest.raises(ValueError):
        with s3.s3_errors("read bucket data"):
            raise ValueError("bug")


def test_wrong_keys_point_at_the_options():
    reason = s3.describe_client_error(client_error("SignatureDoesNotMatch"))
    assert reason == "SignatureDoesNotMatch (check access_key and secret_key)"


@pytest.mark.parametrize("code", sorted(s3.NOT_FOUND))
def test_s3_call_returns_missing_for_every_not_found_code(code):
    assert s3.s3_call("read tags of bucket b", raising(client_error(code)), missing=None, Bucket="b") is None


def test_s3_call_without_missing_fails_on_not_found():
    with pytest.raises(S3Error) as caught:
        s3.s3_call("read bucket b", raising(client_error("NoSuchBucket")), Bucket="b")
    assert s3.is_not_found(caught.value)
    assert caught.value.message.startswith("Failed to read bucket b: NoSuchBucket")


def test_s3_call_with_missing_still_fails_on_other_errors():
    with pytest.raises(S3Error, match="AccessDenied"):
        s3.s3_call("read bucket b", raising(client_error("AccessDenied")), missing=False, Bucket="b")


def test_s3_call_passes_its_arguments_and_answer():
    assert s3.s3_call("read bucket b", lambda **kwargs: kwargs, Bucket="b") == dict(Bucket="b")


def test_client_needs_a_url_scheme():
    with pytest.raises(S3Error, match="^Failed to create S3 client: endpoint_url 'minio:9000' must start"):
        s3.s3_client(dict(endpoint_url="minio:9000"))


def test_client_needs_both_keys_or_neither():
    with pytest.raises(S3Error, match="must be given together"):
        s3.s3_client(dict(endpoint_url="http://minio:9000", access_key="admin"))


def test_client_addresses_buckets_by_path():
    client = s3.s3_client(dict(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b",
                               validate_certs=True))
    assert client.meta.config.s3["addressing_style"] == "path"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_location_options_fall_back_to_the_module_connection():
    spec = s3.location_argument_spec("destination")
    assert spec["destination"] == dict(type="str", required=True)
    assert spec["destination_secret_key"]["no_log"] is True
    assert spec["destination_access_key"]["no_log"] is False
    assert all("default" not in value and "fallback" not in value for value in spec.values())
    params = dict(endpoint_url="http://a:9000", access_key="a", secret_key="s", region="r",
                  destination_endpoint_url="http://b:9000", destination_access_key=None)
    connection = s3.location_connection(params, "destination")
    assert connection["endpoint_url"] == "http://b:9000"
    assert connection["access_key"] == "a" and connection["secret_key"] == "s"


def test_transfer_options():
    assert s3.transfer_argument_spec() == dict(multipart_threshold_mb=dict(type="int", default=64),
                                               multipart_chunk_mb=dict(type="int", default=16))


@pytest.mark.parametrize("validate_certs,ca_bundle,verify", [
    (True, None, True),
    (True, "/etc/mlops/ca.crt", "/etc/mlops/ca.crt"),
    (False, "/etc/mlops/ca.crt", False),
    (False, None, False),
])
def test_client_verifies_with_the_ca_bundle(validate_certs, ca_bundle, verify):
    client = s3.s3_client(dict(endpoint_url="https://127.0.0.1:9", access_key="a", secret_key="b",
                               validate_certs=validate_certs, ca_bundle=ca_bundle))
    assert client._endpoint.http_session._verify == verify


def test_s3_errors_say_which_ca_to_set_when_the_issuer_is_unknown():
    error = botocore.exceptions.SSLError(
        endpoint_url="https://127.0.0.1:9000/b",
        error="[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate "
              "(_ssl.c:1006)")
    with pytest.raises(S3Error) as caught:
        with s3.s3_errors("read bucket b"):
            raise error
    assert caught.value.message == (
        "Failed to read bucket b: TLS handshake failed (certificate verify failed: unable to get local issuer "
        "certificate); set ca_bundle to the CA that signs the endpoint's certificate")


def test_tls_errors_that_a_ca_does_not_cure_get_no_hint():
    reason = s3.describe_tls_error("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                   "IP address mismatch, certificate is not valid for '10.0.0.1'. (_ssl.c:1006)")
    assert reason == ("TLS handshake failed (certificate verify failed: IP address mismatch, certificate is not "
                      "valid for '10.0.0.1'.)")

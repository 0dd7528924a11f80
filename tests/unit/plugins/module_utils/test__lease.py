"""Unit tests for the Lease lock: claims, takeovers, releases and renewals against a fake API."""

import copy
import datetime
import json
import threading
import time

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _lease
from ansible_collections.mlops.stack.plugins.module_utils.errors import LockError

NOW = datetime.datetime(2026, 11, 29, 20, 0, 0, tzinfo=datetime.timezone.utc)


class ApiException(Exception):
    def __init__(self, status, reason=""):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Response:
    def __init__(self, body):
        self.data = json.dumps(body).encode()


class FakeCoordination:
    """One Lease kept as the API server keeps it: writes need the resourceVersion read."""

    def __init__(self, lease=None):
        self.lease = lease
        self.version = 1
        self.writes = []
        self.before_write = None

    def __call__(self, api_client):
        return self

    def read_namespaced_lease(self, name, namespace, _preload_content=True):
        if self.lease is None:
            raise ApiException(404, "Not Found")
        return Response(self.lease)

    def _store(self, body):
        self.version += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.version)
        self.writes.append(copy.deepcopy(self.lease))
        return Response(self.lease)

    def create_namespaced_lease(self, namespace, body, _preload_content=True):
        if self.before_write:
            self.before_write()
        if self.lease is not None:
            raise ApiException(409, "AlreadyExists")
        return self._store(body)

    def replace_namespaced_lease(self, name, namespace, body, _preload_content=True):
        if self.before_write:
            self.before_write()
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiException(409, "Conflict")
        return self._store(body)


def lease(holder, renewed=NOW, duration=900):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "lock", "namespace": "ns", "resourceVersion": "1"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": _lease.format_time(renewed), "renewTime": _lease.format_time(renewed)}}


@pytest.fixture
def api(monkeypatch):
    fake = FakeCoordination()
    monkeypatch.setattr(_lease, "CoordinationV1Api", fake)
    monkeypatch.setattr(_lease, "ApiException", ApiException)
    monkeypatch.setattr(_lease, "utcnow", lambda: NOW)
    return fake


def test_a_missing_lease_is_created_for_the_holder(api):
    result = _lease.Lease(None, "ns", "lock").acquire("backup/a", 900, labels={"app": "x"})
    assert result == dict(changed=True, renewed=False, taken_over=None)
    assert api.lease["spec"] == {"holderIdentity": "backup/a", "leaseDurationSeconds": 900,
                                 "acquireTime": "2026-11-29T20:00:00.000000Z",
                                 "renewTime": "2026-11-29T20:00:00.000000Z", "leaseTransitions": 0}
    assert api.lease["metadata"]["labels"] == {"app": "x"}


def test_a_held_lease_is_refused_naming_its_holder(api):
    api.lease = lease("restore/b", renewed=NOW - datetime.timedelta(seconds=10))
    with pytest.raises(LockError, match="Another backup or restore is running: Lease ns/lock is held by restore/b "
                                        "since 2026-11-29T19:59:50.000000Z"):
        _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)
    assert api.writes == []


def test_an_expired_lease_is_taken_over(api):
    api.lease = lease("restore/b", renewed=NOW - datetime.timedelta(seconds=901))
    result = _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)
    assert result["taken_over"] == "restore/b"
    assert api.lease["spec"]["holderIdentity"] == "backup/a" and api.lease["spec"]["leaseTransitions"] == 1


def test_a_released_lease_is_free(api):
    api.lease = lease(None)
    assert _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)["taken_over"] is None
    assert api.lease["spec"]["holderIdentity"] == "backup/a"


def test_the_holder_renews_and_keeps_its_acquire_time(api):
    api.lease = lease("backup/a", renewed=NOW - datetime.timedelta(seconds=100))
    assert _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)["renewed"] is True
    assert api.lease["spec"]["acquireTime"] == "2026-11-29T19:58:20.000000Z"
    assert api.lease["spec"]["renewTime"] == "2026-11-29T20:00:00.000000Z"


def test_of_two_claims_at_once_only_one_is_written(api):
    """The other run's write lands between this run's read and write: the API refuses this one."""
    api.lease = lease(None)

    def other_claims_first():
        api.before_write = None
        api.lease = dict(lease("restore/b"), metadata=dict(api.lease["metadata"], resourceVersion="7"))

    api.before_write = other_claims_first
    with pytest.raises(LockError, match="held by restore/b"):
        _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)
    assert api.lease["spec"]["holderIdentity"] == "restore/b"


def test_two_creates_at_once(api):
    def other_creates_first():
        api.before_write = None
        api.lease = lease("restore/b")

    api.before_write = other_creates_first
    with pytest.raises(LockError, match="held by restore/b"):
        _lease.Lease(None, "ns", "lock").acquire("backup/a", 900)


def test_check_mode_writes_nothing(api):
    assert _lease.Lease(None, "ns", "lock").acquire("backup/a", 900, check_mode=True)["changed"] is True
    assert api.writes == [] and api.lease is None


def test_release_clears_the_holder_and_keeps_the_lease(api):
    api.lease = lease("backup/a")
    assert _lease.Lease(None, "ns", "lock").release("backup/a") is True
    spec = api.lease["spec"]
    assert spec["holderIdentity"] is None and spec["acquireTime"] is None and spec["leaseDurationSeconds"] == 1
    assert _lease.active_holder(api.lease, NOW) is None


def test_release_leaves_another_holders_lease_alone(api):
    api.lease = lease("restore/b")
    assert _lease.Lease(None, "ns", "lock").release("backup/a") is False
    assert api.writes == []
    api.lease = None
    assert _lease.Lease(None, "ns", "lock").release("backup/a") is False


def test_renewal_fails_once_another_run_took_the_lease(api):
    api.lease = lease("restore/b")
    with pytest.raises(LockError, match="^this run lost the lock: Another backup or restore is running"):
        _lease.Lease(None, "ns", "lock").renew("backup/a", 900)


def test_the_first_release_lease_format_is_read(api):
    """A Lease the 0.1.0 lock tasks created (and a killed run left) is held until it expires."""
    old = lease("backup/controller/abcd1234", renewed=NOW - datetime.timedelta(seconds=3600), duration=21600)
    api.lease = old
    with pytest.raises(LockError, match="expires at 2026-11-30T01:00:00.000000Z"):
        _lease.Lease(None, "ns", "lock").acquire("restore/x", 900)
    assert _lease.parse_time("2026-11-29T20:00:00Z") == NOW


def test_renewing_renews_while_the_body_runs(api, monkeypatch):
    monkeypatch.setattr(_lease, "utcnow", lambda: datetime.datetime.now(datetime.timezone.utc))
    lock = _lease.Lease(None, "ns", "lock")
    lock.acquire("backup/a", 900)
    with _lease.renewing(lock, "backup/a", 900, interval=0.01):
        time.sleep(0.2)
    assert len(api.writes) >= 3
    assert api.lease["spec"]["holderIdentity"] == "backup/a"


def test_renewing_reports_a_lost_lock_after_the_body(api, monkeypatch):
    monkeypatch.setattr(_lease, "utcnow", lambda: datetime.datetime.now(datetime.timezone.utc))
    api.lease = lease("restore/b", renewed=datetime.datetime.now(datetime.timezone.utc))
    done = threading.Event()
    with pytest.raises(LockError, match="lost the lock"):
        with _lease.renewing(_lease.Lease(None, "ns", "lock"), "backup/a", 900, interval=0.01):
            time.sleep(0.1)
            done.set()
    assert done.is_set()


def test_renewal_interval_is_a_third():
    assert _lease.renewal_interval(900) == 300 and _lease.renewal_interval(1) == 1.0

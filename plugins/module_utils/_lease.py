# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock of backup and restore: a coordination.k8s.io Lease.

The Lease is never deleted. Every write carries the resourceVersion read just
before it, so the API server refuses a write when another run changed the
Lease in between: of two runs that claim at once, exactly one succeeds.
A Lease is free when it names no holder or when its holder did not renew it
within leaseDurationSeconds; only then is it taken over. Releasing clears the
holder. A long step renews the Lease while it runs (``renewing``), so the
duration only has to outlast the gaps between steps, and a lock left by a
killed run expires that long after its last renewal.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import json
import threading

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils.errors import KubernetesError, LockError, StackError

try:
    from kubernetes.client import CoordinationV1Api
    from kubernetes.client.exceptions import ApiException
except ImportError:  # pragma: no cover - reported by the module through k8s.KUBERNETES_IMPORT_ERROR
    CoordinationV1Api = ApiException = None

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Tries of a release whose write met a change made meanwhile (a renewal of the
# same holder, or a takeover).
RELEASE_ATTEMPTS = 3


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def format_time(moment):
    return moment.strftime(TIME_FORMAT)


def parse_time(text):
    """A Lease's MicroTime (``2026-11-29T20:00:00.123456Z``), or None."""
    if not text:
        return None
    text = text.rstrip("Z")
    layout = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, layout).replace(tzinfo=datetime.timezone.utc)


def expiry(lease):
    """When the holder's claim runs out: last renewal plus the duration, or None."""
    spec = (lease or {}).get("spec") or {}
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if renewed is None:
        return None
    return renewed + datetime.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


def active_holder(lease, now):
    """The holder of an unexpired claim, or None when the Lease is free."""
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
    if not holder:
        return None
    ends = expiry(lease)
    return holder if ends is not None and ends > now else None


def held_message(namespace, name, lease):
    spec = lease.get("spec") or {}
    ends = expiry(lease)
    return ("Another backup or restore is running: Lease %s/%s is held by %s since %s, renewed %s; "
            "it expires at %s unless renewed (a killed run's lock expires then: no need to break it)"
            % (namespace, name, spec.get("holderIdentity"), spec.get("acquireTime") or "-",
               spec.get("renewTime") or "-", format_time(ends) if ends else "-"))


class Lease(object):
    """One Lease, read and written with the resourceVersion read."""

    def __init__(self, api_client, namespace, name):
        self.namespace = namespace
        self.name = name
        self._api = CoordinationV1Api(api_client)

    def read(self):
        """The Lease as a dict, or None when it does not exist."""
        try:
            response = self._api.read_namespaced_lease(self.name, self.namespace, _preload_content=False)
        except ApiException as error:
            if error.status == 404:
                return None
            raise self._api_error("read", error) from error
        return json.loads(response.data)

    def _write(self, body, create):
        """The written Lease, or None when another write came first (409)."""
        try:
            if create:
                response = self._api.create_namespaced_lease(self.namespace, body, _preload_content=False)
            else:
                response = self._api.replace_namespaced_lease(self.name, self.namespace, body,
                                                              _preload_content=False)
        except ApiException as error:
            if error.status == 409:
                return None
            raise self._api_error("write", error) from error
        return json.loads(response.data)

    def _api_error(self, verb, error):
        return KubernetesError("cannot %s Lease %s/%s: %s %s"
                               % (verb, self.namespace, self.name, error.status, error.reason))

    def _held(self, lease=None):
        """LockError naming the holder (read again when not given)."""
        lease = lease or self.read() or {}
        return LockError(held_message(self.namespace, self.name, lease))

    def acquire(self, holder, duration, labels=None, check_mode=False):
        """Claim the Lease for holder, or renew it if holder has it already.

        Returns dict(changed, renewed, taken_over): taken_over names the
        holder of an expired claim this one replaced. Raises LockError
        naming the holder when another run holds it.
        """
        now = utcnow()
        lease = self.read()
        current = active_holder(lease, now)
        if current not in (None, holder):
            raise self._held(lease)
        spec = dict((lease or {}).get("spec") or {})
        previous = spec.get("holderIdentity") or None
        result = dict(changed=True, renewed=current == holder,
                      taken_over=previous if previous not in (None, holder) else None)
        if check_mode:
            return result
        if current == holder:
            spec.update(renewTime=format_time(now), leaseDurationSeconds=duration)
        else:
            transitions = int(spec.get("leaseTransitions") or 0) + (1 if previous else 0)
            spec = dict(holderIdentity=holder, leaseDurationSeconds=duration, acquireTime=format_time(now),
                        renewTime=format_time(now), leaseTransitions=transitions)
        if lease is None:
            metadata = dict(name=self.name, namespace=self.namespace, labels=dict(labels or {}))
            body = dict(apiVersion="coordination.k8s.io/v1", kind="Lease", metadata=metadata, spec=spec)
        else:
            # The resourceVersion read stays in the metadata: a change made
            # since then makes the API server refuse this write.
            body = dict(lease, spec=spec)
            if labels:
                body["metadata"] = dict(lease["metadata"], labels=dict(lease["metadata"].get("labels") or {},
                                                                       **labels))
        if self._write(body, create=lease is None) is None:
            raise self._held()
        return result

    def renew(self, holder, duration):
        """Renew holder's claim; LockError when another run has the Lease now."""
        try:
            self.acquire(holder, duration)
        except LockError as error:
            raise LockError("this run lost the lock: %s" % error.reason) from error

    def release(self, holder, check_mode=False):
        """Clear the holder if it is still holder; returns whether it was."""
        for _attempt in range(RELEASE_ATTEMPTS):
            lease = self.read()
            spec = dict((lease or {}).get("spec") or {})
            if lease is None or spec.get("holderIdentity") != holder:
                return False
            if check_mode:
                return True
            # The duration drops to one second: readers that go by the times
            # alone (the first release's lock tasks) see the Lease free too.
            spec.update(holderIdentity=None, acquireTime=None, renewTime=format_time(utcnow()),
                        leaseDurationSeconds=1)
            if self._write(dict(lease, spec=spec), create=False) is not None:
                return True
        raise LockError("Lease %s/%s kept changing while this run released it" % (self.namespace, self.name))


def lease_of(params, lock):
    """The Lease the lock option of a module names, in the module's namespace."""
    client = k8s.kubernetes_client(params.get("kubeconfig"), params.get("context"))
    return Lease(client, params.get("namespace") or "mlops", lock["name"])


def renewal_interval(duration):
    """Renew three times per duration, so one failed renewal costs nothing."""
    return max(1.0, duration / 3.0)


@contextlib.contextmanager
def renewing(lease, holder, duration, interval=None):
    """Renew holder's claim in the background while the body runs.

    A renewal that fails for a passing reason (the API server unreachable)
    is tried again at the next interval; finding another holder stops the
    renewals, and the body's end then raises LockError, since what it did
    was no longer protected by the lock.
    """
    stop = threading.Event()
    lost = []

    def renew():
        while not stop.wait(interval or renewal_interval(duration)):
            try:
                lease.renew(holder, duration)
            except LockError as error:
                lost.append(error)
                return
            except StackError:
                continue

    thread = threading.Thread(target=renew, name="lease-renewal")
    thread.daemon = True
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if lost:
        raise lost[0]


def holding_lock(function):
    """function(module), run with the Lease of the module's lock option renewed."""
    def run(module):
        lock = module.params.get("lock")
        if not lock:
            return function(module)
        lease = lease_of(module.params, lock)
        with renewing(lease, lock["holder"], lock["duration"]):
            return function(module)
    return run


def lock_argument_spec():
    """The lock option of the modules that run long under the Lease."""
    return dict(lock=dict(type="dict", options=dict(
        name=dict(type="str", required=True),
        holder=dict(type="str", required=True),
        duration=dict(type="int", required=True),
    )))

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper every module of the collection builds on.

A module names the option groups it uses (its connections and other shared
options; the doc fragments of the same names document them) and its own
options; the argument spec is built from them, StackModule fails in one line when a Python library the options need is
missing, and runs the module's function: an expected error (StackError)
becomes "Failed to <action>: <reason>", anything else keeps its traceback.
StackModule holds an AnsibleModule rather than subclassing it, as amazon.aws
does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils import _lease, k8s, postgres, s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import params as backup_params
from ansible_collections.mlops.stack.plugins.module_utils._backup import retention as backup_retention
from ansible_collections.mlops.stack.plugins.module_utils._backup import seal
from ansible_collections.mlops.stack.plugins.module_utils.errors import StackError

# The collection's version, recorded in every backup set's manifest. A module
# cannot read galaxy.yml or MANIFEST.json at run time (it runs as a zip on the
# target), so it is kept here once; tests/unit checks it against galaxy.yml.
COLLECTION_VERSION = "0.2.0"


def _boto3(params):
    return [("boto3", s3.BOTO3_IMPORT_ERROR)]


def _database_driver(params):
    # Through a pod the server is reached with psql in the pod, not psycopg.
    return [] if params.get("pod") else [("psycopg", postgres.PSYCOPG_IMPORT_ERROR)]


def _pod_exec(params):
    return [("kubernetes", k8s.KUBERNETES_IMPORT_ERROR)] if params.get("pod") else []


def _cryptography(params):
    return [("cryptography", seal.CRYPTOGRAPHY_IMPORT_ERROR)]


def _lock(params):
    return [("kubernetes", k8s.KUBERNETES_IMPORT_ERROR)] if params.get("lock") else []


def _none(params):
    return []


# Option groups, named after the doc fragments that document them:
# name -> (argument spec, libraries the given params need).
OPTION_GROUPS = {
    "s3_connection": (s3.s3_argument_spec, _boto3),
    "postgres_connection": (postgres.postgres_argument_spec, _database_driver),
    "postgres_client": (postgres.postgres_client_argument_spec, _pod_exec),
    "backup_location.destination": (lambda: s3.location_argument_spec("destination"), _boto3),
    "backup_location.source": (lambda: s3.location_argument_spec("source"), _boto3),
    "s3_transfer": (s3.transfer_argument_spec, _none),
    "backup_key": (backup_params.key_argument_spec, _cryptography),
    "backup_retention": (backup_retention.retention_argument_spec, _none),
    "lock": (_lease.lock_argument_spec, _lock),
}


def argument_spec(groups, options):
    """The options of the groups, then the module's own."""
    spec = {}
    for group in groups:
        spec.update(OPTION_GROUPS[group][0]())
    spec.update(options)
    return spec


def run_module(function, action, groups, options, **kwargs):
    """The whole main() of a module: build it, check its libraries, run function."""
    module = StackModule(argument_spec(groups, options), supports_check_mode=True, **kwargs)
    for group in groups:
        for library, import_error in OPTION_GROUPS[group][1](module.params):
            module.require(library, import_error)
    if "lock" in groups:
        # A long step renews the Lease lock it runs under, however long it takes.
        function = _lease.holding_lock(function)
    module.run(function, action)


class ModuleDeclaration(object):
    """What a module is: the function it runs, the action that names its failures,
    the option groups it uses and its own options."""

    def __init__(self, function, action, options, groups=()):
        self.function = function
        self.action = action
        self.groups = groups
        self.options = options

    def argument_spec(self):
        return argument_spec(self.groups, self.options)

    def main(self):
        run_module(self.function, self.action, self.groups, self.options)


class StackModule(object):
    """Thin wrapper around AnsibleModule shared by all modules."""

    def __init__(self, argument_spec, **kwargs):
        self._module = AnsibleModule(argument_spec=argument_spec, **kwargs)
        self.params = self._module.params
        self.check_mode = self._module.check_mode

    @property
    def diff_mode(self):
        return self._module._diff

    def require(self, library, import_error):
        """Fail as missing_required_lib does when a library the options need is absent."""
        if import_error is not None:
            self._module.fail_json(msg=missing_required_lib(library), exception=str(import_error))

    def hide(self, *values):
        """Keep secrets learnt at run time out of every output."""
        for value in values:
            if value:
                self._module.no_log_values.add(value)

    def warn(self, message):
        self._module.warn(message)

    def run(self, function, action):
        """Run function(self) and exit with its result dict.

        Expected errors fail in one line, as failures of action unless they
        name their own; anything else keeps its traceback so a bug report
        carries what is needed to fix it.
        """
        try:
            result = function(self)
        except StackError as error:
            error.name_action(action)
            self._module.fail_json(msg=error.message, **error.details)
        except Exception as error:  # pylint: disable=broad-except
            self._module.fail_json(msg="Unexpected error: %s" % error, exception=traceback.format_exc())
        self._module.exit_json(**result)

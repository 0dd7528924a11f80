# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper every module of the collection builds on.

StackModule holds an AnsibleModule rather than subclassing it (as amazon.aws
does), injects the shared argument specs a module asks for, reports missing
Python libraries as one line, and turns StackError into fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils.errors import StackError


class StackModule(object):
    """Thin wrapper around AnsibleModule shared by all modules."""

    def __init__(self, argument_spec, required_libraries=None, **kwargs):
        self._module = AnsibleModule(argument_spec=argument_spec, **kwargs)
        self.params = self._module.params
        self.check_mode = self._module.check_mode
        for library, import_error in (required_libraries or {}).items():
            if import_error is not None:
                self._module.fail_json(
                    msg=missing_required_lib(library), exception=import_error
                )

    @property
    def diff_mode(self):
        return self._module._diff

    def hide(self, *values):
        """Keep secrets learnt at run time out of every output."""
        for value in values:
            if value:
                self._module.no_log_values.add(value)

    def warn(self, message):
        self._module.warn(message)

    def exit_json(self, **result):
        self._module.exit_json(**result)

    def fail_json(self, **result):
        self._module.fail_json(**result)

    def fail_from(self, error, **result):
        """Fail with the one-line message of an expected error."""
        result.update(error.details)
        self._module.fail_json(msg=error.message, **result)

    def run(self, action):
        """Run action(self) and exit with its result dict.

        Expected errors become a one-line failure; anything else keeps its
        traceback so a bug report carries what is needed to fix it.
        """
        try:
            result = action(self)
        except StackError as error:
            self.fail_from(error)
        except Exception as error:  # pylint: disable=broad-except
            self._module.fail_json(
                msg="Unexpected error: %s" % error, exception=traceback.format_exc()
            )
        self._module.exit_json(**result)

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of mlops.stack.input_check: runs on the controller and reads the variables itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import ArgumentTypeError, ArgumentValueError
from ansible.plugins.action import ActionBase

from ansible_collections.mlops.stack.plugins.module_utils import _inputs as inputs

COLLECTION = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
TYPE_PHRASES = dict(int="an integer", bool="true or false", str="a string", list="a list", dict="a dict",
                    float="a number", path="a path", raw="a value")
# The argument_specs keys of an option that the validator reads.
OPTION_KEYS = ("type", "choices", "elements", "options", "no_log")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("entry_points", "directories", "refuse"))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        spec = {}
        for role, entry_point in (args.get("entry_points") or {}).items():
            spec = dict(entry_point_options(role, entry_point), **spec)
        rules = dict(inputs.STACK_RULES)
        rules.update((name, rule) for name, rule in inputs.VARIABLE_RULES.items() if name in spec)
        paths = dict(inputs.STACK_PATHS, **(args.get("directories") or {}))
        lines = []
        values = {}
        for name in sorted(set(spec) | set(rules) | set(paths)):
            option = spec.get(name, {})
            secret = bool(option.get("no_log"))
            if name not in task_vars:
                continue
            try:
                value = self._templar.template(task_vars[name])
            except AnsibleError as error:
                lines.append(inputs.line(name, "cannot be read: %s" % first_line(error), secret=True))
                continue
            given = value
            problem, value = self._type_problem(name, option, value)
            if not problem and name in rules:
                try:
                    problem = inputs.problems_of(value, rules[name])
                except (TypeError, ValueError) as error:
                    problem = "cannot be checked: %s" % error
            if not problem and value and paths.get(name) and not str(value).startswith("s3://"):
                problem = self._path_problem(os.path.expanduser(str(value)), paths[name], task_vars)
            if problem:
                lines.append(inputs.line(name, problem, given, secret))
            values[name] = value
        lines.extend(inputs.relation_problems(values, set(spec)))
        for refusal in args.get("refuse") or []:
            if refusal.get("when", True) in (True, "True", "true"):
                lines.append(inputs.line(refusal["name"], refusal["problem"], refusal.get("value"),
                                         secret="value" not in refusal))
        if lines:
            result.update(failed=True, msg="\n".join(lines), input_refused=True)
        else:
            result.update(changed=False, msg="%d input(s) checked" % len(values))
        return result

    @staticmethod
    def _type_problem(name, option, value):
        """(problem or None, the value converted to the option's type)."""
        wanted = dict((key, option[key]) for key in OPTION_KEYS if key in option)
        if not wanted or value is None:
            return None, value
        validated = ArgumentSpecValidator({name: wanted}).validate({name: value}, validate_role_argument_spec=True)
        for error in validated.errors:
            message = " ".join(str(error).split())
            if isinstance(error, ArgumentTypeError) and " found in " not in message:
                return "must be %s" % TYPE_PHRASES.get(wanted.get("type"), wanted.get("type")), value
            if isinstance(error, ArgumentValueError) and " found in " not in message:
                return "must be one of %s" % ", ".join(str(choice) for choice in wanted["choices"]), value
            return message.replace(" found in %s" % name, ""), value
        return None, validated.validated_parameters.get(name, value)

    def _path_problem(self, path, mode, task_vars):
        """What keeps the play's host from reading a file (file), reading sets in a directory (read) or
        writing them there (write, a directory it may create)."""
        checked = path
        while True:
            stat = self._execute_module(module_name="ansible.builtin.stat", task_vars=task_vars,
                                        module_args=dict(path=checked, get_checksum=False, get_mime=False,
                                                         get_attributes=False))
            # A path below a file is not there either (ENOTDIR).
            if stat.get("failed") and "Not a directory" not in str(stat.get("msg")):
                return "cannot be checked on %s: %s" % (task_vars.get("inventory_hostname"), stat.get("msg"))
            info = stat.get("stat") or {}
            if info.get("exists") or mode != "write" or checked == os.path.dirname(checked):
                break
            checked = os.path.dirname(checked)
        return inputs.path_problem(info, mode, None if checked == path else checked)


def entry_point_options(role, entry_point):
    """The options of an entry point of one of this collection's roles (its meta/argument_specs.yml)."""
    path = os.path.join(COLLECTION, "roles", role, "meta", "argument_specs.yml")
    try:
        with open(path) as handle:
            specs = yaml.safe_load(handle)["argument_specs"]
        return specs[entry_point].get("options") or {}
    except (OSError, KeyError, TypeError) as error:
        raise AnsibleError("no entry point %s of role mlops.stack.%s (%s)" % (entry_point, role, error)) from error


def first_line(error):
    return (str(error).strip().splitlines() or ["unknown error"])[0]

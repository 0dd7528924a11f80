#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: input_check
short_description: Refuse a role's bad input before anything changes
version_added: 0.2.0
description:
  - Reads the role's variables as the play sees them and checks each one against the types and choices
    of an entry point of the role's C(meta/argument_specs.yml), then against rules that a spec cannot
    express (cron syntax, Kubernetes names and quantities, image references, backup ids, the sets'
    location), and that a directory exists and can be read or written on the play's host.
  - "Fails with one line per bad variable, C(<variable>: <what is wrong> (<value>)); the value is left out
    for a secret (an option with C(no_log)). Nothing is printed for a good input."
  - Runs on the controller (an action plugin); only a directory check runs a module (M(ansible.builtin.stat))
    on the host. Changes nothing.
  - Used first by every entry point of the collection's roles and by its playbooks, so that a refused run
    changes nothing.
author:
  - mlops.stack contributors (@mlops-stack)
attributes:
  check_mode:
    description: Checks the same way in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is nothing to compare.
    support: none
options:
  entry_point:
    description:
      - Entry point of the running role whose options give each variable's type, choices and whether it is
        required, and which variables are checked. Needs a role with C(meta/argument_specs.yml).
      - Omit it to check only what O(rules), O(directories) and O(refuse) name.
    type: str
  rules:
    description:
      - Variable name to rule name, or to a list of rule names applied in order.
      - Rules are V(namespace), V(release_name), V(cronjob_name), V(resource_name), V(quantity),
        V(resources), V(go_duration), V(duration), V(backup_id), V(location), V(bucket), V(buckets),
        V(url), V(image_ref), V(image), V(cron), V(time_zone), V(hours), V(dns_names), V(min:<n>) and
        V(max:<n>).
      - V(optional) first lets an empty or null value pass.
    type: dict
  directories:
    description:
      - Variable name to V(read) or V(write), for a variable holding an C(s3://) URL or a directory.
        A directory must exist and be readable (V(read)), or be writable or creatable (V(write)),
        on the play's host.
    type: dict
  refuse:
    description:
      - Further refusals worked out by the play, each with C(name) (the variable), C(problem) (what is
        wrong), C(when) (refuse when true; default true) and C(value) (shown when given).
    type: list
    elements: dict
seealso:
  - module: ansible.builtin.validate_argument_spec
"""

EXAMPLES = r"""
- name: Check the inputs of the restore entry point
  mlops.stack.input_check:
    entry_point: restore
    rules:
      mlops_namespace: namespace
      mlops_backup_destination: location
      mlops_restore_backup_id: backup_id
    directories:
      mlops_backup_destination: read

- name: Refuse a key pair that would end up in a ConfigMap
  mlops.stack.input_check:
    refuse:
      - name: mlops_backup_destination_secret_key
        problem: is not for the CronJob; name a Secret in mlops_backup_destination_secret_name
        when: "{{ mlops_backup_destination_secret_key is defined }}"
"""

RETURN = r"""
msg:
  description: One line per bad variable, or how many inputs were checked.
  returned: always
  type: str
  sample: "mlops_backup_schedule: must be a cron expression: hour field 25 is not within 0-23 (0 25 * * *)"
input_refused:
  description: Always true when the input was refused, so that a rescue can pass the lines on unchanged.
  returned: failure
  type: bool
  sample: true
"""

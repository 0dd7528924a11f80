# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The MinIO modules compare the wanted state with what the server reports,
    # so check mode and diff mode come from the same comparison.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Compares what is asked with what MinIO reports and says whether it would change, writing nothing.
    support: full
  diff_mode:
    description: Returns the state MinIO reported before and the state asked for.
    support: full
"""

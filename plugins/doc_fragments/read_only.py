# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Attributes of the modules that only read (the *_info modules), used together with
    # ansible.builtin.action_common_attributes, which describes them. A module states only what differs
    # (diff_mode none, a check_mode detail, another platform): its own attributes win over the fragment's.
    DOCUMENTATION = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: N/A
  platform:
    platforms: posix
'''

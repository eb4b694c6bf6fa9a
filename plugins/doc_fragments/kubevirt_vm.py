# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How long vm and vm_info wait (each documents its own wait option, which differs). Matches wait_sleep and
    # wait_timeout in plugins/module_utils/kubevirt_vm.py (vm) and in kubevirt.core's INFO_ARG_SPEC (vm_info).
    DOCUMENTATION = r'''
options:
  wait_sleep:
    description: Seconds between checks while waiting.
    type: int
    default: 5
  wait_timeout:
    description: Seconds to wait at most.
    type: int
    default: 120
'''

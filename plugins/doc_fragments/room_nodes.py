# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Which Kubernetes nodes belong to which room, as failback and room_info take them.
    # Matches their rooms=dict(type='dict', required=True).
    DOCUMENTATION = r'''
options:
  rooms:
    description:
      - The nodes of each room, room name to a list of node names - for example the inventory's groups
        C(room_a) and C(room_b).
    type: dict
    required: true
'''

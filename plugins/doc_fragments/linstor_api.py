# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the LINSTOR modules reach the controller's REST API (through python-linstor).
    # Matches _LINSTOR_SPEC in plugins/module_utils/linstor_rest.py.
    DOCUMENTATION = r'''
options:
  controller_url:
    description:
      - URL of the LINSTOR controller's REST API, for example V(http://linstor-controller.piraeus-datastore.svc:3370)
        or V(https://linstor-controller.piraeus-datastore.svc:3371).
      - V(http://) and V(linstor://) talk plain HTTP (default port 3370), V(https://) and V(linstor+ssl://) HTTPS
        (default port 3371). A plain HTTP controller that redirects to HTTPS is followed, as the C(linstor) client does.
      - Defaults to the environment variable E(LS_CONTROLLERS), which the C(linstor) command line client reads too.
    type: str
    required: true
  username:
    description:
      - User for HTTP basic authentication. python-linstor sends it only over HTTPS, unless O(allow_insecure_auth=true).
    type: str
  password:
    description:
      - Password of O(username). Never logged.
    type: str
  auth_token:
    description:
      - Bearer token for the controller. Sent only over HTTPS, unless O(allow_insecure_auth=true). Never logged.
    type: str
  ca_file:
    description:
      - PEM file of the CA that signed the controller's certificate. With an HTTPS O(controller_url) and
        O(validate_certs=true) it is required - python-linstor checks the certificate (and host name) only against it.
    type: path
  client_cert:
    description:
      - PEM client certificate, when the controller asks for one (Piraeus' API TLS with client authentication).
    type: path
  client_key:
    description:
      - PEM private key of O(client_cert).
    type: path
  validate_certs:
    description:
      - Check the controller's certificate against O(ca_file). V(false) accepts any certificate.
    type: bool
    default: true
  allow_insecure_auth:
    description:
      - Send O(username)/O(password) or O(auth_token) over plain HTTP. Only for a controller on a trusted network.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each answer of the controller.
    type: int
    default: 30
requirements:
  - python-linstor (PyPI C(python-linstor), Debian C(python3-linstor)) where the module runs
'''

    # Which LINSTOR nodes belong to which room.
    ROOMS = r'''
options:
  rooms:
    description:
      - The two rooms and the value of the zone label their nodes carry (the inventory's C(twinroom_zone) of
        each room group).
      - A LINSTOR node is in a room when its C(Aux/<zone_label>) property has that value (Piraeus copies the
        Kubernetes node's labels there). A node with another value is outside both rooms, as a witness is.
    type: dict
    default: {room_a: room-a, room_b: room-b}
  zone_label:
    description:
      - The node label that names the zone; the LINSTOR node property is C(Aux/) followed by it.
    type: str
    default: topology.kubernetes.io/zone
'''

    # Which resources a module reads or changes (linstor_resource_info, linstor_quorum_override).
    RESOURCES = r'''
options:
  resource_group:
    description:
      - Only the resources of this resource group.
    type: str
  resources:
    description:
      - Only these resources (resource definition names). A name that does not exist fails the module.
    type: list
    elements: str
'''

    # The read-only LINSTOR modules (linstor_*_info), with ROOMS: the attributes of a module that only reads - it has
    # nothing to show in diff mode.
    INFO = r'''
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
'''

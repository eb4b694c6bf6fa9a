# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end every twinroom module shares: run the module_utils runner, turn its domain error into a
failure that carries the message and the observed state, pass warnings on, return the result."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# TwinroomError is re-exported: module files and runners not yet converted import it from here.
from ansible_collections.twinroom.ha.plugins.module_utils.rooms import TwinroomError  # noqa: F401 pylint: disable=unused-import


def finish(module, runner, errors, *args, **kwargs):
    """errors: the TwinroomError subclass(es) that describe a refusal or failure of this runner."""
    try:
        result = runner(*args, **kwargs)
    except errors as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    for warning in result.pop('warnings', []):
        module.warn(warning)
    module.exit_json(**result)

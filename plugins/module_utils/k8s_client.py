# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client the twinroom modules that use the kubernetes library directly share.

One difference from ``kubernetes.config.new_client_from_config``: requests are not retried. urllib3
retries a read timeout three times by default, so a request with a 4 s timeout against an API server
that cannot read its datastore (its primary was in the lost room) took 16 s to fail, and every failover
from the room without the primary paid for it. A module that wants another try asks again itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    HAS_KUBERNETES = True
except ImportError:  # reported by the modules
    HAS_KUBERNETES = False


def api_client(kubeconfig=None, context=None, retries=0):
    """An ApiClient for ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context``."""
    # type.__call__: a fresh Configuration, not a copy of the library's process-wide default.
    configuration = type.__call__(k8s_client.Configuration)
    configuration.retries = retries
    return k8s_config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False,
                                             client_configuration=configuration)

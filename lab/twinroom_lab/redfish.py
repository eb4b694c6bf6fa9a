"""The few Redfish calls the drills make, against one emulated BMC. Credentials are never printed."""

import requests
import urllib3

from . import LabError

TIMEOUT = 10
ERRORS = (requests.ConnectionError, requests.Timeout)


class BmcUnreachable(LabError):
    pass


class Redfish:
    def __init__(self, node, cafile=None, timeout=TIMEOUT):
        self.node = node
        self.bmc = node.bmc
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy: the BMCs are on loopback
        self.session.auth = (self.bmc.username, self.bmc.password)
        # The lab's BMC certificate lists every BMC address; verify against it when we have it.
        self.session.verify = cafile or False
        if not cafile:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def _request(self, method, path, **kwargs):
        url = self.bmc.url + path
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except ERRORS as exc:
            raise BmcUnreachable("BMC of %s at %s does not answer: %s"
                                 % (self.node.name, self.bmc.url, _short(exc))) from None
        if response.status_code == 401:
            raise LabError("BMC of %s at %s rejected the credentials from topology.json (HTTP 401)"
                           % (self.node.name, self.bmc.url))
        if response.status_code >= 400:
            raise LabError("BMC of %s: %s %s answered HTTP %d: %s"
                           % (self.node.name, method, path, response.status_code, response.text[:200]))
        return response

    def answers(self):
        """The service root answers (sushy serves it without authentication, as real BMCs do)."""
        try:
            return self.session.get(self.bmc.url + "/redfish/v1/", timeout=self.timeout).status_code == 200
        except (requests.RequestException, OSError):
            return False

    def power_state(self):
        # Reading the system is also what makes the emulator apply a pending power change.
        return self._request("GET", self.bmc.systems_uri).json().get("PowerState")

    def reset(self, reset_type):
        self._request("POST", self.bmc.systems_uri + "/Actions/ComputerSystem.Reset",
                      json={"ResetType": reset_type})


def _short(exc):
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text[:160]

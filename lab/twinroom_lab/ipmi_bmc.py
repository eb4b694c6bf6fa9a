"""IPMI BMC stand-in for lab nodes: IPMI v2.0 over LAN (RMCP+, UDP) whose chassis power control really
stops and starts the node's container.

Stand-in for the BMC hardware only. Everything that talks to it is the real program: fence_ipmilan and
ipmitool (the fencing path Pacemaker and MediK8s use), pyghmi (community.general.ipmi_power, as
recover.yml calls it). The protocol side is pyghmi's BMC framework, the one OpenStack's virtualbmc is
built on; it offers cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) only, and ipmitool picks
it from the BMC's list.

Power: chassis "off", "soft off" and "reset"'s first half are a power loss (podman kill, as the Redfish
power bridge does); "on" is podman start. The power state is the container's: running is on.

Added to pyghmi's BMC, so that it behaves as a real BMC does:
  - the answer to the ASF RMCP presence ping (IPMI v2.0 section 13.2.3), which twinroom.ha.fence sends before
    it runs the agent, to tell a dark BMC from a slow one;
  - an RMCP+ Open Session Response with an error status for algorithms it does not offer (section 13.20).
    pyghmi's server answers every request with cipher suite 3's algorithms, so pyghmi's own client, which
    asks for SHA-256 first and falls back to SHA-1 only on an error status, failed ("pack expected 32 items").

Run: python -m twinroom_lab.ipmi_bmc --node twinroom-a-w2=127.77.1.12 [--node ...] [--port 623]
     with the credentials in the environment (TWINROOM_IPMI_USER, TWINROOM_IPMI_PASSWORD), never on the
     command line.
"""

import argparse
import os
import struct
import sys
import threading
import time
import uuid

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.serversession as pyghmi_serversession

from . import LabError, podman, power_bridge

ASF_IANA = 4542
RMCP_ASF_HEADER = bytes([0x06, 0x00, 0xFF, 0x06])  # RMCP v1.0, no ack, message class ASF
PRESENCE_PING, PRESENCE_PONG = 0x80, 0x40


def presence_pong(packet):
    """The presence pong answering ``packet``, or None when it is not an ASF presence ping."""
    packet = bytes(packet)
    if len(packet) < 12 or packet[:4] != RMCP_ASF_HEADER:
        return None
    if struct.unpack(">I", packet[4:8])[0] != ASF_IANA or packet[8] != PRESENCE_PING:
        return None
    tag = packet[9]
    # Data: IANA enterprise number, OEM-defined, supported entities (0x81: IPMI supported, ASF v1.0),
    # supported interactions (none), 6 reserved bytes.
    body = struct.pack(">II", ASF_IANA, 0) + bytes([0x81, 0x00]) + bytes(6)
    return RMCP_ASF_HEADER + struct.pack(">I", ASF_IANA) + bytes([PRESENCE_PONG, tag, 0x00, len(body)]) + body


# RMCP+ algorithm numbers (IPMI v2.0 tables 13-17, 13-18, 13-19) of cipher suite 3, and the status codes
# (table 13-15) for a request asking for others.
SUITE_3 = dict(auth=1, integrity=1, confidentiality=1)
INVALID_AUTH_ALGORITHM, INVALID_INTEGRITY_ALGORITHM, INVALID_CONFIDENTIALITY_ALGORITHM = 0x09, 0x11, 0x12


def open_session_refusal(request):
    """The status code refusing an RMCP+ Open Session Request for algorithms other than suite 3's, or 0."""
    request = bytes(request)
    if len(request) < 32:
        return 0  # a request without payload records: the BMC picks, and it picks suite 3
    if request[12] != SUITE_3["auth"]:
        return INVALID_AUTH_ALGORITHM
    if request[20] != SUITE_3["integrity"]:
        return INVALID_INTEGRITY_ALGORITHM
    if request[28] != SUITE_3["confidentiality"]:
        return INVALID_CONFIDENTIALITY_ALGORITHM
    return 0


class Suite3Session(pyghmi_serversession.ServerSession):
    """pyghmi's server session, refusing (with the status a real BMC gives) what it would not do."""

    def create_open_session_response(self, request):
        status = open_session_refusal(request)
        if status:
            # Message tag, status, maximum privilege (reserved on error), reserved, console session ID.
            return bytearray([request[0], status, 0, 0]) + bytearray(request[4:8])
        return super().create_open_session_response(request)


class ContainerBmc(pyghmi_bmc.Bmc):
    """One node's BMC; its "machine" is the node's podman container."""

    def __init__(self, authdata, container, address, port=623, log=None, machine=None):
        super().__init__(authdata, port=port, address=address)
        self.container = container
        self.machine = machine  # the node's machine UUID (what its SMBIOS says), reported as the System GUID
        self.log = log or (lambda message: None)
        self.lock = threading.Lock()

    def sessionless_data(self, data, sockaddr):
        pong = presence_pong(data)
        if pong is not None:
            self.serversocket.sendto(pong, sockaddr)
            return None
        data = bytearray(data)
        # An IPMI v2.0 RMCP+ Open Session Request: as pyghmi's IpmiServer does, with Suite3Session.
        if len(data) >= 22 and data[0] == 6 and data[2:4] == b"\xff\x07" and data[4] == 6 and data[5] == 16:
            Suite3Session(self.authdata, self.kg, sockaddr, self.serversocket, data[16:], self.uuid, bmc=self)
            return None
        return super().sessionless_data(data, sockaddr)

    def _apply(self, action, why):
        with self.lock:
            try:
                done = power_bridge.apply(self.container, action)
            except LabError as exc:
                self.log("%s: %s FAILED: %s" % (self.container, why, exc))
                return 0xFF  # unspecified error: the agent reports the failure
            self.log("%s: %s: %s" % (self.container, why, done))
            return 0

    def get_power_state(self):
        return "on" if podman.state(self.container) == "running" else "off"

    def power_off(self):
        return self._apply(power_bridge.KILL, "chassis power off")

    def power_shutdown(self):
        return self._apply(power_bridge.KILL, "chassis soft off (no OS to ask: power loss)")

    def power_on(self):
        return self._apply(power_bridge.START, "chassis power on")

    def power_reset(self):
        rc = self._apply(power_bridge.KILL, "chassis reset (off)")
        return rc or self._apply(power_bridge.START, "chassis reset (on)")

    power_cycle = power_reset

    def get_system_guid(self):
        if self.machine is None:
            raise NotImplementedError  # pyghmi answers "invalid command", as a BMC without a GUID does
        return uuid.UUID(self.machine)

    def get_boot_device(self):
        return "default"

    def set_boot_device(self, bootdevice):
        return 0

    def cold_reset(self):
        return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node", action="append", required=True, metavar="CONTAINER=ADDRESS[=UUID]",
                        help="a node's podman container, the address its BMC answers IPMI on and optionally the "
                             "machine UUID it reports as System GUID (repeat per node)")
    parser.add_argument("--port", type=int, default=623)
    args = parser.parse_args(argv)
    user, password = os.environ.get("TWINROOM_IPMI_USER"), os.environ.get("TWINROOM_IPMI_PASSWORD")
    if not user or not password:
        parser.error("set TWINROOM_IPMI_USER and TWINROOM_IPMI_PASSWORD (credentials never go on the command line)")
    entries = [node.split("=", 2) for node in args.node]
    if any(len(entry) < 2 or not all(entry) for entry in entries):
        parser.error("--node takes CONTAINER=ADDRESS[=UUID], for example twinroom-a-w2=127.77.1.12")

    def log(message):
        print("%s %s" % (time.strftime("%H:%M:%S"), message), flush=True)

    bmcs = [ContainerBmc({user: password}, entry[0], entry[1], args.port, log=log,
                         machine=entry[2] if len(entry) > 2 else None) for entry in entries]
    for entry in entries:
        log("IPMI BMC stand-in for %s on %s:%d/udp" % (entry[0], entry[1], args.port))
    bmcs[0].listen()  # one loop serves every BMC of this process (pyghmi's sessions are shared)
    return 0


if __name__ == "__main__":
    sys.exit(main())

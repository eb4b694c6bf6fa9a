"""The virt-handler stand-in (lab/twinroom_lab/virt_handler_standin.py) and vmrunner as a lab node has them:
vmrunner imported on its own, from beside the stand-in; for the host tests that run them with real QEMU guests."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab" / "twinroom_lab"))  # vmrunner alone, as the node has it beside the stand-in
import vmrunner  # noqa: E402  pylint: disable=wrong-import-position,import-error

_SPEC = importlib.util.spec_from_file_location("virt_handler_standin",
                                               REPO / "lab" / "twinroom_lab" / "virt_handler_standin.py")
standin = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(standin)

MARKS = [
    pytest.mark.kvm,
    pytest.mark.skipif(shutil.which(vmrunner.QEMU) is None,
                       reason="%s is not installed (scripts/install-system-deps.sh installs qemu-system-x86)"
                       % vmrunner.QEMU),
]


def build_guest():
    """The lab's test guest, built if missing (lab/build/build-binaries.sh guest); its directory."""
    subprocess.run([str(REPO / "lab" / "build" / "build-binaries.sh"), "guest"], check=True, timeout=600)
    return vmrunner.guest_files()["kernel"].parent

"""Unit tests of the lab drill tools: make lab/twinroom_lab importable, load the JSON fixtures."""
import copy
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "lab"))

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture
def topology_data():
    """The default lab (one worker per room, witness) as topology.json holds it; a fresh copy per test."""
    return copy.deepcopy(json.loads((FIXTURES / "topology.json").read_text()))

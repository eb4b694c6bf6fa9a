"""Which node is the datastore primary: parametrized over tests/unit/fixtures/datastore_choice/cases.yml."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.twinroom.ha.plugins.module_utils.datastore_choice import PrimaryChoiceError, choose_primary

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "datastore_choice" / "cases.yml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_choose_primary(case):
    if "error" in case:
        with pytest.raises(PrimaryChoiceError) as raised:
            choose_primary(case["states"], case["initial"], case.get("history"))
        assert str(raised.value) == case["error"].strip()
    else:
        assert choose_primary(case["states"], case["initial"], case.get("history")) == case["primary"]

# -*- coding: utf-8 -*-
"""The test tree itself: pytest (pytest.ini, the default import mode) imports each test file by its base name, with
its directory on sys.path, so two test files of one name in different directories stop collection ("import file
mismatch") - `make integration` on a clean clone stopped that way before running a test."""

from __future__ import annotations

import collections
import os

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def files_by_name(root):
    found = collections.defaultdict(list)
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "fixtures")]
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                found[name].append(os.path.relpath(os.path.join(directory, name), root))
    return found


def test_each_test_file_has_a_name_of_its_own():
    found = files_by_name(TESTS)
    assert "test_test_modules.py" in found  # the walk reaches this file
    shared = {name: sorted(paths) for name, paths in found.items() if len(paths) > 1}
    assert shared == {}, "rename one of each pair: %s" % shared


def test_the_check_sees_a_shared_name(tmp_path):
    for sub in ("unit", "integration/lab"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "test_same.py").write_text("")
    assert sorted(files_by_name(str(tmp_path))["test_same.py"]) == ["integration/lab/test_same.py", "unit/test_same.py"]

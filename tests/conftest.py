"""Make `ansible_collections.twinroom.ha` importable in tests: scripts/devenv.sh links this checkout into
ANSIBLE_COLLECTIONS_PATH; tests import the collection's module_utils from there."""
import os
import sys

sys.path[:0] = [p for p in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p and p not in sys.path]

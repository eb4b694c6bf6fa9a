"""python -m twinroom_lab: the twinroom-lab drill tool (lab/bin/twinroom-lab runs this)."""
import sys

from .cli import main

sys.exit(main())

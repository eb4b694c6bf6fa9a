# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""twinroom.ha.room_watch: an ansible-rulebook event source that emits an event when a room is lost.

Thin: every interval it runs one step of plugins/module_utils/room_watch.py (observe both rooms, let the room_vote
plan decide, keep the storm guard's memory) in a worker thread and puts the decision on the queue when it is news.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import os
import sys
import time

DOCUMENTATION = r"""
---
short_description: Emit an event when a room of a twinroom cluster is lost
description:
  - Watches both rooms from where ansible-rulebook runs (the witness site, or a controller outside both rooms) - each
    room's API server, its PostgreSQL, the node leases and, once a room looks unreachable, its BMCs - and asks the
    collection's room_vote plan whether a room is lost.
  - Emits one event per decision, its key C(twinroom) holding C(action) (V(failover) or V(alarm)), C(room),
    C(method), C(reason), C(votes), C(not_before), C(decided_at) and C(views); nothing while both rooms are fine.
  - Posts each decision it emits as a Kubernetes Event too (reason V(RoomFailoverDecided) or V(RoomAlarm), in
    C(kube-system)), in the background through the API server of a room that answered, within 2 seconds a try,
    offered again every 3 seconds for up to 3 minutes while no API server takes writes; the event on the queue
    never waits for it.
  - At most one automatic failover per room until C(recover.yml) has brought it back (it clears the room from the
    memory); the memory is kept in the configuration's state file, so a restarted watch does not fail a room over
    twice.
  - With C(beacon) in its configuration (site.yml writes it when the inventory has a C(witness) group, and the watch
    then runs on the witness), answers each room's isolation guard at
    C(http://<beacon.address>:<beacon.port>/rooms/<room>) - status 200 while it runs, 403 for a room it withdrew
    after a cut link (that room isolates itself), 503 when it has completed no step for 3 intervals (or
    C(beacon.stale_seconds)). It stops answering when the source ends.
options:
  config:
    description:
      - Path of the watch configuration that site.yml writes with C(twinroom_automatic_failover=true)
        (rooms, their API server contexts, PostgreSQL addresses, nodes and BMCs, the settings).
    type: str
    required: true
  interval:
    description:
      - Seconds between two observations.
    type: float
    default: 2
  steps:
    description:
      - Stop after this many observations (0 - run until ansible-rulebook stops). For drills and tests.
    type: int
    default: 0
"""

EXAMPLES = r"""
- twinroom.ha.room_watch:
    config: /etc/twinroom/room-watch.json
    interval: 2
"""


def _import_runner():
    try:
        from ansible_collections.twinroom.ha.plugins.module_utils import room_watch  # pylint: disable=import-outside-toplevel
    except ImportError:  # ansible-rulebook loads this file by path: the collections root is seven levels up
        here = os.path.abspath(globals().get('__file__', 'room_watch.py'))
        sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(here), *(['..'] * 7))))
        from ansible_collections.twinroom.ha.plugins.module_utils import room_watch  # pylint: disable=import-outside-toplevel
    return room_watch


async def main(queue, args):
    """Observe, decide, emit; every ``interval`` seconds."""
    room_watch = _import_runner()
    interval = float(args.get('interval', 2))
    steps = int(args.get('steps', 0))
    watch = room_watch.Watch(room_watch.load_config(args['config']), interval=interval)
    loop = asyncio.get_running_loop()
    done = 0
    try:
        while not steps or done < steps:
            started = time.monotonic()
            news = await loop.run_in_executor(None, watch.step, time.time())
            if news is not None:
                await queue.put(news)
            done += 1
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:  # however the source ends (its steps done, an error, ansible-rulebook stopping it): the beacon stops
        watch.close()


if __name__ == '__main__':
    class PrintQueue(object):
        async def put(self, event):
            print(event)

    asyncio.run(main(PrintQueue(), {'config': sys.argv[1], 'steps': int(sys.argv[2]) if len(sys.argv) > 2 else 0}))

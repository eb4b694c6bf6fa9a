# -*- coding: utf-8 -*-
"""Where failover.yml and recover.yml keep their operation lock, and what a lock on a lease held elsewhere does to
them: refused with the exact message, before any node, the lock file unchanged. Needs no lab: the fixture
inventories' nodes (and witness) do not exist, so a task on any of them would show in PLAY RECAP."""

from __future__ import annotations

import json

import pytest

from playbook import flat, output, play_recap, run_playbook

VALID = 'tests/integration/fixtures/inventories/valid'
WITNESS = 'tests/integration/fixtures/inventories/witness-lock'


def leased_lock(state_dir, operation='recover', room='room_b'):
    """A lock another run took on the witness: on a lease until 2100, its module's parent long gone."""
    path = state_dir / 'operation.lock'
    record = dict(operation=operation, room=room, holder_id='run-on-witness', user='root', host='witness1', pid=4343,
                  process='python3', process_start=430, boot_id='boot-w', pid_namespace='pid:[4026531836]',
                  job_id=None, started='2026-12-05T07:00:00Z', lease_seconds=300, expires='2100-01-01T00:00:00Z')
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + '\n')
    path.chmod(0o600)
    return path


def assert_controller_only(result, failed=1):
    recap = play_recap(output(result))
    assert set(recap) == {'localhost'}, output(result)
    assert (recap['localhost']['failed'], recap['localhost']['changed']) == (failed, 0), output(result)


@pytest.mark.parametrize('playbook, refusing', [
    ('playbooks/failover.yml', 'failover of room_a'),
    ('playbooks/recover.yml', 'recovery of room_a'),
])
def test_a_lease_held_elsewhere_refuses_the_run_before_anything(tmp_path, playbook, refusing):
    """The lock's file is on the controller here (no witness): a leased record of a run on another host is refused
    until its expiry, even though no process of it can be found - and nothing is touched."""
    lock = leased_lock(tmp_path)
    before = lock.read_bytes()
    result = run_playbook(playbook, VALID, extra_vars={'lost_room': 'room_a', 'twinroom_state_dir': str(tmp_path)})
    assert result.returncode != 0, output(result)
    assert ('refusing to start %s: a recovery of room_b holds the lock since 2026-12-05T07:00:00Z (root@witness1, '
            'pid 4343) on a lease until 2100-01-01T00:00:00Z, which that run renews while it works. Wait for it to '
            'end; if it has ended without releasing the lock, the next run after 2100-01-01T00:00:00Z takes it over '
            '(or run again with break_lock: true).' % refusing) in flat(result), output(result)
    assert_controller_only(result)
    assert lock.read_bytes() == before


def test_the_lock_lives_on_the_witness_and_a_silent_witness_stops_the_run(tmp_path):
    """With a witness the lock is taken there; one that does not answer stops failover.yml with the way out, before
    anything changes and without an UNREACHABLE from the middle of the run."""
    result = run_playbook('playbooks/failover.yml', WITNESS,
                          extra_vars={'lost_room': 'room_a', 'twinroom_state_dir': str(tmp_path)})
    text = flat(result)
    assert result.returncode != 0, output(result)
    assert ('The operation lock lives on witness1 (twinroom_operation_lock_host), which does not answer: ') in text, \
        output(result)
    assert ('Nothing was changed. Another failover or recovery may be running from there (the room watch runs on the '
            'witness). Bring witness1 back; if it is lost and you know that no other failover or recovery runs, run '
            'again with -e twinroom_operation_lock_host=localhost.') in text, output(result)
    recap = play_recap(output(result))
    assert set(recap) == {'localhost'}, output(result)
    assert recap['localhost']['changed'] == 0
    assert not (tmp_path / 'operation.lock').exists()


def test_a_lock_host_inside_a_room_is_refused_by_validation(tmp_path):
    result = run_playbook('playbooks/failover.yml', VALID,
                          extra_vars={'lost_room': 'room_a', 'twinroom_state_dir': str(tmp_path),
                                      'twinroom_operation_lock_host': 'a-cp1'})
    assert result.returncode != 0, output(result)
    assert ("Inventory rule 'operation-lock' failed for all room nodes: twinroom_operation_lock_host is a-cp1, a node "
            "of room_a: a room that is lost takes the lock with it, and no failover of that room could start. Keep "
            "the lock on the witness (leave twinroom_operation_lock_host unset) or on the controller (localhost)."
            ) in flat(result), output(result)
    assert_controller_only(result)
    assert not (tmp_path / 'operation.lock').exists()

# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings of automatic failover (issue 12) and their checks: how long a room stays silent before a voter
calls it unreachable, how long a cut-off room waits before it isolates itself, the margin the survivor adds on top,
and the preferred room when there is no witness.

A format (layer 1): pure, imports only the vocabulary. Shared by the vote (room_vote.py, which re-exports it), the
inventory rule ``automatic-failover`` (inventory_failover.py) and whatever runs the vote, so every one of them says
the same thing about the same mistake.

Why ``isolation_seconds`` must exceed ``detect_seconds``: the survivor's safety does not depend on it - a room whose
BMCs are dark is taken over only ``isolation_seconds + margin_seconds`` after it was last heard from, whichever is
larger. What depends on it is that a room isolates itself only after the other side could have declared it lost: with
``isolation_seconds <= detect_seconds`` an interruption too short for any failover (a link that drops for
``isolation_seconds`` and comes back before ``detect_seconds``) would still power a room off, and nobody would take
its workloads over. The longer direction is the safe one.
"""

from __future__ import annotations

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, TwinroomError, join_words


class AutomaticFailoverSettingsError(TwinroomError):
    """The automatic failover settings are not valid; ``msg`` lists every problem."""


DEFAULTS = {"detect_seconds": 10, "isolation_seconds": 30, "margin_seconds": 10,
            "preferred_room": None, "witness": False}

# The promise: a room is declared lost within at most 10 s of silence.
MAX_DETECT_SECONDS = 10

# settings key -> the inventory variable that sets it (``witness`` is not a variable: the witness group is).
VARIABLES = {
    "detect_seconds": "twinroom_detect_seconds",
    "isolation_seconds": "twinroom_isolation_seconds",
    "margin_seconds": "twinroom_margin_seconds",
    "preferred_room": "twinroom_preferred_room",
}
# The switch: site.yml sets automatic failover up, and validate_inventory checks the settings, when it is true.
ENABLE_VARIABLE = "twinroom_automatic_failover"
INVENTORY_VARIABLES = (ENABLE_VARIABLE,) + tuple(VARIABLES[key] for key in
                                                 ("detect_seconds", "isolation_seconds", "margin_seconds",
                                                  "preferred_room"))


def shown(value):
    """A value as a message shows it: a string in quotes, anything else as written."""
    return "'%s'" % value if isinstance(value, str) else str(value)


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def settings_problems(settings):
    """Exact, operator-facing messages for bad settings; an empty list when they are fine.

    ``settings``: any of the keys of DEFAULTS (a missing key takes its default). The rules: ``detect_seconds`` a
    whole number from 1 to 10; ``isolation_seconds`` a whole number greater than ``detect_seconds`` (see the module
    docstring for why that is the safe direction); ``margin_seconds`` a whole number, 0 or more; ``preferred_room``
    unset or one of the rooms; ``witness`` true or false; no other key. Each message names the inventory variable.
    """
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        return ["The automatic failover settings are %s; they must be a mapping of %s."
                % (shown(settings), join_words(sorted(DEFAULTS)))]
    problems = []
    unknown = sorted(str(key) for key in settings if key not in DEFAULTS)
    if unknown:
        problems.append("Unknown automatic failover setting%s %s: the settings are %s. Remove or correct %s."
                        % ('s' if len(unknown) > 1 else '', join_words(unknown), join_words(sorted(DEFAULTS)),
                           'them' if len(unknown) > 1 else 'it'))
    merged = dict(DEFAULTS)
    merged.update((key, value) for key, value in settings.items() if key in DEFAULTS)
    detect, isolation, margin = merged["detect_seconds"], merged["isolation_seconds"], merged["margin_seconds"]
    detect_valid = _whole(detect) and 1 <= detect <= MAX_DETECT_SECONDS
    if not detect_valid:
        problems.append("twinroom_detect_seconds is %s; it must be a whole number of seconds from 1 to %d: a room is "
                        "declared lost after that long without any signal from it." % (shown(detect), MAX_DETECT_SECONDS))
    if not _whole(isolation):
        problems.append("twinroom_isolation_seconds is %s; it must be a whole number of seconds, greater than "
                        "twinroom_detect_seconds." % shown(isolation))
    elif detect_valid and isolation <= detect:
        problems.append("twinroom_isolation_seconds (%d) must be greater than twinroom_detect_seconds (%d): a room "
                        "must isolate itself only after the other side could have declared it lost, or an "
                        "interruption too short to fail anything over powers a room off. Raise "
                        "twinroom_isolation_seconds above %d." % (isolation, detect, detect))
    if not _whole(margin) or margin < 0:
        problems.append("twinroom_margin_seconds is %s; it must be a whole number of seconds, 0 or more: the survivor "
                        "waits twinroom_isolation_seconds plus this margin before it takes over a room whose BMCs do "
                        "not answer." % shown(margin))
    if merged["preferred_room"] is not None and merged["preferred_room"] not in ROOMS:
        problems.append("twinroom_preferred_room is %s; it must be %s, or unset for no preferred room."
                        % (shown(merged["preferred_room"]), ' or '.join(ROOMS)))
    if not isinstance(merged["witness"], bool):
        problems.append("The witness setting is %s; it must be true or false (true when the inventory has hosts in "
                        "group witness)." % shown(merged["witness"]))
    return problems


def check_settings(settings):
    """DEFAULTS merged with ``settings``; AutomaticFailoverSettingsError with every problem when they are not valid."""
    problems = settings_problems(settings)
    if problems:
        raise AutomaticFailoverSettingsError(
            'The automatic failover settings are not valid: %s' % ' '.join(problems),
            problems=problems)
    merged = dict(DEFAULTS)
    merged.update(settings or {})
    return merged

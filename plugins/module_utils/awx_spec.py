# -*- coding: utf-8 -*-
# Copyright: twinroom developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX/Tower survey specs and custom credential types as the AWX set-up playbook sends them, checked first.

A format (layer 2): pure functions over the JSON documents in awx/, no I/O. Each returns a list of
problems, one sentence each, naming the file's object, the question or field, and what to change; an empty
list means the document is fine. AWX's own checks (awx/api/serializers.py, awx/main/models/credential) are
the model: survey `name`, `description`, `spec`; each question `question_name`, `variable`, `type`,
`required`, and per type `default`, `choices`, `min`, `max`; credential types' `inputs.fields` and
`injectors` (`extra_vars`, `env`, `file`).
"""

from __future__ import annotations

import re

from ansible_collections.twinroom.ha.plugins.module_utils.rooms import ROOMS, join_words

SURVEY_KEYS = ('name', 'description', 'spec')
QUESTION_TYPES = ('text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect')
QUESTION_REQUIRED = ('question_name', 'variable', 'type', 'required')
QUESTION_KEYS = QUESTION_REQUIRED + ('question_description', 'default', 'choices', 'min', 'max', 'new_question')
CHOICE_TYPES = ('multiplechoice', 'multiselect')
LENGTH_TYPES = ('text', 'textarea', 'password')
NUMBER_TYPES = ('integer', 'float')
# Survey questions whose answer is one of the inventory's rooms.
ROOM_VARIABLES = ('lost_room',)
VARIABLE_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')

CREDENTIAL_KINDS = ('cloud', 'net')
FIELD_TYPES = ('string', 'boolean')
INJECTOR_KINDS = ('extra_vars', 'env', 'file')


def inventory_rooms(group_names):
    """The rooms an inventory has: those of ROOMS that are among its group names."""
    return [room for room in ROOMS if room in group_names]


def choices_list(choices):
    """AWX takes choices as a list or as one string, a choice per line."""
    if isinstance(choices, str):
        return [line for line in choices.split('\n') if line]
    return list(choices) if isinstance(choices, (list, tuple)) else None


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _question_problems(where, question):
    qtype = question.get('type')
    problems = ['%s has no %s.' % (where, key) for key in QUESTION_REQUIRED if key not in question]
    unknown = sorted(set(question) - set(QUESTION_KEYS))
    if unknown:
        problems.append('%s has keys AWX does not know: %s.' % (where, join_words(unknown)))
    if 'type' in question and qtype not in QUESTION_TYPES:
        problems.append("%s has type '%s': use one of %s." % (where, qtype, join_words(QUESTION_TYPES)))
    if 'variable' in question and not VARIABLE_NAME.match(str(question['variable'])):
        problems.append("%s sets '%s', which is not a variable name." % (where, question['variable']))
    if 'required' in question and not isinstance(question['required'], bool):
        problems.append('%s: required must be true or false.' % where)
    default = question.get('default')
    if qtype in CHOICE_TYPES:
        choices = choices_list(question.get('choices'))
        if not choices:
            problems.append('%s is a %s question without choices.' % (where, qtype))
            return problems
        if len(set(choices)) != len(choices):
            problems.append('%s lists a choice twice.' % where)
        picked = choices_list(default) if qtype == 'multiselect' else [default]
        outside = [value for value in picked or [] if value not in ('', None) and value not in choices]
        if outside:
            problems.append("%s has default %s, which is not among its choices (%s)."
                            % (where, join_words(str(v) for v in outside), join_words(str(c) for c in choices)))
    elif 'choices' in question and question['choices'] not in ('', None, []):
        problems.append('%s has choices, but a %s question shows none.' % (where, qtype))
    if qtype in LENGTH_TYPES + NUMBER_TYPES:
        problems.extend(_bounds_problems(where, question, qtype, default))
    if qtype == 'password' and default not in ('', None, '$encrypted$'):
        problems.append('%s is a password with a default: a survey file must not hold a secret.' % where)
    return problems


def _bounds_problems(where, question, qtype, default):
    low, high = question.get('min'), question.get('max')
    problems = ['%s: %s must be a number.' % (where, key) for key, value in (('min', low), ('max', high))
                if value is not None and not _number(value)]
    if problems:
        return problems
    if low is not None and high is not None and low > high:
        problems.append('%s: min %s is above max %s.' % (where, low, high))
    if default in ('', None):
        return problems
    if qtype in NUMBER_TYPES:
        if not _number(default) or (qtype == 'integer' and not isinstance(default, int)):
            return problems + ["%s has default %r, which is not an %s." % (where, default, qtype)]
        size, unit = default, ''
    else:
        size, unit = len(str(default)), ' characters long'
    if (low is not None and size < low) or (high is not None and size > high):
        problems.append('%s has default %r outside min %s and max %s%s.' % (where, default, low, high, unit))
    return problems


def survey_problems(survey, rooms=ROOMS, name='survey'):
    """What AWX would refuse in a survey spec, or what would send the playbook a room the inventory lacks.

    `rooms` are the inventory's rooms: a question setting one of ROOM_VARIABLES must offer exactly those.
    """
    if not isinstance(survey, dict):
        return ['%s is not a survey spec (a mapping with name, description and spec).' % name]
    problems = ['%s has no %s.' % (name, key) for key in SURVEY_KEYS if key not in survey]
    unknown = sorted(set(survey) - set(SURVEY_KEYS))
    if unknown:
        problems.append('%s has keys AWX does not know: %s.' % (name, join_words(unknown)))
    spec = survey.get('spec')
    if not isinstance(spec, list) or not spec:
        return problems + ['%s asks nothing: spec must be a list of questions.' % name]
    seen = set()
    for index, question in enumerate(spec):
        if not isinstance(question, dict):
            problems.append('%s question %d is not a mapping.' % (name, index + 1))
            continue
        variable = question.get('variable')
        where = "%s question '%s'" % (name, variable if variable else index + 1)
        problems.extend(_question_problems(where, question))
        if variable in seen:
            problems.append('%s sets a variable an earlier question sets.' % where)
        seen.add(variable)
        if variable in ROOM_VARIABLES:
            problems.extend(_room_problems(where, question, list(rooms)))
    return problems


def _room_problems(where, question, rooms):
    if not rooms:
        return ['%s: the inventory has no room groups (%s); run with -i inventories/<site>.'
                % (where, join_words(ROOMS))]
    if question.get('type') != 'multiplechoice':
        return ['%s must be a multiplechoice of the rooms %s, not %s.' % (where, join_words(rooms), question.get('type'))]
    choices = choices_list(question.get('choices')) or []
    if sorted(choices) != sorted(rooms):
        return ["%s offers %s, but the inventory's rooms are %s: make the choices exactly the rooms."
                % (where, join_words(str(c) for c in choices) or 'nothing', join_words(rooms))]
    return []


def _injected_fields(injectors):
    """Field ids some injector template names ({{ id }}), and the extra vars and files it defines."""
    text = repr(injectors)
    return set(re.findall(r'\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\||\}\})', text))


def credential_type_problems(credential_type, reads=(), name='credential type'):
    """What AWX would refuse in a custom credential type, and what the playbooks read but it never injects.

    `reads` names the extra vars the playbooks take from a credential of this type.
    """
    if not isinstance(credential_type, dict):
        return ['%s is not a credential type (a mapping with name, kind, inputs and injectors).' % name]
    problems = ['%s has no %s.' % (name, key) for key in ('name', 'kind', 'inputs', 'injectors')
                if key not in credential_type]
    kind = credential_type.get('kind', 'cloud')
    if kind not in CREDENTIAL_KINDS:
        problems.append("%s has kind '%s': custom types are %s." % (name, kind, join_words(CREDENTIAL_KINDS)))
    inputs = credential_type.get('inputs') or {}
    fields = inputs.get('fields') or []
    ids = [field.get('id') for field in fields if isinstance(field, dict)]
    if not fields or len(ids) != len(fields):
        problems.append('%s has no input fields (inputs.fields, each a mapping with id, label and type).' % name)
    for field in fields:
        if isinstance(field, dict) and (not field.get('id') or not field.get('label')):
            problems.append('%s has a field without id or label: %r.' % (name, field))
        field_type = field.get('type', 'string') if isinstance(field, dict) else 'string'
        if field_type not in FIELD_TYPES:
            problems.append("%s field '%s' has type '%s': use %s."
                            % (name, field.get('id'), field_type, join_words(FIELD_TYPES)))
    missing_required = [key for key in inputs.get('required') or [] if key not in ids]
    if missing_required:
        problems.append('%s requires %s, which it does not define.' % (name, join_words(missing_required)))
    injectors = credential_type.get('injectors') or {}
    unknown = sorted(set(injectors) - set(INJECTOR_KINDS))
    if unknown:
        problems.append('%s has injector kinds AWX does not know: %s.' % (name, join_words(unknown)))
    used = _injected_fields(injectors)
    for field_id in ids:
        if field_id and field_id not in used:
            problems.append("%s field '%s' has no injector: the playbooks would never see it." % (name, field_id))
    extra_vars = injectors.get('extra_vars') or {}
    for variable in reads:
        if variable not in extra_vars:
            problems.append("%s injects no extra var '%s', which the playbooks read: add it to injectors.extra_vars."
                            % (name, variable))
    return problems

"""Every refusal and error message the collection's plugins print appears in docs/runbook.md with an action.

Which messages (the extraction rule), over every Python file under plugins/, whatever its name:

1. At each ``raise SomethingError(...)`` (any class whose name ends in ``Error``) and each
   ``fail_json(msg=...)``, the message argument is read as a template: string literals are kept,
   ``'...' % args``, ``'...'.format(...)``, f-strings and ``a + b`` keep their literal text, and every value
   filled in at run time (``%s``, ``{}``, a variable, a call) becomes a placeholder. Its first sentence (up to
   the first ``.``, ``!`` or ``?`` followed by a space or the end) is the message. A message with no
   letters outside placeholders (``'%s: %s'``, ``str(exc)``) passes another message on and is skipped.
2. Refusals built in pieces and raised later (``problems.append(...)``, a function returning the text):
   every other string literal or ``%``-template in plugins/ that says ``refusing`` contributes the
   sentence that says it. Docstrings and the DOCUMENTATION / EXAMPLES / RETURN blocks are not messages.

A message is in the runbook when one row of a table there holds, in its first cell, every literal piece of
the message (the text between placeholders, whitespace collapsed) in order, and a non-empty second cell:
the action. The runbook writes a placeholder however it likes (``…``, ``<node>``).
"""

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
RUNBOOK = REPO / 'docs' / 'runbook.md'
PLACEHOLDER = '\x00'
_FORMAT = re.compile(r'%(\([^)]*\))?[-#0 +]*(\d+|\*)?(\.\d+)?[sdrifgexXoc]')
_NOT_MESSAGES = {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}


def template(node):
    """The literal text of a message expression, with PLACEHOLDER where a value is filled in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _FORMAT.sub(PLACEHOLDER, template(node.left)).replace('%%', '%')
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return template(node.left) + template(node.right)
    if isinstance(node, ast.JoinedStr):
        return ''.join(value.value if isinstance(value, ast.Constant) else PLACEHOLDER for value in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == 'format':
        return re.sub(r'\{[^}]*\}', PLACEHOLDER, template(node.func.value))
    return PLACEHOLDER


def _sentences(text):
    return [part for part in re.split(r'(?<=[.!?])\s+', ' '.join(text.split())) if part]


def _has_words(text):
    return bool(re.search(r'[A-Za-z]{2,}', text.replace(PLACEHOLDER, ' ')))


def _error_argument(node):
    """The message argument of a raise of an *Error class or of a fail_json call, else None."""
    if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
        func = node.exc.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ''
        if name.endswith('Error') and node.exc.args:
            return node.exc.args[0]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == 'fail_json':
        for keyword in node.keywords:
            if keyword.arg == 'msg':
                return keyword.value
    return None


def _not_messages(tree):
    """ids of the string nodes that are docstrings or module documentation blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in _NOT_MESSAGES
                                                for t in node.targets):
            skip.update(id(sub) for sub in ast.walk(node.value))
    return skip


def messages_in_source(source, where='<source>'):
    """{message: [where, ...]} for one Python source, by the rule in this file's docstring."""
    tree = ast.parse(source)
    found = {}
    skip = _not_messages(tree)
    inner = set()  # string nodes already read as part of a larger template
    for node in ast.walk(tree):
        argument = _error_argument(node)
        if argument is not None:
            text = template(argument)
            first = _sentences(text)[0] if _sentences(text) else ''
            if _has_words(first):
                found.setdefault(first, []).append('%s:%d' % (where, node.lineno))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            inner.update(id(sub) for sub in ast.walk(node.left))
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in inner:
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and \
                isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            text = template(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        for sentence in _sentences(text):
            if 'refusing' in sentence.lower() and _has_words(sentence):
                found.setdefault(sentence, []).append('%s:%d' % (where, node.lineno))
    return found


def plugin_messages():
    found = {}
    for path in sorted((REPO / 'plugins').rglob('*.py')):
        for message, places in messages_in_source(path.read_text(), str(path.relative_to(REPO))).items():
            found.setdefault(message, []).extend(places)
    return found


def table_rows(markdown):
    """(message cell, action cell) of every table row with at least two cells, header rows left out."""
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith('|') or re.match(r'^\|[\s:|-]+\|$', line):
            continue
        cells = [cell.strip() for cell in re.split(r'(?<!\\)\|', line.strip('|'))]
        if len(cells) >= 2:
            rows.append((cells[0], cells[1]))
    return rows


def _collapse(text):
    return ' '.join(text.replace('`', '').split())


def documented(message, rows):
    """True when one row's first cell holds the message's literal pieces in order and its second an action."""
    pieces = [_collapse(piece) for piece in message.split(PLACEHOLDER)]
    pieces = [piece for piece in pieces if piece]
    for cell, action in rows:
        text, at = _collapse(cell), 0
        for piece in pieces:
            at = text.find(piece, at)
            if at < 0:
                break
            at += len(piece)
        else:
            if re.search(r'\w', action):
                return True
    return False


def test_the_plugins_print_messages_this_rule_finds():
    found = plugin_messages()
    # The failover's main refusals are among them, however they are assembled.
    texts = [message.replace(PLACEHOLDER, '…') for message in found]
    assert any('refusing to fence … without confirm_room_down: true.' in text for text in texts)
    assert any(text.startswith('Refusing quorum override while the other room is not fenced') for text in texts)
    assert len(found) > 100


def test_every_plugin_message_is_in_the_runbook_with_an_action():
    rows = table_rows(RUNBOOK.read_text())
    missing = ['%s  (%s)' % (message.replace(PLACEHOLDER, '…'), places[0])
               for message, places in sorted(plugin_messages().items()) if not documented(message, rows)]
    assert not missing, 'messages not in docs/runbook.md with an action:\n' + '\n'.join(missing)


SYNTHETIC = '''
class WidgetError(Exception):
    """Docstrings are not messages, even refusing ones."""

def check(name, size):
    problems = []
    if size < 1:
        problems.append('%s has no size: refusing to build it. Give it one.' % name)
    if problems:
        raise WidgetError(' '.join(problems))
    raise WidgetError('cannot find widget %s in %s: %s' % (name, 'store', 'gone'))
    raise WidgetError(str(name))
'''


def test_a_message_missing_from_the_runbook_is_found():
    found = messages_in_source(SYNTHETIC)
    assert sorted(message.replace(PLACEHOLDER, '<>') for message in found) == [
        '<> has no size: refusing to build it.', 'cannot find widget <> in <>: <>']
    rows = table_rows('| message | action |\n|---|---|\n| `cannot find widget … in …: …` | restock |\n'
                      '| `… has no size: refusing to build it.` | |\n')
    by_text = {message.replace(PLACEHOLDER, '<>'): message for message in found}
    assert documented(by_text['cannot find widget <> in <>: <>'], rows)
    # In the table but without an action: not documented.
    assert not documented(by_text['<> has no size: refusing to build it.'], rows)
    # Pieces out of order, or one missing: not documented.
    assert not documented(by_text['cannot find widget <> in <>: <>'], table_rows('| `in …: cannot find widget …` | x |'))
    assert not documented(by_text['cannot find widget <> in <>: <>'], table_rows('| `cannot find … in …` | x |'))


@pytest.mark.parametrize('source, expected', [
    ("raise FooError('bad %s value {}'.format(x))", ['bad %s value <>']),
    ("raise FooError(f'node {n} is gone. Look')", ['node <> is gone.']),
    ("module.fail_json(msg='cannot read %s: %s' % (a, b))", ['cannot read <>: <>']),
    ("raise FooError(prefix + 'the lock %s is held.' % p)", ['<>the lock <> is held.']),
    ("raise ValueError(str(exc))", []),
    ("DOCUMENTATION = 'refusing to do it.'", []),
])
def test_the_extraction_rule(source, expected):
    assert sorted(m.replace(PLACEHOLDER, '<>') for m in messages_in_source(source)) == expected

"""An intersphinx inventory for the docs site, written here instead of fetched: the site is built offline.

The pages antsibull-docs writes refer to Ansible's own docs (common return values, configuration settings,
plugin types) and to modules of other collections. Each such label the site uses but does not define is
listed with its address on Ansible's docs site, so Sphinx resolves it to a link there without reading the
network. A label this file does not know fails the build (add it to KNOWN).
Usage: python docs/docsite/offline_inventory.py RST_DIR OUT_FILE
"""

import pathlib
import re
import sys
import zlib

KNOWN = {
    'common_return_values': ('reference_appendices/common_return_values.html', 'Return Values'),
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible Configuration Settings'),
    'action_plugins': ('plugins/action.html', 'Action plugins'),
}
_REF = re.compile(r':ref:`(?:[^`<]*<)?([^`<>]+)>?`')
_LABEL = re.compile(r'^\.\. _([^:]+):\s*$', re.M)
_OTHER_COLLECTION = re.compile(r'^ansible_collections\.(\w+)\.(\w+)\.(\w+)_(module|filter|lookup|test|inventory|'
                               r'connection|callback|become|cache|cliconf|httpapi|netconf|shell|strategy|vars)$')


def entries(rst_dir):
    texts = [path.read_text() for path in pathlib.Path(rst_dir).rglob('*.rst')]
    defined = {label for text in texts for label in _LABEL.findall(text)}
    wanted = sorted({label for text in texts for label in _REF.findall(text)} - defined)
    rows, unknown = [], []
    for label in wanted:
        match = _OTHER_COLLECTION.match(label)
        if label in KNOWN:
            uri, title = KNOWN[label]
        elif match and (match.group(1), match.group(2)) != ('twinroom', 'ha'):
            namespace, name, plugin, kind = match.groups()
            uri = 'collections/%s/%s/%s_%s.html' % (namespace, name, plugin, kind)
            title = '%s.%s.%s' % (namespace, name, plugin)
        else:
            unknown.append(label)
            continue
        rows.append('%s std:label -1 %s#%s %s' % (label, uri, label.replace('.', '-').replace('_', '-'), title))
    return rows, unknown


def main(rst_dir, out):
    rows, unknown = entries(rst_dir)
    if unknown:
        sys.exit('offline_inventory: labels neither defined on the site nor known here: %s' % ', '.join(unknown))
    head = '# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n' \
           '# The remainder of this file is compressed using zlib.\n'
    pathlib.Path(out).write_bytes(head.encode() + zlib.compress(('\n'.join(rows) + '\n').encode()))


if __name__ == '__main__':
    main(*sys.argv[1:3])

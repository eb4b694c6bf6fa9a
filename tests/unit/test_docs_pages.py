"""The README stays short, and every relative link of README.md and docs/*.md leads somewhere.

A link ``[text](target)`` that is not http(s) or mailto must name an existing file, relative to the page
(or the page itself for ``#anchor``), and an anchor into a Markdown page must be one of that page's
headings, slugged as GitHub and the docs site (MyST) slug them: lower case, punctuation dropped, spaces
to hyphens. `make docs` resolves the same links inside the site; this test needs no build.
"""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PAGES = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
_LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)\)')


def slug(title):
    title = re.sub(r'[`*]', '', title)
    return re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')


def _outside_code(markdown):
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith('```'):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r'`[^`]*`', '', line) if not line.lstrip().startswith('#') else line)
    return lines


def anchors(markdown):
    return {slug(match.group(1)) for line in _outside_code(markdown)
            for match in [re.match(r'^#{1,6}\s+(.*?)\s*#*$', line)] if match}


def broken_links(page, markdown, read=lambda path: path.read_text()):
    problems = []
    for line in _outside_code(markdown):
        for target in _LINK.findall(line):
            if re.match(r'^(https?|mailto):', target):
                continue
            path, anchor = (target.split('#', 1) + [''])[:2]
            resolved = (page.parent / path).resolve() if path else page
            if resolved != page and not resolved.exists():
                problems.append('%s: %s does not exist' % (page.name, target))
            elif anchor and resolved.suffix == '.md' and anchor not in anchors(read(resolved)):
                problems.append('%s: %s has no heading #%s' % (page.name, path or page.name, anchor))
    return problems


def test_the_readme_is_under_150_lines():
    lines = (REPO / 'README.md').read_text().splitlines()
    assert len(lines) < 150, 'README.md has %d lines' % len(lines)


@pytest.mark.parametrize('page', PAGES, ids=lambda page: page.name)
def test_every_relative_link_leads_somewhere(page):
    assert broken_links(page, page.read_text()) == []


def test_a_broken_link_or_anchor_is_found():
    page = REPO / 'docs' / 'synthetic.md'
    markdown = ('# Top\n\n## A room is lost\n\nSee [ok](#a-room-is-lost), [runbook](runbook.md#a-room-is-lost),\n'
                '[gone](nowhere.md), [bad anchor](#a-room-was-lost), [out](https://example.invalid/x).\n'
                '```sh\n[not a link](inside-code.md)\n```\n')
    pages = {page: markdown}
    problems = broken_links(page, markdown, read=lambda path: pages.get(path) or path.read_text())
    assert problems == ['synthetic.md: nowhere.md does not exist',
                        'synthetic.md: synthetic.md has no heading #a-room-was-lost']


@pytest.mark.parametrize('title, expected', [
    ('A refusal and what it means', 'a-refusal-and-what-it-means'),
    ("The operation lock (`twinroom.ha.operation_lock`)", 'the-operation-lock-twinroomhaoperation_lock'),
    ('2026-12-03: failover RTO with real containers', '2026-12-03-failover-rto-with-real-containers'),
])
def test_slug(title, expected):
    assert slug(title) == expected

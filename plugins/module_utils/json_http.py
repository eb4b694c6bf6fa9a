# Copyright: twinroom contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small JSON answer over HTTP, served in the background: the one way the collection is asked over HTTP.

``JsonServer(address, port, answer)`` listens on ``address``:``port`` (port 0: any free port; an address with a
colon is IPv6) and serves, in a daemon thread, ``answer(method, path) -> (status, body)`` for every request, whatever
its method: ``body`` is sent as JSON, with ``Allow`` on a 405. Each request has a daemon thread of its own, so a slow
or silent client (held at most ``request_timeout`` seconds) delays nobody. Nothing is logged per request. A bind that
fails raises the OSError (the caller says what to do); ``close()`` stops it.

Layer 2 (access): I/O, no domain decisions; the standard library only. Used by room_watch.py (the witness's answer
to the isolation guards).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.server
import json
import socket
import socketserver
import threading


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # every node of a site may ask at the same moment; socketserver's 5 would drop some

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's full name (reverse DNS, which may hang on a site without it).
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler(answer, allow, request_timeout):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version, sys_version = 'twinroom', ''
        timeout = request_timeout

        def __getattr__(self, name):  # do_GET, do_POST, any method at all: answer() says what each gets
            if name.startswith('do_'):
                return self.respond
            raise AttributeError(name)

        def respond(self):
            status, body = answer(self.command, self.path)
            payload = (json.dumps(body, sort_keys=True) + '\n').encode('utf-8')
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(payload)))
            self.send_header('Cache-Control', 'no-store')
            if status == 405:
                self.send_header('Allow', allow)
            self.end_headers()
            if self.command != 'HEAD':
                self.wfile.write(payload)

        def log_message(self, *_args):
            pass

    return Handler


class JsonServer(object):
    """Serves ``answer`` on ``address``:``port`` from now until :meth:`close`; ``port`` is the port it listens on."""

    def __init__(self, address, port, answer, allow='GET', request_timeout=5, name='twinroom-http'):
        server = _IPv6Server if ':' in address else _Server
        self.server = server((address, int(port)), _handler(answer, allow, request_timeout))
        self.address, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.2}, name=name)
        self.thread.daemon = True
        self.thread.start()
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self.server.shutdown()
            self.server.server_close()

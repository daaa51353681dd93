"""A static file server for the benchmarks: `python3 bench/serve.py PORT DIR`.

`python3 -m http.server` accepts only 5 pending connections and closes every connection after one
response (HTTP/1.0); with a client asking for many narinfos at once, the kernel drops the extra
connection attempts and the client waits for a SYN retransmission (about a second). A binary
cache on a real web server keeps connections alive and has a deep accept queue, so this one does
too: HTTP/1.1 keep-alive, a backlog of 1024, one thread per connection, no Nagle delay,
files sent with sendfile(2).
"""
import functools
import http.server
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK of the headers (40 ms per request on keep-alive connections).
    disable_nagle_algorithm = True

    def copyfile(self, source, outputfile):
        # Zero-copy, outside the interpreter lock, as web servers serve static files; copying
        # through Python would make the server the slowest part of the measurement.
        self.connection.sendfile(source)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    handler = functools.partial(Handler, directory=directory)
    Server(("127.0.0.1", port), handler).serve_forever()


if __name__ == "__main__":
    main()

"""A TLS-terminating TCP proxy, for the HTTPS test (tests/app/tls.rs): accepts TLS on 127.0.0.1
with the given certificate and key, and relays the plain bytes to a local port, both ways.

    python3 tls_proxy.py CERT KEY TARGET_PORT

Prints `listening on PORT` once it accepts connections. Python's standard library only.
"""

import socket
import ssl
import sys
import threading


def relay(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, context, target_port):
    try:
        tls = context.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        client.close()  # a client that refused our certificate: nothing to relay
        return
    upstream = socket.create_connection(("127.0.0.1", target_port))
    threading.Thread(target=relay, args=(upstream, tls), daemon=True).start()
    relay(tls, upstream)


def main():
    cert, key, target_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"listening on {listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client, context, target_port), daemon=True).start()


if __name__ == "__main__":
    main()

"""A gRPC client nobody here wrote (Python's grpcio), for the e2e tests.

    python3 grpc_client.py ADDRESS COUNT [PAUSE_AT]

Makes COUNT unary calls of /pickwise.lab.Worker/Name over ONE channel
(one HTTP/2 connection) to ADDRESS, one after another, and prints a line
per call: `ok NAME` or `err CODE DETAILS`. With PAUSE_AT, after that many
calls it prints `paused` and waits for a line on stdin before going on.
The messages are raw bytes: field 1 of the reply is the worker's name.
"""

import sys

import grpc


def name_of(reply: bytes) -> str:
    # 0x0a, a one-byte length, the name (names here are short).
    if len(reply) >= 2 and reply[0] == 0x0A and reply[1] == len(reply) - 2:
        return reply[2:].decode()
    return "?" + reply.hex()


def main() -> None:
    address, count = sys.argv[1], int(sys.argv[2])
    pause_at = int(sys.argv[3]) if len(sys.argv) > 3 else None
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(
        "/pickwise.lab.Worker/Name",
        request_serializer=lambda message: message,
        response_deserializer=lambda message: message,
    )
    for n in range(count):
        if pause_at is not None and n == pause_at:
            print("paused", flush=True)
            sys.stdin.readline()
        try:
            print("ok", name_of(call(b"", timeout=10)), flush=True)
        except grpc.RpcError as error:
            print("err", error.code().name, error.details(), flush=True)
    channel.close()


if __name__ == "__main__":
    main()

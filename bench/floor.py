"""Reference relays for the benchmark: byte pipes that copy each connection to
the upstream and back, with no HTTP parsing and no translation. They show what
one recv and one send per chunk cost on this machine, in trio (the proxy's
event loop) and in asyncio.

    python bench/floor.py trio|asyncio --port P --upstream-port U
"""

from __future__ import annotations

import argparse
import asyncio

import trio

RECEIVE_BYTES = 65536


async def trio_pipe(port: int, upstream_port: int) -> None:
    async def pump(source, sink) -> None:
        try:
            while data := await source.receive_some(RECEIVE_BYTES):
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def handle(client) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", upstream_port)
        async with upstream, trio.open_nursery() as nursery:
            nursery.start_soon(pump, client, upstream)
            await pump(upstream, client)
            nursery.cancel_scope.cancel()

    await trio.serve_tcp(handle, port, host="127.0.0.1")


async def asyncio_pipe(port: int, upstream_port: int) -> None:
    async def pump(reader, writer) -> None:
        try:
            while data := await reader.read(RECEIVE_BYTES):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pump(client_reader, upstream_writer), pump(upstream_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loop", choices=("trio", "asyncio"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    if args.loop == "trio":
        trio.run(trio_pipe, args.port, args.upstream_port)
    else:
        asyncio.run(asyncio_pipe(args.port, args.upstream_port))

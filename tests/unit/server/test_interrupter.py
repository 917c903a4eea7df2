"""The Interrupter: a cut lands only in a wait for the upstream, and its
reason takes the place of the answer."""

from __future__ import annotations

import pytest
import trio

from anthroproxy.server import Interrupter, ShuttingDown


class Silence(Exception):
    """An application's own reason (the proxy's: an upstream timeout)."""


async def test_a_cut_raises_its_reason_where_the_wait_was(nursery):
    interrupter = Interrupter()

    async def cut_soon():
        await trio.sleep(0.01)
        interrupter.interrupt(Silence("no answer"))

    nursery.start_soon(cut_soon)
    with pytest.raises(Silence):
        with interrupter.guard():
            await trio.sleep_forever()


async def test_a_cut_outside_a_wait_waits_for_the_next_one():
    interrupter = Interrupter()
    interrupter.interrupt()  # (the drain's: no reason given)
    assert isinstance(interrupter.reason, ShuttingDown)
    with pytest.raises(ShuttingDown):
        with interrupter.guard():
            await trio.sleep_forever()  # (cancelled at once: the cut came first)


async def test_a_relay_loop_sees_the_reason_after_its_write_not_during_it():
    interrupter = Interrupter()
    reads = 0
    with pytest.raises(Silence):
        with interrupter.relay() as guard:
            while guard.reason is None:
                guard.waiting = True
                await trio.sleep(0)  # a read that found its bytes
                guard.waiting = False
                reads += 1
                interrupter.interrupt(Silence("cut during a write"))  # not waiting: nothing is cancelled
                await trio.sleep(0)  # the write goes on
            raise guard.reason
    assert reads == 1


def test_only_the_drains_cut_outlives_forgiveness():
    silence, drain = Interrupter(), Interrupter()
    silence.interrupt(Silence("one upstream"))
    drain.interrupt()
    silence.forgive()
    drain.forgive()
    assert silence.reason is None and isinstance(drain.reason, ShuttingDown)

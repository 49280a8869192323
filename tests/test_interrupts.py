"""interrupts: SIGTERM raised as ``Terminated`` within the block, so that ``finally`` blocks run."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

import pytest

from mobilenets.interrupts import INTERRUPTS, Terminated, sigterm_as_exception


def _sentinel(signum: int, frame: FrameType | None) -> None:  # a handler the tests can recognise
    raise AssertionError("the sentinel handler must not run while sigterm_as_exception is active")


@pytest.fixture
def sentinel_handler() -> Iterator[None]:
    """SIGTERM handled by ``_sentinel`` for the test, and the original handler put back after it."""
    original = signal.signal(signal.SIGTERM, _sentinel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, original)


def _send_sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(200):  # the Python-level handler runs at the next bytecode boundary
        time.sleep(0.005)
    pytest.fail("SIGTERM did not raise within 1 s")


def test_terminated_is_not_an_exception_but_a_base_exception() -> None:
    # like KeyboardInterrupt: an `except Exception` in library code must not swallow it
    assert issubclass(Terminated, BaseException)
    assert not issubclass(Terminated, Exception)


def test_interrupts_are_ctrl_c_and_sigterm() -> None:
    assert tuple(INTERRUPTS) == (KeyboardInterrupt, Terminated)
    for interrupt in (KeyboardInterrupt(), Terminated()):
        with pytest.raises(type(interrupt)):
            try:
                raise interrupt
            except INTERRUPTS:
                raise
            except BaseException:  # pragma: no cover - would mean INTERRUPTS missed it
                pytest.fail(f"except INTERRUPTS did not catch {interrupt!r}")


@pytest.mark.usefixtures("sentinel_handler")
def test_sigterm_in_the_block_raises_terminated_and_finally_runs() -> None:
    ran: list[str] = []
    with pytest.raises(Terminated), sigterm_as_exception():
        try:
            _send_sigterm_to_self()
        finally:
            ran.append("finally")
    assert ran == ["finally"]


@pytest.mark.usefixtures("sentinel_handler")
def test_the_previous_handler_is_restored_after_a_normal_exit() -> None:
    with sigterm_as_exception():
        assert signal.getsignal(signal.SIGTERM) is not _sentinel
    assert signal.getsignal(signal.SIGTERM) is _sentinel


@pytest.mark.usefixtures("sentinel_handler")
def test_the_previous_handler_is_restored_after_terminated() -> None:
    with pytest.raises(Terminated), sigterm_as_exception():
        _send_sigterm_to_self()
    assert signal.getsignal(signal.SIGTERM) is _sentinel


@pytest.mark.usefixtures("sentinel_handler")
def test_the_previous_handler_is_restored_after_another_exception() -> None:
    with pytest.raises(ZeroDivisionError), sigterm_as_exception():
        _ = 1 / 0
    assert signal.getsignal(signal.SIGTERM) is _sentinel


def test_the_default_handler_is_restored() -> None:
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with sigterm_as_exception():
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.usefixtures("sentinel_handler")
def test_nested_blocks_restore_in_order() -> None:
    with sigterm_as_exception():
        inner_installed = signal.getsignal(signal.SIGTERM)
        with sigterm_as_exception():
            pass
        assert signal.getsignal(signal.SIGTERM) is inner_installed
        with pytest.raises(Terminated):
            _send_sigterm_to_self()
    assert signal.getsignal(signal.SIGTERM) is _sentinel


@pytest.mark.usefixtures("sentinel_handler")
def test_outside_the_main_thread_the_block_runs_without_installing_a_handler() -> None:
    seen: dict[str, object] = {}

    def worker() -> None:
        try:
            with sigterm_as_exception():
                seen["handler inside"] = signal.getsignal(signal.SIGTERM)
                seen["body ran"] = True
            seen["after"] = True
        except BaseException as error:  # reported to the main thread, which asserts on it
            seen["error"] = error

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert "error" not in seen, seen.get("error")
    assert seen == {"handler inside": _sentinel, "body ran": True, "after": True}
    assert signal.getsignal(signal.SIGTERM) is _sentinel


def test_outside_the_main_thread_exceptions_from_the_block_propagate() -> None:
    caught: list[BaseException] = []

    def worker() -> None:
        try:
            with sigterm_as_exception():
                raise KeyError("from the body")
        except KeyError as error:
            caught.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=10)
    assert len(caught) == 1 and caught[0].args == ("from the body",)

"""collector.paused: the cyclic collector off inside, on again after, however it ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from reconciler import collector


@pytest.fixture(autouse=True)
def running() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_inside_and_running_after() -> None:
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_running_again_after_an_error_inside() -> None:
    with pytest.raises(ValueError, match="broken"), collector.paused():
        raise ValueError("broken")
    assert gc.isenabled()


def test_a_pause_inside_a_pause_leaves_the_outer_one_paused() -> None:
    with collector.paused():
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_paused_by_the_embedding_program_stays_paused() -> None:
    gc.disable()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()

"""Fixtures for the end-to-end suite: real nginx, real php-fpm, loopback backends."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .harness import OPT_OUT_ENV, NginxInstance, e2e_opt_out
from .proofs.record import open_proof, remember_report, write_results
from .proofs.steps import Proof

_E2E_DIR = Path(__file__).parent
_Entered = TypeVar("_Entered")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real nginx/php-fpm on loopback (tests/e2e)")
    config.addinivalue_line("markers", "proof(rule, scenario): a rule proof; its results feed docs/proof.md")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Mark only this directory's tests, so `-m "not e2e"` gives the fast suite.
    for item in items:
        if _E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _honour_local_opt_out() -> None:
    if e2e_opt_out():
        pytest.skip(f"{OPT_OUT_ENV}=1: e2e suite skipped on request (never honoured when CI is set)")


@pytest.fixture
def e2e_stack() -> Iterator[contextlib.ExitStack]:
    """Everything a test starts, torn down in reverse order even when the test fails."""
    with contextlib.ExitStack() as stack:
        yield stack


@pytest.fixture
def running(e2e_stack: contextlib.ExitStack) -> Callable[[contextlib.AbstractContextManager[_Entered]], _Entered]:
    """Start a backend (any context manager) for the rest of the test: `running(SlowBackend(3))`."""
    return e2e_stack.enter_context


@pytest.fixture
def nginx(e2e_stack: contextlib.ExitStack) -> Callable[..., NginxInstance]:
    """Start nginx for the rest of the test: `nginx(server_block(...), values={...})`.

    On failure pytest shows each instance's error.log in the captured teardown output.
    """

    def start(http: str, *, values: Mapping[str, object] | None = None, **options: Any) -> NginxInstance:
        instance = NginxInstance(http, values=values, **options)
        e2e_stack.callback(instance.cleanup)
        e2e_stack.callback(_print_logs, instance)
        return instance.start()

    return start


@pytest.fixture
def nginx_config(e2e_stack: contextlib.ExitStack) -> Callable[..., NginxInstance]:
    """Write an nginx config without starting it (for `nginx -t` proofs); `.start()` it later."""

    def write(http: str, *, values: Mapping[str, object] | None = None, **options: Any) -> NginxInstance:
        instance = NginxInstance(http, values=values, **options)
        e2e_stack.callback(instance.cleanup)
        e2e_stack.callback(_print_logs, instance)
        return instance

    return write


def _print_logs(instance: NginxInstance) -> None:
    print(f"--- nginx error.log ({instance.prefix}) ---\n{instance.error_log_text()}")
    print(f"--- nginx access.log ---\n{instance.access_log_text()}")


@pytest.fixture
def proof(request: pytest.FixtureRequest) -> Iterator[Proof]:
    """The steps of a rule proof (tests/e2e/proofs/steps.py), recorded for docs/proof.md."""
    for record in open_proof(request):
        yield Proof(record)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    remember_report(item, report)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    written = write_results(session.config)
    if written is not None:
        print(f"\nrule proof results: {written}")

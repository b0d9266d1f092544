"""With SHIPYARD_TEST_SERVICES=1 (CI) a run in which a ``services`` test was skipped or
deselected fails, saying which; without it such a run passes as before. The same gate,
with SHIPYARD_TEST_FLAVORS=1, makes the ``flavors`` tests (model frameworks) mandatory."""

from __future__ import annotations

import pytest

TESTS = """
import pytest

@pytest.mark.services
def test_needs_a_server():
    pytest.skip("no server here")

@pytest.mark.services
def test_talks_to_a_server():
    pass

def test_plain():
    pass

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend(request):
    return request.param

def test_each_backend(backend):
    pass
"""


FLAVOR_TESTS = """
import pytest

pytestmark = pytest.mark.flavors

def test_needs_a_framework():
    pytest.importorskip("no_such_framework", reason="no_such_framework is not installed")

def test_has_its_framework():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("SHIPYARD_TEST_SERVICES", raising=False)
    monkeypatch.delenv("SHIPYARD_TEST_FLAVORS", raising=False)
    pytester.makeini(
        """
        [pytest]
        addopts = --strict-markers -p no:cacheprovider
        markers =
            services: talks to a real server
            flavors: needs a model framework
        """
    )
    pytester.makeconftest("from tests.conftest import pytest_configure  # noqa: F401\n")
    pytester.makepyfile(test_gate=TESTS, test_flavor_gate=FLAVOR_TESTS)
    return pytester


def test_a_skipped_services_test_fails_the_run(project, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TEST_SERVICES", "1")
    result = project.runpytest("test_gate.py")
    result.assert_outcomes(passed=4, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*services tests that did not run*",
            "test_gate.py::test_needs_a_server: skipped: no server here",
            "error: SHIPYARD_TEST_SERVICES=1 but 1 test(s) marked 'services' did not run:*",
        ]
    )


def test_deselected_services_tests_fail_the_run(project, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TEST_SERVICES", "1")
    result = project.runpytest("test_gate.py", "-m", "not services")
    result.assert_outcomes(passed=2, deselected=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "test_gate.py::test_needs_a_server: deselected",
            "test_gate.py::test_talks_to_a_server: deselected",
            "test_gate.py::test_each_backend[[]postgresql[]]: deselected",
            "error: SHIPYARD_TEST_SERVICES=1 but 3 test(s) marked 'services' did not run:*",
        ]
    )


def test_a_run_in_which_every_collected_services_test_ran_passes(project, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TEST_SERVICES", "1")
    # tests not collected (not named here) are not deselected: nothing is missing
    result = project.runpytest("test_gate.py::test_talks_to_a_server", "test_gate.py::test_plain")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*did not run*")


def test_without_the_variable_skips_are_only_reported(project):
    result = project.runpytest("test_gate.py", "-m", "not services")
    result.assert_outcomes(passed=2, deselected=3)
    assert result.ret == pytest.ExitCode.OK
    result = project.runpytest("test_gate.py")
    result.assert_outcomes(passed=4, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*did not run*")


def test_a_skipped_flavors_test_fails_the_run_with_its_reason(project, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TEST_FLAVORS", "1")
    result = project.runpytest()  # services tests skip too, but only flavors is required
    result.assert_outcomes(passed=5, skipped=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*flavors tests that did not run*",
            "test_flavor_gate.py::test_needs_a_framework: "
            "skipped: no_such_framework is not installed",
            "error: SHIPYARD_TEST_FLAVORS=1 but 1 test(s) marked 'flavors' did not run:*"
            "pip install -e '.[[]dev,heavy-flavors[]]'*",
        ]
    )
    result.stdout.no_fnmatch_line("*services tests that did not run*")


def test_without_the_flavors_variable_a_missing_framework_only_skips(project):
    result = project.runpytest("test_flavor_gate.py")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*did not run*")

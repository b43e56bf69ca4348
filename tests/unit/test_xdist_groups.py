"""`make test-db` runs pytest-xdist with --dist loadgroup so that the tests of one module, and the tests
of one named group across modules (the demo warehouse of tests/e2e), run on one worker and build their
module and session fixtures once. pytest 9.2 with pytest-xdist 3.8 silently ignored the groups (each
fixture was built on both workers: the demo `iem run` twice per pass). This runs a tiny suite under the
project's own conftest grouping and asserts each group ran on one worker."""

import json
import subprocess
import sys
import textwrap
from collections import defaultdict


def test_a_group_and_a_module_each_run_on_one_worker(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    log = tmp_path / "log.jsonl"
    # the project's grouping rule (tests/conftest.py), without its database fixtures
    (suite / "conftest.py").write_text(
        textwrap.dedent(f"""
        import json, os, pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_collection_modifyitems(config, items):
            for item in items:
                if not item.get_closest_marker("xdist_group"):
                    item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

        @pytest.fixture(autouse=True)
        def record(request):
            with open({str(log)!r}, "a") as f:
                f.write(json.dumps([request.node.nodeid, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")
        """)
    )
    group = "import pytest\npytestmark = pytest.mark.xdist_group('demo')\n"
    (suite / "test_demo_a.py").write_text(group + "def test_1(): pass\ndef test_2(): pass\n")
    (suite / "test_demo_b.py").write_text(group + "@pytest.mark.parametrize('k', range(6))\ndef test_p(k): pass\n")
    for n in range(4):
        (suite / f"test_module_{n}.py").write_text("".join(f"def test_{i}(): pass\n" for i in range(4)))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", str(suite)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = defaultdict(set)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 2 + 6 + 4 * 4  # every test ran once
    for nodeid, worker in rows:
        module = nodeid.split("::")[0]
        workers["demo" if "test_demo_" in module else module].add(worker)
    split = {name: sorted(w) for name, w in workers.items() if len(w) > 1}
    assert not split, f"groups split over workers (pytest/pytest-xdist grouping broken): {split}"

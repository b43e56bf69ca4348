"""A Dagster home IEM creates gets IEM's instance settings and its storage before any process starts;
a home with its own dagster.yaml keeps it."""

import yaml

from orchestration.pipeline import prepare_dagster_home


def test_a_new_home_gets_the_startup_timeout_and_its_storage(tmp_path):
    home = tmp_path / "dagster"
    prepare_dagster_home(home).dispose()
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["code_servers"]["local_startup_timeout"] == 600
    assert (home / "history" / "runs.db").exists()  # the storage exists before a webserver or daemon starts


def test_a_home_with_its_own_settings_keeps_them(tmp_path):
    (tmp_path / "dagster.yaml").write_text("code_servers:\n  local_startup_timeout: 42\n")
    instance = prepare_dagster_home(tmp_path)
    assert instance.code_server_process_startup_timeout == 42
    instance.dispose()
    assert "42" in (tmp_path / "dagster.yaml").read_text()

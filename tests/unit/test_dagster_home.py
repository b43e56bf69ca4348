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


def test_the_event_log_keeps_its_connections_and_another_process_reads_every_event(tmp_path):
    """The home's event log is the pooled SQLite storage (orchestration/sqlite_storage.py) in the home's own
    history folder; what one instance stores, a second instance on the same files (the UI's webserver, in
    another process) reads back, and no more shard files are held open than OPEN_SHARDS."""
    import dagster as dg

    from orchestration.sqlite_storage import OPEN_SHARDS, PooledSqliteEventLogStorage

    home = tmp_path / "dagster"
    writer = prepare_dagster_home(home)
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["event_log_storage"]["config"]["base_dir"] == f"{home.resolve()}/history/runs"
    assert isinstance(writer.event_log_storage, PooledSqliteEventLogStorage)
    for i in range(30):  # runless events go to one shard per asset key's run, and the index
        writer.report_runless_asset_event(dg.AssetMaterialization(asset_key=f"asset_{i % 6}", metadata={"n": i}))
    assert len(writer.event_log_storage._engines) <= OPEN_SHARDS
    reader = prepare_dagster_home(home)
    try:
        for k in range(6):
            record = reader.get_latest_materialization_event(dg.AssetKey(f"asset_{k}"))
            assert record is not None and record.asset_materialization.metadata["n"].value == 24 + k
    finally:
        reader.dispose()
        writer.dispose()
    assert writer.event_log_storage._engines == {}

"""How dbt reaches the warehouse: profiles.yml reads only environment variables, set from the URL."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .database import connection_parts, database_url, stage_role, warehouse_build_lock
from .settings import DBT_PROJECT_DIR


def dbt_environment(url: str | None = None) -> dict[str, str]:
    parts = connection_parts(url or database_url())
    return {
        "IEM_PG_HOST": str(parts["host"]),
        "IEM_PG_PORT": str(parts["port"]),
        "IEM_PG_USER": parts["user"],
        "IEM_PG_PASSWORD": parts["password"],
        "IEM_PG_DBNAME": parts["dbname"],
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        # PostgreSQL's JIT compiles every costly plan; for the incremental builds' short queries the
        # compilation took longer than the query (3.6 s of 4.5 s for int_meter_intervals)
        "PGOPTIONS": "-c jit=off",
        # dbt's file log (dbt.log in the warehouse's target folder for Dagster's builds, dbt_project/logs/ for
        # run_dbt's) at info: each node's result and seconds, not the text and
        # timing of every SQL statement (debug, dbt's default). Serialising the debug events cost about 1.5 s of
        # a 19 s build of the demo warehouse with nothing new (3 runs each, alternating). A person diagnosing
        # a build sets DBT_LOG_LEVEL_FILE=debug; the compiled SQL of every node is in the target folder.
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE", "info"),
        # dbt runs as the transformer role, whatever user the URL names: the profile's `role`
        # (SET ROLE on each of dbt's connections; not PGOPTIONS, which would reach every connection of
        # this process once set)
        "IEM_PG_ROLE": stage_role("transformer"),
        # the embedded server's password file (libpq reads it when the password is empty)
        **({"PGPASSFILE": parts["passfile"]} if parts["passfile"] else {}),
    }


# The platform's own dbt invocations (the Dagster graph's build, `run_dbt`) leave dbt's unit tests out: their
# inputs are fixed rows in YAML, so running them against every new batch proves nothing new and cost about 2 s
# of every build. dbt's guidance is the same (unit tests belong in development and CI, not in production
# runs). CI runs them once per database (tests/integration/test_indicators.py) with `unit_tests=True`;
# `make dbt-unit-test` runs them by hand. dbt run by hand (`--exports`) keeps its own default.
#
# A build of part of the warehouse (a 15-minute round, dbt_project/selectors.yml; the silent-feed job) runs a
# test only when every model the test reads is built with it (dbt's `cautious` indirect selection): a test
# comparing a rebuilt model with one left as it was (the daily marts against the monthly ones) would compare
# today's rows with yesterday's. A whole build selects every model, so there it changes nothing.
PLATFORM_RUN_ENVIRONMENT = {"DBT_EXCLUDE_RESOURCE_TYPES": "unit_test", "DBT_INDIRECT_SELECTION": "cautious"}


def apply_dbt_environment(url: str | None = None, *, unit_tests: bool = False) -> None:
    os.environ.update(dbt_environment(url))
    if unit_tests:
        os.environ.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
    else:
        os.environ.update(PLATFORM_RUN_ENVIRONMENT)


def warehouse_target_path(url: str | None = None, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """dbt's target folder for one warehouse (host, port, database): every build of that warehouse, from
    the Dagster graph or from `run_dbt`, writes its artifacts there, so the next build finds dbt's saved
    parse state (partial_parse.msgpack) and re-parses only what changed instead of the whole project
    (about 5 s of every build on a quiet machine, twice that in CI). The state cannot be shared between
    warehouses: dbt re-parses when the connection (its database name) differs (`run_dbt` reuses a parse
    within one process instead: `parsed_project`). Builds of one warehouse
    are serialised by `warehouse_build_lock`, so two never write one folder at a time; builds of
    different warehouses (tests in parallel, a benchmark beside a run) use different folders."""
    import hashlib

    parts = connection_parts(url or database_url())
    key = f"{parts['host']}:{parts['port']}/{parts['dbname']}"
    return project_dir / "target" / f"warehouse-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


# The commands that run nodes of a parsed project, and may be handed a project parsed earlier in this process.
REUSES_PARSE = {"build", "run", "test", "seed"}
_parsed: dict[tuple, tuple[bytes, str]] = {}  # (project, its files, --vars) → (the parsed manifest, its database)
_parsed_lock = threading.Lock()
KEPT_PARSES = 4  # parses kept per process (a project state and --vars each, ~1.4 MB of msgpack each)


def _project_files(project_dir: Path) -> tuple:
    """Path, size and mtime of every file dbt parses (dbt_project.yml's paths): a change to any gives a new key."""
    import yaml

    config = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    defaults = {
        "model": "models",
        "seed": "seeds",
        "macro": "macros",
        "test": "tests",
        "snapshot": "snapshots",
        "analysis": "analyses",
    }
    folders = {folder for kind, default in defaults.items() for folder in config.get(f"{kind}-paths", [default])}
    files = [project_dir / name for name in ("dbt_project.yml", "profiles.yml", "selectors.yml")]
    files += [f for folder in sorted(folders) for f in sorted((project_dir / folder).rglob("*")) if f.is_file()]
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists())


def _move_to_database(manifest, parsed_for: str, database: str) -> None:
    """A manifest parsed against one warehouse, made the manifest of another on the same kind of cluster: the
    database is the only thing a parse takes from the connection (no model reads env_var or target.* but the
    schema). A node left behind would fail loudly (PostgreSQL refuses a reference to another database)."""
    old, new = f'"{parsed_for}".', f'"{database}".'
    collections = [manifest.nodes, manifest.sources, manifest.unit_tests]
    for collection in collections:
        for node in collection.values():
            if getattr(node, "database", None) == parsed_for:
                node.database = database
            relation_name = getattr(node, "relation_name", None)
            if relation_name and relation_name.startswith(old):
                node.relation_name = new + relation_name[len(old) :]


def _connection_hash(url: str | None, project_dir: Path, database: str | None = None) -> str:
    """The hash dbt keeps of the connection it parsed against (ManifestLoader.build_manifest_state_check: the
    sorted connection_info of the profile's credentials), for this project's profiles.yml rendered with the
    environment `dbt_environment(url)` gives dbt, optionally for another database on the same cluster."""
    import pprint

    import jinja2
    import yaml
    from dbt.adapters.postgres.connections import PostgresCredentials
    from dbt.contracts.files import FileHash

    env = {**os.environ, **dbt_environment(url)}

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise KeyError(name)
        return default

    def render(value):
        if not isinstance(value, str):
            return value
        text = jinja2.Environment(autoescape=False).from_string(value).render(env_var=env_var)  # noqa: S701 - YAML values, not HTML
        return int(text) if text.isdigit() else text

    profile = yaml.safe_load((project_dir / "profiles.yml").read_text())["iem"]
    output = {key: render(value) for key, value in profile["outputs"][profile["target"]].items()}
    output = {key: value for key, value in output.items() if key not in ("type", "threads")}
    if database:
        output["dbname"] = database
    connection = sorted(PostgresCredentials.from_dict(output).connection_info())
    return FileHash.from_contents(pprint.pformat(connection)).checksum


def _vars_hash(vars_text: str | None) -> str:
    """The hash dbt keeps of the command line's --vars (ManifestLoader.build_manifest_state_check; this
    platform never passes --profile or --target)."""
    import pprint

    from dbt.config.utils import parse_cli_vars
    from dbt.contracts.files import FileHash
    from dbt.version import __version__

    cli_vars = parse_cli_vars(vars_text) if vars_text else {}
    return FileHash.from_contents("\x00".join([pprint.pformat(cli_vars), "", "", __version__])).checksum


def seed_parse_state(url: str | None = None, project_dir: Path = DBT_PROJECT_DIR, vars_text: str | None = None) -> bool:
    """Give a warehouse that dbt has never built the saved parse state of another warehouse of this project,
    moved to its database, so that its first dbt command in a process of its own (the Dagster graph's build
    step) re-parses only what changed instead of the whole project (about 5 s). Taken only from a state whose
    stored connection hash this code reproduces for that state's own database (`_connection_hash`): if dbt
    changes what it hashes, or the state is of another cluster or half-written, nothing is seeded and dbt
    parses as before. dbt still checks the seeded state as its own (its version, the --vars, dbt_project.yml,
    every file's checksum); a state parsed with other --vars than `vars_text` is passed over. True when a state
    was seeded."""
    from dbt.contracts.files import FileHash
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder

    target = warehouse_target_path(url, project_dir)
    if (target / "partial_parse.msgpack").exists():
        return False
    database = connection_parts(url or database_url())["dbname"]
    saved = sorted((project_dir / "target").glob("warehouse-*/partial_parse.msgpack"), key=_mtime, reverse=True)
    for state in saved[:8]:
        try:
            manifest = Manifest.from_msgpack(state.read_bytes(), decoder=extended_mashumuro_decoder)
            if manifest.state_check.vars_hash.checksum != _vars_hash(vars_text):
                continue
            parsed_for = next(node.database for node in manifest.nodes.values() if node.database)
            if manifest.state_check.profile_hash.checksum != _connection_hash(url, project_dir, parsed_for):
                continue
            _move_to_database(manifest, parsed_for, database)
            manifest.state_check.profile_hash = FileHash(name="sha256", checksum=_connection_hash(url, project_dir))
            target.mkdir(parents=True, exist_ok=True)
            written = target / f".partial_parse.{os.getpid()}.msgpack"
            written.write_bytes(manifest.to_msgpack(extended_mashumaro_encoder))
            os.replace(written, target / "partial_parse.msgpack")
            return True
        except Exception:  # any doubt about a saved state: dbt parses as it would have
            logging.getLogger(__name__).debug("saved parse state %s not reused", state, exc_info=True)
    return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def parsed_project(command_args: list[str], url: str | None, project_dir: Path, target_path: str):
    """The project parsed, for a dbt command that runs nodes: parsed once per process, project state and
    `--vars` (the only arguments that change a parse), then copied for each invocation and moved to its
    warehouse's database.

    dbt re-parses the whole project (about 5 s of Python, 9 s on a busy machine) for every warehouse it has
    not built before, because the database name is part of the connection its saved parse state is checked
    against, and re-reads and re-writes that state (about 2 s) for every other invocation. A process that
    builds many warehouses (the tests, a Celery worker building regions, `iem evaluate`) paid that every time.
    The copy is what dbt itself does with its saved state (msgpack of the manifest). The first parse in a
    process is a `dbt parse` into the warehouse's target folder, as a build would have written it."""
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder

    vars_args = [a for i, a in enumerate(command_args) if a == "--vars" or (i and command_args[i - 1] == "--vars")]
    key = (str(project_dir.resolve()), _project_files(project_dir), tuple(vars_args))
    database = connection_parts(url or database_url())["dbname"]
    with _parsed_lock:
        saved = _parsed.get(key)
    if saved is None:
        parse = ["parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        result = dbtRunner().invoke([*parse, "--target-path", target_path, *vars_args])
        if not result.success or not isinstance(result.result, Manifest):
            return None  # the command itself then reports what is wrong with the project
        saved = (result.result.to_msgpack(extended_mashumaro_encoder), database)
        with _parsed_lock:
            _parsed[key] = saved
            while len(_parsed) > KEPT_PARSES:  # the oldest go: a long-lived worker never grows without bound
                _parsed.pop(next(iter(_parsed)))
    manifest = Manifest.from_msgpack(saved[0], decoder=extended_mashumuro_decoder)
    if saved[1] != database:
        _move_to_database(manifest, saved[1], database)
    manifest.build_parent_and_child_maps()
    manifest.build_flat_graph()
    return manifest


def run_dbt(args: list[str], url: str | None = None, project_dir: Path = DBT_PROJECT_DIR, *, unit_tests: bool = False):
    """Invoke dbt in-process (dbtRunner) against the warehouse. Raises on failure.

    Artifacts go to the warehouse's own target folder (`warehouse_target_path`), unless the caller names
    a `--target-path`. dbt's unit tests are left out unless `unit_tests` (PLATFORM_RUN_ENVIRONMENT). A
    command that runs nodes gets the project as this process parsed it before (`parsed_project`)."""
    from dbt.cli.main import dbtRunner

    apply_dbt_environment(url, unit_tests=unit_tests)
    named = "--target-path" in args
    target = args[args.index("--target-path") + 1] if named else str(warehouse_target_path(url, project_dir))
    full = [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    full += [] if named else ["--target-path", target]
    with warehouse_build_lock(url):
        manifest = parsed_project(args, url, project_dir, target) if args and args[0] in REUSES_PARSE else None
        result = dbtRunner(manifest=manifest).invoke(full)
    if not result.success:
        raise RuntimeError(f"dbt {' '.join(args)} failed: {result.exception or 'see dbt output above'}")
    return result


if __name__ == "__main__":  # `python -m orchestration.dbt_env --exports`: shell exports for running dbt by hand
    import shlex
    import sys

    if sys.argv[1:] != ["--exports"]:
        sys.exit("usage: python -m orchestration.dbt_env --exports")
    for key, value in dbt_environment().items():
        print(f"export {key}={shlex.quote(value)}")

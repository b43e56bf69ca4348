"""dbt models as Dagster assets: the dbt folder name is the Dagster group and the warehouse schema
(staging, intermediate, marts; seeds are `reference`). Sources map to the raw feed assets."""

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from packaging.version import Version

from ...database import warehouse_build_lock
from ...dbt_env import PLATFORM_RUN_ENVIRONMENT, dbt_environment, seed_parse_state, warehouse_target_path
from ...resources import WarehouseResource
from ...settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"

# dbt parse renders profiles.yml without connecting; these placeholders only satisfy env_var().
_PARSE_ENV = {
    "IEM_PG_HOST": "localhost",
    "IEM_PG_PORT": "5432",
    "IEM_PG_USER": "postgres",
    "IEM_PG_PASSWORD": "",
    "IEM_PG_DBNAME": "iem",
}


def _manifest_is_stale() -> bool:
    """The manifest is older than a file of the dbt project (a model added or changed since the parse)."""
    if not MANIFEST.exists():
        return True
    built = MANIFEST.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "selectors.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    return any(p.is_file() and p.stat().st_mtime > built for p in sources)


def ensure_manifest(force: bool = False) -> None:
    """Build dbt's manifest when it is missing (fresh clone) or older than the project's files (a model
    added or changed), so the definitions always load and match the models dbt builds. Processes
    that load the definitions at the same moment (`dagster dev` starts a webserver and a daemon) take a
    file lock; the manifest is parsed into a private folder and moved into place in one rename, so no
    process ever reads a half-written manifest."""
    if not force and not _manifest_is_stale():
        return
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.parent / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and not _manifest_is_stale():
            return  # another process built it while this one waited
        env = {**_PARSE_ENV, **os.environ, "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
        with tempfile.TemporaryDirectory(dir=MANIFEST.parent, prefix=".parse-") as private:
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from dbt.cli.main import cli; cli()",
                    "parse",
                    "--project-dir",
                    str(DBT_PROJECT_DIR),
                    "--profiles-dir",
                    str(DBT_PROJECT_DIR),
                    "--target-path",
                    private,
                    "--quiet",
                ],
                env=env,
                check=True,
                cwd=str(DBT_PROJECT_DIR),
            )
            os.replace(Path(private) / "manifest.json", MANIFEST)


class IemDbtTranslator(DagsterDbtTranslator):
    """Asset key = [schema folder, model]; group = the dbt folder (= warehouse schema)."""

    def _folder(self, props: Mapping[str, Any]) -> str:
        if props["resource_type"] == "seed":
            return "reference"
        fqn = props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "marts"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([self._folder(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return self._folder(dbt_resource_props)


ensure_manifest()


class DbtBuildConfig(dg.Config):
    """as_of: the time that time-relative alert rules (silent feed, calibration) judge against. Empty in
    batch runs (`iem run`, `iem transform`): the data watermark. Schedules and sensors of the running
    platform pass the wall clock (DESIGN §5)."""

    as_of: str | None = None


def warehouse_was_built(url: str) -> bool:
    """The warehouse has had a whole build (seeds, dimensions, monthly marts), so a build of part of it (a
    15-minute round, the silent-feed job) has what it reads."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("select to_regclass('marts.fct_enterprise_monthly') is not null").fetchone()
    return bool(row and row[0])


def wall_clock_as_of(moment=None) -> dict:
    """Run config that makes the dbt build judge time-relative rules against the wall clock."""
    from datetime import datetime

    moment = moment or datetime.now(UTC)
    return {"ops": {"dbt_warehouse": {"config": {"as_of": moment.astimezone(UTC).isoformat()}}}}


@dbt_assets(
    manifest=MANIFEST,
    dagster_dbt_translator=IemDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
    name="dbt_warehouse",
)
def dbt_warehouse_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource, config: DbtBuildConfig
):
    """`dbt build` of the selection: seeds, staging, intermediate (VEE) and marts, with their dbt tests as
    asset checks. Big models are incremental on the load batch, so this costs about the size of what is new."""
    env = {**dbt_environment(warehouse.database_url()), **PLATFORM_RUN_ENVIRONMENT}  # no dbt unit tests
    os.environ.update(env)
    whole = not context.is_subset  # (a subset's assets_def.keys are the selected keys only)
    if not whole and not warehouse_was_built(warehouse.database_url()):
        raise dg.Failure(
            description="This job builds part of the warehouse (a 15-minute round or the silent-feed job), but "
            "the warehouse has never had a whole build: its seeds, dimensions and monthly marts do not exist "
            "yet. Run transform_job (or `iem transform`) once; the rounds then build on it."
        )
    vars_text = json.dumps({"as_of": config.as_of}) if config.as_of else None
    args = ["build", *(["--vars", vars_text] if vars_text else [])]
    with warehouse_build_lock(warehouse.database_url()):  # one warehouse build at a time, whoever launched it
        # the warehouse's own target folder: dbt's saved parse state is reused by its next build (a warehouse
        # dbt never built starts from another one's, moved to its database)
        seed_parse_state(warehouse.database_url(), vars_text=vars_text)
        yield from dbt.cli(args, context=context, target_path=warehouse_target_path(warehouse.database_url())).stream()


# this environment's own dbt, installed with dbt-core beside the interpreter (the virtualenv's bin need not be on PATH)
DBT_BESIDE_INTERPRETER = Path(sys.executable).with_name("dbt")


def dbt_executable() -> str:
    """The dbt of this environment, else the first on PATH."""
    beside = DBT_BESIDE_INTERPRETER
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


class IemDbtCliResource(DbtCliResource):
    """dagster-dbt's resource, without the `dbt --version` it starts in every run to learn which dbt it
    drives (a second Python process importing dbt: 3.2 s of each build step on a quiet machine, beside the
    build's own 10 s for the demo warehouse with nothing new). When the executable is this environment's
    own dbt (beside the interpreter: `dbt_executable`), its version is the installed dbt-core's, read from
    the package metadata; any other executable is still asked."""

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.dbt_executable) == DBT_BESIDE_INTERPRETER:
            return Version(importlib.metadata.version("dbt-core"))
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    return IemDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )

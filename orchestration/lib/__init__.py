"""Library code of the composition root: the monthly export, the forecasts and the alert evaluation.

Plain Python with no Dagster import (a test asserts it): each takes a database URL and folders as
arguments. The Dagster assets under orchestration/defs/ and the `iem` command line call it."""

"""Passwords never shown or stored: one masking function for every URL and message (issue 12 item 7)."""

import pytest

from cifarsweep.stores.urls import mask_password
from tests.support.cli import invoke
from tests.support.services import drop_database, fresh_database, require_postgres
from tests.support.sweeps import mlflow_runs, write_spec

PASSWORDS = ["pa/ss", "p@ss", "pa:ss", "pa?ss", "pa#ss", "pa%ss", "pa%2Fss", "a/b@c:d?e#f%g", "s3cr3t"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_the_userinfo_password_is_hidden_whatever_it_holds(password):
    url = f"postgresql+psycopg://alice:{password}@db.example:5432/sweeps?sslmode=require"
    masked = mask_password(url)
    assert password not in masked and "pa" not in masked.split("@")[0].split(":")[-1]
    assert masked.startswith("postgresql+psycopg://alice:***@") and masked.endswith("sweeps?sslmode=require")
    in_text = mask_password(f"storage {url} is not reachable: connection refused")
    assert password not in in_text and "alice:***@" in in_text and in_text.endswith("connection refused")


@pytest.mark.parametrize(
    "url, secret",
    [
        ("postgresql://alice@db/sweeps?password=s3/cr@t#x&sslmode=require", "s3/cr@t#x"),
        ("postgresql://db/sweeps?sslmode=verify-full&sslpassword=k3y%2F", "k3y%2F"),
        ("http://mlflow.example/api?token=abc123&x=1", "abc123"),
        ("https://mlflow.example/?api_key=zz-99", "zz-99"),
        ("host=db user=alice password='two words' dbname=x", "two words"),
    ],
)
def test_secrets_in_query_strings_and_dsns_are_hidden(url, secret):
    masked = mask_password(url)
    assert secret not in masked and "***" in masked


def test_masking_leaves_urls_without_secrets_alone_and_is_idempotent():
    for url in ["sqlite:////tmp/mlruns/optuna.db", "http://127.0.0.1:5000", "postgresql://postgres@127.0.0.1/db"]:
        assert mask_password(url) == url
    once = mask_password("postgresql://u:pa/ss@h/db?password=x")
    assert mask_password(once) == once == "postgresql://u:***@h/db?password=***"


def test_unreachable_store_error_hides_a_password_with_a_slash(empty_workdir):
    spec = write_spec(empty_workdir, sweep={"params": {"lr": [0.01]}})
    result = invoke("run", spec, "--storage", "postgresql://u:pa/ss@127.0.0.1:1/db")
    assert result.exit_code == 2 and "pa/ss" not in result.output and "u:***@" in result.stderr


@pytest.mark.slow
def test_a_sweep_shows_and_stores_the_storage_url_masked(workdir):
    """The `study:` line and the parent run's cifarsweep.storage tag, against a real PostgreSQL."""
    require_postgres()
    url = fresh_database()
    password = "pa/ss:w?x#y%z"  # PostgreSQL here trusts local connections: any password connects
    storage = url.replace("postgres@", f"postgres:{password}@", 1)
    try:
        spec = write_spec(workdir, base={"epochs": 1}, sweep={"params": {"lr": [0.01]}})
        result = invoke("run", spec, "--storage", storage)
        assert result.exit_code == 0, result.output
        assert password not in result.output and "study: postgresql://postgres:***@" in result.output
        parents, _ = mlflow_runs()
        tag = parents[0].data.tags["cifarsweep.storage"]
        assert password not in tag and tag.startswith("postgresql://postgres:***@")
    finally:
        drop_database(url)

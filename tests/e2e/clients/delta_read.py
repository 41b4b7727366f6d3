"""Reads one Delta table of ParWatch's lake with two engines that are not ParWatch: Python
`deltalake` (delta-rs, its DataFusion SQL) and DuckDB's `delta` extension (Delta Kernel).

Usage: delta_read.py TABLE_URL [--version N] [--group-by COLUMN]

TABLE_URL is a local path, a file:// URL or an s3:// URL. For s3:// the store is taken from
AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ALLOW_HTTP
(path-style requests, as SeaweedFS on loopback wants). Without --version deltalake reads the
latest version and DuckDB reads that same version, so both count one snapshot even while
ParWatch appends. --group-by names the column counted by value (default `type`; `fault` suits
`rejected_events`); a NULL value is counted under the key "null".

Prints one JSON line:
{"deltalake": {"rows": N, "version": V, "by_type": {...}}, "duckdb": {"rows": N, "by_type": {...}}}
(the key is `by_<COLUMN>`). A reader that is missing or fails ends the script with a message on
stderr and exit status 1: no count is ever made up.

DuckDB's extensions come from the PyPI wheels duckdb-extension-delta and duckdb-extension-httpfs
(the S3 secret type), built for one DuckDB release: they are loaded from the wheels' files,
never downloaded.
"""
import argparse
import json
import os
import pathlib
import sys


def fail(reader, error):
    sys.exit(f"delta_read.py: {reader} could not read the table: {type(error).__name__}: {error}")


def s3_env():
    """The S3 connection from the environment, or {} when AWS_ENDPOINT_URL is unset."""
    if "AWS_ENDPOINT_URL" not in os.environ:
        return {}
    keys = ["AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_ALLOW_HTTP"]
    missing = [k for k in keys[1:4] if k not in os.environ]
    if missing:
        sys.exit(f"delta_read.py: AWS_ENDPOINT_URL is set but not {', '.join(missing)}")
    return {k: os.environ[k] for k in keys if k in os.environ}


def read_deltalake(url, version, by, s3):
    """Rows and per-value counts through delta-rs, and the version it read."""
    from deltalake import DeltaTable, QueryBuilder

    table = DeltaTable(url, version=version, storage_options=s3 or None)
    query = QueryBuilder().register("t", table)

    def rows(sql):
        result = query.execute(sql).read_all()
        return list(zip(*(column.to_pylist() for column in result.columns)))

    total = rows("SELECT count(*) AS n FROM t")[0][0]
    groups = rows(f'SELECT "{by}" AS v, count(*) AS n FROM t GROUP BY "{by}"')
    return table.version(), total, groups


def read_duckdb(url, version, by, s3):
    """Rows and per-value counts through DuckDB's delta extension, at the given version."""
    import duckdb
    import duckdb_extension_delta
    import duckdb_extension_httpfs

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    release = con.execute("PRAGMA version").fetchone()[0]
    for module, name in [(duckdb_extension_httpfs, "httpfs"), (duckdb_extension_delta, "delta")]:
        path = pathlib.Path(module.__file__).parent / "extensions" / release / f"{name}.duckdb_extension"
        if not path.is_file():
            raise RuntimeError(f"{path} is missing: the {name} wheel is not built for DuckDB {release}")
        con.execute(f"LOAD '{path}'")
    if s3:
        endpoint = s3["AWS_ENDPOINT_URL"]
        scheme, _, host = endpoint.partition("://")
        con.execute(
            "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, REGION ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL ?)",
            [s3["AWS_ACCESS_KEY_ID"], s3["AWS_SECRET_ACCESS_KEY"], s3["AWS_REGION"], host.rstrip("/"),
             scheme == "https"])
    scan = "delta_scan(?, version => ?)"
    # Every column of every row is decoded (a hash of the whole row), not only counted: a
    # column DuckDB cannot read fails here.
    total = con.execute(f"SELECT count(*), sum(hash(t) % 1000) FROM {scan} AS t",
                        [url, version]).fetchone()[0]
    groups = con.execute(f'SELECT "{by}", count(*) FROM {scan} GROUP BY ALL',
                         [url, version]).fetchall()
    return total, groups


def counts_of(groups, by):
    """{"by_<column>": {value: n}} from (value, n) pairs; NULL is the key "null"."""
    return {f"by_{by}": dict(sorted(("null" if v is None else str(v), n) for v, n in groups))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table_url")
    parser.add_argument("--version", type=int)
    parser.add_argument("--group-by", default="type")
    args = parser.parse_args()
    s3 = s3_env()
    by = args.group_by
    if '"' in by:
        sys.exit(f"delta_read.py: not a column name: {by}")
    seen = {}
    try:
        version, total, groups = read_deltalake(args.table_url, args.version, by, s3)
    except Exception as e:  # noqa: BLE001 - any failure of the reader is reported as such
        fail("Python deltalake", e)
    seen["deltalake"] = {"rows": total, "version": version, **counts_of(groups, by)}
    try:
        total, groups = read_duckdb(args.table_url, version, by, s3)
    except Exception as e:  # noqa: BLE001
        fail("DuckDB's delta extension", e)
    seen["duckdb"] = {"rows": total, **counts_of(groups, by)}
    print(json.dumps(seen, ensure_ascii=False))


if __name__ == "__main__":
    main()

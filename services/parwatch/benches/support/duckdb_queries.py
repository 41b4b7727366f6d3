"""Times SQL queries in DuckDB over one Delta table (the sql bench's baseline, part c).

Reads one JSON object on stdin: {"table": PATH, "queries": [SQL, ...]}, where each query reads
the view `events` = delta_scan(PATH). Runs each query once (its first run, which also reads the
Delta log), then three more times, timing inside Python: interpreter start-up and loading the
extension are not counted. Prints one JSON line:
{"duckdb": VERSION, "results": [{"first_ms": F, "best_ms": B, "rows": [[...], ...]}, ...]}
with dates and timestamps as ISO text. The delta extension is loaded from the PyPI wheel
duckdb-extension-delta, as tests/e2e/clients/delta_read.py does: never downloaded.
"""
import json
import pathlib
import sys
import time

import duckdb
import duckdb_extension_delta


def connect(table):
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    release = con.execute("PRAGMA version").fetchone()[0]
    path = pathlib.Path(duckdb_extension_delta.__file__).parent / "extensions" / release / "delta.duckdb_extension"
    if not path.is_file():
        sys.exit(f"duckdb_queries.py: {path} is missing: the delta wheel is not built for DuckDB {release}")
    con.execute(f"LOAD '{path}'")
    quoted = table.replace("'", "''")
    con.execute(f"CREATE VIEW events AS SELECT * FROM delta_scan('{quoted}')")
    return con, release


def timed(con, sql):
    started = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return (time.perf_counter() - started) * 1000.0, rows


def main():
    request = json.load(sys.stdin)
    con, release = connect(request["table"])
    results = []
    for sql in request["queries"]:
        first_ms, rows = timed(con, sql)
        best_ms = min(timed(con, sql)[0] for _ in range(3))
        results.append({"first_ms": first_ms, "best_ms": best_ms, "rows": [list(r) for r in rows]})
    print(json.dumps({"duckdb": release, "results": results}, default=lambda v: v.isoformat()))


if __name__ == "__main__":
    main()

"""SQLAlchemy (so pandas' read_sql and Superset) against ParWatch's PostgreSQL endpoint.

Usage: sqlalchemy_read.py PORT TOKEN AGENCY DRIVER, DRIVER being psycopg (3) or psycopg2.
Prints what it saw as JSON: the server version SQLAlchemy parsed, a count with a bound
parameter, and what the inspector lists, as Superset asks it: schemas, tables, views and the
columns (name, SQLAlchemy type, nullable) of `events` and `dossiers`, and the keys and
indexes of `events` (none: the lake has no constraints).
"""
import json
import sys

import sqlalchemy as sa

port, token, agency, driver = sys.argv[1:5]
engine = sa.create_engine(f"postgresql+{driver}://analyst:{token}@127.0.0.1:{port}/parwatch")
with engine.connect() as conn:
    inspector = sa.inspect(conn)
    count = conn.execute(
        sa.text("SELECT count(*) FROM events WHERE agency_code = :agency"), {"agency": agency}
    ).scalar()
    print(json.dumps({
        "server_version": list(engine.dialect.server_version_info),
        "count": count,
        "schemas": inspector.get_schema_names(),
        "tables": sorted(inspector.get_table_names()),
        "views": sorted(inspector.get_view_names()),
        "columns": {
            table: [[c["name"], str(c["type"]), c["nullable"]] for c in inspector.get_columns(table)]
            for table in ["events", "dossiers"]
        },
        "primary_key": inspector.get_pk_constraint("events")["constrained_columns"],
        "foreign_keys": inspector.get_foreign_keys("events"),
        "indexes": inspector.get_indexes("events"),
    }))

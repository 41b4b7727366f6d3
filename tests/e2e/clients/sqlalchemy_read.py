"""SQLAlchemy (so pandas' read_sql and Superset) against ParWatch's PostgreSQL endpoint.

Usage: sqlalchemy_read.py PORT TOKEN AGENCY; prints what it saw as JSON.
"""
import json
import sys

import sqlalchemy as sa

port, token, agency = sys.argv[1], sys.argv[2], sys.argv[3]
engine = sa.create_engine(f"postgresql+psycopg://analyst:{token}@127.0.0.1:{port}/parwatch")
with engine.connect() as conn:
    inspector = sa.inspect(conn)
    count = conn.execute(
        sa.text("SELECT count(*) FROM events WHERE agency_code = :agency"), {"agency": agency}
    ).scalar()
    print(json.dumps({
        "server_version": list(engine.dialect.server_version_info),
        "count": count,
        "tables": sorted(inspector.get_table_names()),
        "views": sorted(inspector.get_view_names()),
    }))

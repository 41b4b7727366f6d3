"""ParWatch over the PostgreSQL extended protocol, through libpq (psycopg 3).

Usage: extended.py PORT PASSWORD AGENCY. Prints one JSON object of what it saw.
Each execute with parameters is Parse/Bind/Describe/Execute; `prepare=True` reuses a named
prepared statement; `binary=True` asks for binary result columns.
"""
import datetime
import json
import sys

import psycopg

port, password, agency = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}
with psycopg.connect(host="127.0.0.1", port=port, user="analyst", password=password,
                     dbname="parwatch", connect_timeout=10) as conn:
    with conn.cursor() as cur:
        since = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        cur.execute("SELECT count(*) FROM events WHERE agency_code = %s AND occurred_at >= %s",
                    (agency, since))
        seen["count"] = cur.fetchone()[0]
        cur.execute("SELECT %s::text AS t, %s::bigint AS i, %s::boolean AS b", ("Sở Tư pháp", 42, True))
        seen["echo"] = list(cur.fetchone())
        for _ in range(3):
            cur.execute("SELECT count(*) FROM events WHERE agency_code = %s", (agency,), prepare=True)
            seen["prepared"] = cur.fetchone()[0]
        cur.execute("SELECT occurred_at, digitized FROM events WHERE event_id = %s",
                    ("ev-000005",), binary=True)
        occurred, digitized = cur.fetchone()
        seen["binary"] = [occurred.isoformat(), digitized]
        try:
            cur.execute("DELETE FROM events WHERE agency_code = %s", (agency,))
            seen["delete"] = "allowed"
        except psycopg.Error as e:
            seen["delete"] = [e.sqlstate, str(e).strip()]
print(json.dumps(seen, ensure_ascii=False))

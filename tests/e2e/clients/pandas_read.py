"""pandas.read_sql with bound parameters over psycopg2, through SQLAlchemy and on a raw DBAPI
connection, against ParWatch's PostgreSQL endpoint.

Usage: pandas_read.py PORT TOKEN AGENCY. Prints JSON: for each way in, the rows of a grouped
count and of a listing, both filtered by bound parameters (text, timestamp with time zone); and
how many rows read_sql_table reads of `events`.
"""
import datetime
import json
import sys
import warnings

import pandas as pd
import psycopg2
import sqlalchemy as sa

port, token, agency = sys.argv[1:4]
# 06:00 in Vietnam (UTC+7): 23:00 UTC the day before.
since = datetime.datetime(2024, 4, 1, 6, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=7)))
params = {"a": agency, "since": since}
grouped = ("SELECT type, count(*) AS n FROM events WHERE agency_code = %(a)s "
           "AND occurred_at >= %(since)s GROUP BY type ORDER BY type")
listing = ("SELECT event_id, digitized, event_date FROM events WHERE agency_code = %(a)s "
           "AND occurred_at >= %(since)s ORDER BY event_id")


def plain(value):
    """A cell as JSON: dates in ISO 8601, numpy scalars as Python ones."""
    if value is None or value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def rows(frame):
    return [[plain(v) for v in row] for row in frame.itertuples(index=False)]


seen = {}
engine = sa.create_engine(f"postgresql+psycopg2://analyst:{token}@127.0.0.1:{port}/parwatch")
seen["sqlalchemy"] = {"grouped": rows(pd.read_sql(grouped, engine, params=params)),
                      "listing": rows(pd.read_sql(listing, engine, params=params))}
# read_sql_table reflects the table first (columns, keys, indexes, options), as Superset does.
seen["table_rows"] = len(pd.read_sql_table("events", engine))
conn = psycopg2.connect(host="127.0.0.1", port=port, user="analyst", password=token,
                        dbname="parwatch", connect_timeout=10)
with warnings.catch_warnings():
    # pandas warns that it tests only SQLAlchemy and sqlite3 connections: this is the test.
    warnings.simplefilter("ignore", UserWarning)
    seen["psycopg2"] = {"grouped": rows(pd.read_sql(grouped, conn, params=params)),
                        "listing": rows(pd.read_sql(listing, conn, params=params))}
conn.close()
print(json.dumps(seen))

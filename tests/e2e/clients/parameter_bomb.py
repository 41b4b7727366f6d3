"""A prepared statement naming a huge parameter number, over psycopg 3's extended protocol.

Usage: parameter_bomb.py PORT TOKEN. Prints JSON: the SQLSTATE each statement was refused with
(or null when it ran), and what `SELECT 1` answers on the same connection afterwards.
"""
import json
import sys

import psycopg

port, token = sys.argv[1:3]
conn = psycopg.connect(host="127.0.0.1", port=port, user="parwatch", password=token,
                       dbname="parwatch", autocommit=True)
refused = {}
for n in ["65536", "3000000000"]:
    try:
        conn.execute(f"SELECT ${n}", prepare=True)
        refused[n] = None
    except psycopg.Error as e:
        refused[n] = e.sqlstate
print(json.dumps({"refused": refused, "after": conn.execute("SELECT 1").fetchone()[0]}))

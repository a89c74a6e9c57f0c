"""A Flight SQL client as a notebook would use it: ADBC's Flight SQL driver into pyarrow and pandas.

Usage: flight_client.py URI TOKEN SQL...   (TOKEN '' for none)
Prints one JSON line per statement: {"rows": [...], "pandas_shape": [rows, columns]} with null
values left out of each row, or {"error": "..."} when the server refused or failed it.
"""
import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql


def main() -> None:
    uri, token, statements = sys.argv[1], sys.argv[2], sys.argv[3:]
    db_kwargs = {"adbc.flight.sql.authorization_header": f"Bearer {token}"} if token else {}
    with flight_sql.connect(uri, db_kwargs=db_kwargs) as connection:
        for sql in statements:
            with connection.cursor() as cursor:
                try:
                    cursor.execute(sql)
                    table = cursor.fetch_arrow_table()
                except Exception as error:  # the server's refusal or failure is the result
                    print(json.dumps({"error": f"{type(error).__name__}: {error}"}), flush=True)
                    continue
            frame = table.to_pandas()
            rows = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
            print(json.dumps({"rows": rows, "pandas_shape": list(frame.shape)}, default=str), flush=True)


if __name__ == "__main__":
    main()

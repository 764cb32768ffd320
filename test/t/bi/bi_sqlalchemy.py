"""What SQLAlchemy's inspector (the path Superset takes) discovers in a schema: views, tables, columns with
their types and comments, one tab-separated line each.

  bi_sqlalchemy.py USER DATABASE SCHEMA       (host and port from PGHOST and PGPORT)
"""
import os
import sys

import sqlalchemy as sa

user, database, schema = sys.argv[1:4]
url = sa.engine.URL.create("postgresql+psycopg2", username=user, database=database,
                           query={"host": os.environ["PGHOST"], "port": os.environ["PGPORT"]})
inspector = sa.inspect(sa.create_engine(url))
views = inspector.get_view_names(schema=schema)
for kind, names in (("view", views), ("table", inspector.get_table_names(schema=schema))):
    for name in names:
        print(f"{kind}\t{name}\t{inspector.get_table_comment(name, schema=schema)['text']}")
for name in views:
    for col in inspector.get_columns(name, schema=schema):
        print(f"column\t{name}\t{col['name']}\t{col['type']}\t{col.get('comment')}")

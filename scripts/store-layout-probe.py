#!/usr/bin/env python3
"""Probe behind the QuarantineStore body layout (docs/QUARANTINE-STORE.md): the cost of a
durable 10 KB message body as a file (temp name, fsync, rename, directory fsync, then the
row commit) against a BLOB in the row's own transaction, one message per commit and 16 per
commit, in SQLite WAL mode with synchronous=FULL. The sqlite3 module and os.fsync are thin
wrappers over the same calls the Swift store makes; the disk sync dominates either way.
    python3 scripts/store-layout-probe.py [messages] [directory]"""
import os, random, shutil, sqlite3, sys, tempfile, threading, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 320
ROOT = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="store-layout-")
BODY = os.urandom(10240)
GROUP = 16

def qid():
    return "Q" + "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))

def fresh(name):
    path = os.path.join(ROOT, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    db = sqlite3.connect(os.path.join(path, "s.db"), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (qid TEXT PRIMARY KEY, body BLOB, path TEXT)")
    return path, db

def sync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)

def write_file(path, q):
    sub = os.path.join(path, "messages", q[1:3])
    os.makedirs(sub, exist_ok=True)
    final = os.path.join(sub, q + ".eml")
    fd = os.open(final + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, BODY)
    os.fsync(fd)
    os.close(fd)
    os.rename(final + ".tmp", final)
    sync_dir(sub)
    return final

def commit(db, rows):
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO m VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")

def files(group):
    path, db = fresh("files")
    start = time.time()
    for _ in range(N // group):
        qids = [qid() for _ in range(group)]
        paths = {}
        def one(q):
            paths[q] = write_file(path, q)
        threads = [threading.Thread(target=one, args=(q,)) for q in qids]   # concurrent callers
        for t in threads: t.start()
        for t in threads: t.join()
        commit(db, [(q, None, paths[q]) for q in qids])
    return N // group * group / (time.time() - start)

def blobs(group):
    path, db = fresh("blobs")
    start = time.time()
    for _ in range(N // group):
        commit(db, [(qid(), BODY, None) for _ in range(group)])
    return N // group * group / (time.time() - start)

print(f"store layout probe: {N} x 10 KB in {ROOT}, WAL, synchronous=FULL")
for run in range(3):
    print(f"  run {run + 1}: files 1/commit {files(1):6.0f} msg/s | BLOB 1/commit {blobs(1):6.0f} msg/s | "
          f"files {GROUP} concurrent/commit {files(GROUP):6.0f} msg/s | BLOB {GROUP}/commit {blobs(GROUP):6.0f} msg/s")
shutil.rmtree(ROOT, ignore_errors=True)

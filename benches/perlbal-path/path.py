# The files a proxied GET's client task passes through, from a gdb trace of
# every danga_perlbal::server function entered (run.sh, trace.py).
import json, os, re, sys
trace, src = sys.argv[1], sys.argv[2]
mods = {}
for dp, _, fs in os.walk(src):
    for f in fs:
        if f.endswith('.rs'):
            rel = os.path.relpath(os.path.join(dp, f), src)
            name = rel[:-3].replace('/mod', '').replace('/', '::') if rel != 'mod.rs' else ''
            mods[name] = rel
def file_of(fn):
    p = fn[len('danga_perlbal::server::'):]
    p = re.sub(r'<impl [^>]*>', '', p)
    segs = [s for s in p.split('::') if s and re.match(r'^[a-z_][a-z0-9_]*$', s)]
    for k in range(len(segs), 0, -1):
        if '::'.join(segs[:k]) in mods:
            return mods['::'.join(segs[:k])]
    return 'mod.rs'
CLIENT = re.compile(r'::(client|pipeline)::serve::\{\{closure\}\}$|serve_listener::\{\{closure\}\}$')
OTHER = re.compile(r'Server::start::\{\{closure\}\}$|ServiceRt::open(::|$)')
ev = json.load(open(trace))
READER = '--reader' in sys.argv
LEAF = re.compile(r'server::conn::|StateGuard|StateCounts|NodeGuard|server::reply::|pipeline::exchange::|ServiceRt::(settings|responded)|Outcome::keep_if')
seen = set()
seq, seg = [], None
for i, (_, fn) in enumerate(ev):
    nxt = ev[i + 1][1] if i + 1 < len(ev) else ''
    if CLIENT.search(fn):
        seg = 'client'
    elif OTHER.search(fn) or (fn.endswith('spawn_backends::{{closure}}') and 'ServiceRt::open' in nxt):
        seg = 'other'
    if seg != 'client':
        continue
    # server/mod.rs helpers (lock, now) and task-local plumbing are not a visit.
    if re.search(r'server::(lock|now)$|__KEY', fn):
        continue
    if READER:
        if LEAF.search(fn):
            continue
        if fn.endswith('{{closure}}') and fn in seen:
            continue
        seen.add(fn)
    f = file_of(fn)
    if not seq or seq[-1] != f:
        seq.append(f)
left, returns = set(), 0
for a, b in zip(seq, seq[1:]):
    left.add(a)
    if b in left:
        returns += 1
print(f'{len(set(seq))} files, {returns} returns to a file already left, {len(seq)} steps')
print(' > '.join(seq))

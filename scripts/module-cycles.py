#!/usr/bin/env python3
"""Module dependency cycles in src/ (issue 13): a module depends on another
when its non-test code names it in a `use` or a `crate::`/`super::`/`self::`
path (a name the crate root re-exports counts as its defining module; doc
comments do not count). For the crate and for every folder, the modules
directly inside it are grouped with everything below them, and any cycle
between the groups is printed. Exits 1 when there is one.

Usage: python3 scripts/module-cycles.py [SRC_DIR]"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src')
def modname(path):
    rel = os.path.relpath(path, root)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ('mod', 'lib'): parts = parts[:-1]
    return '::'.join(parts)
mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f); mods[modname(p)] = p
def strip_tests(src):
    # cut `#[cfg(test)] mod tests { ... }` and test-only files
    i = src.find('#[cfg(test)]\nmod tests')
    return src if i < 0 else src[:i]
# names the crate root re-exports (`pub use a::b::{X, Y}`), so `crate::X` counts as a::b
reexports = {}
libsrc = re.sub(r'//[^\n]*', '', open(os.path.join(root, 'lib.rs')).read())
for u in re.findall(r'pub use\s+([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)::\{([^}]*)\}\s*;', libsrc, re.S):
    for name in u[1].split(','):
        name = name.strip().split(' as ')[-1].strip()
        if name: reexports[name] = u[0]
for u in re.findall(r'pub use\s+([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)::([A-Za-z_][A-Za-z0-9_]*)\s*;', libsrc):
    reexports[u[1]] = u[0]
def resolve(cur, path):
    parts = path.split('::')
    if parts[0] == 'crate' and len(parts) > 1 and parts[1] in reexports:
        parts = ['crate'] + reexports[parts[1]].split('::') + parts[1:]
    if parts[0] == 'crate': base = []; parts = parts[1:]
    elif parts[0] == 'super':
        base = cur.split('::') if cur else []
        is_dir = mods.get(cur, '').endswith('mod.rs')
        base = base[:-1]
        parts = parts[1:]
        while parts and parts[0] == 'super': base = base[:-1]; parts = parts[1:]
    elif parts[0] == 'self': base = cur.split('::') if cur else []; parts = parts[1:]
    else: return None
    # longest existing module prefix
    best = None
    for k in range(len(parts), -1, -1):
        cand = '::'.join(base + parts[:k])
        if cand in mods: best = cand; break
    return best
edges = {}
pat = re.compile(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)')
usepat = re.compile(r'use\s+((?:crate|super|self)::[^;]*);', re.S)
for m, p in mods.items():
    src = strip_tests(open(p).read())
    if os.path.basename(p) == 'tests.rs': continue
    src = re.sub(r'//[^\n]*', '', src)
    targets = set()
    for u in usepat.findall(src):
        u = re.sub(r'\s+', '', u)
        # expand one level of braces
        mm = re.match(r'^(.*?)::\{(.*)\}$', u)
        if mm:
            prefix, inner = mm.groups()
            depth = 0; cur = ''; items = []
            for ch in inner:
                if ch == '{': depth += 1
                if ch == '}': depth -= 1
                if ch == ',' and depth == 0: items.append(cur); cur = ''
                else: cur += ch
            items.append(cur)
            for it in items:
                it = it.split('::{')[0]
                targets.add(resolve(m, prefix + ('::' + it if it and it != 'self' else '')))
        else: targets.add(resolve(m, u))
    for x in pat.findall(src): targets.add(resolve(m, x))
    edges[m] = {t for t in targets if t and t != m and not m.startswith(t + '::') and not t.startswith(m + '::')}
def group(m, depth):
    return '::'.join(m.split('::')[:depth])

def cycles_in(scope):
    depth = len(scope.split('::')) + 1 if scope else 1
    g = {}
    for a, ts in edges.items():
        if scope and not (a + '::').startswith(scope + '::'): continue
        ga = group(a, depth)
        for t in ts:
            if scope and not (t + '::').startswith(scope + '::'): continue
            gt = group(t, depth)
            if ga != gt and ga and gt: g.setdefault(ga, set()).add(gt)
    index = {}; low = {}; stack = []; on = set(); sccs = []; i = [0]
    def sc(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop(); on.discard(w); c.append(w)
                if w == v: break
            if len(c) > 1: sccs.append(sorted(c))
    for v in list(g):
        if v not in index: sc(v)
    return g, sccs

sys.setrecursionlimit(10000)
scopes = sorted({''} | {'::'.join(m.split('::')[:k]) for m in mods for k in range(1, len(m.split('::')))})
found = 0
for scope in scopes:
    g, sccs = cycles_in(scope)
    for c in sccs:
        found += 1
        print('cycle in', scope or 'crate', ':', ' '.join(c))
        for a in c:
            print('   ', a, '->', ' '.join(sorted(t for t in g.get(a, ()) if t in c)))
print(f'{found} module cycles ({len(scopes)} scopes, {len(mods)} modules)')
sys.exit(1 if found else 0)

#!/usr/bin/env python3
"""Turns a loadtest/run.sh results directory into report.md (stdout).

Usage: report.py RESULTS_DIR
"""

import csv
import os
import re
import statistics
import sys

out = sys.argv[1]


def read_tsv(name, header=True):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if header and rows:
        keys = rows[0]
        return [dict(zip(keys, r)) for r in rows[1:]]
    return rows


raw = read_tsv("raw.tsv")
NAMES = {"ours": "keycard-sessions", "ours-actix": "keycard-sessions on actix-web", "tower": "tower-sessions",
         "actix": "actix-session", "none": "no session layer",
         "tower-cached": "tower-sessions CachingSessionStore (moka)"}


def med(rows, key):
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "", "-")]
    return statistics.median(vals) if vals else None


def pick(phase, variant, store, route, extra=None):
    return [r for r in raw if r["phase"] == phase and r["variant"] == variant and r["store"] == store
            and r["route"] == route and (extra is None or r["extra"] == extra)]


def fmt(x, nd=0):
    if x is None:
        return "n/a"
    return f"{x:,.{nd}f}"


lines = []
p = lines.append

env = open(os.path.join(out, "env.txt")).read() if os.path.exists(os.path.join(out, "env.txt")) else ""
p("# Load test report\n")
p("```")
p(env.strip())
quiet = os.path.join(out, "quiet.txt")
if os.path.exists(quiet):
    p("quiet wait: " + open(quiet).read().strip())
p("```\n")

# ------------------------------------------------------------ headline
e2e = [r for r in raw if r["phase"] == "e2e"]
runs = sorted({r["run"] for r in e2e})
rps_med = {}
if e2e:
    p(f"## Throughput and cost per request (median of {len(runs)} run(s))\n")
    p("| store | route | implementation | req/s (median) | req/s each run | p50 ms | p99 ms | server CPU µs/req | server CPU % | backend CPU µs/req | backend cmds/req | backend detail |")
    p("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for store in ["memory", "redis", "postgres"]:
        for route in ["/profile", "/visits"]:
            for variant in ["ours", "ours-actix", "tower", "actix", "none"]:
                rows = pick("e2e", variant, store, route)
                if not rows:
                    continue
                m = med(rows, "rps")
                rps_med[(variant, store, route)] = m
                each = " / ".join(fmt(float(r["rps"])) + ("*" if int(r.get("rustc_secs") or 0) else "") for r in rows)
                detail = rows[-1]["backend_detail"]
                bad = sum(int(r["non2xx"]) + int(r["socket_errors"]) for r in rows)
                note = f" ({bad} non-2xx/errors)" if bad else ""
                p(f"| {store} | {route} | {NAMES[variant]} | {fmt(m)}{note} | {each} | {fmt(med(rows, 'p50_ms'), 2)} | "
                  f"{fmt(med(rows, 'p99_ms'), 2)} | {fmt(med(rows, 'server_cpu_us_per_req'), 1)} | "
                  f"{fmt(med(rows, 'server_cpu_pct'))} | {fmt(med(rows, 'backend_cpu_us_per_req'), 1)} | "
                  f"{fmt(med(rows, 'backend_cmds_per_req'), 2)} | {detail.replace(',', ', ') if detail != '-' else ''} |")
    busy = [r for r in raw if int(r.get("rustc_secs") or 0)]
    if busy:
        p(f"\n\\* another engineer's rustc was running during that run ({len(busy)} measurement(s) of {len(raw)} in all phases).")
    # The no-session app does not depend on the store: its memory run is the baseline for all.
    for store in ["redis", "postgres"]:
        for route in ["/profile", "/visits"]:
            if ("none", "memory", route) in rps_med:
                rps_med[("none", store, route)] = rps_med[("none", "memory", route)]
    p("")

    p("## Ratios (ours / theirs, median req/s)\n")
    p("| store | route | ours / tower-sessions | ours / actix-session | ours / no session layer |")
    p("|---|---|---:|---:|---:|")

    def ratio(store, route, other):
        a, b = rps_med.get(("ours", store, route)), rps_med.get((other, store, route))
        return a / b if a and b else None

    for store in ["memory", "redis", "postgres"]:
        for route in ["/profile", "/visits"]:
            r = [ratio(store, route, o) for o in ["tower", "actix", "none"]]
            p(f"| {store} | {route} | " + " | ".join(f"{x:.2f}×" if x else "–" for x in r) + " |")
    p("")

# ------------------------------------------------------------ round trips
rt = read_tsv("round_trips.tsv", header=False)
if rt:
    p("## Backend round trips per request (20 sequential requests, exact)\n")
    p("Redis: commands sent by the client (MONITOR), and the commands the scripts ran inside Redis. "
      "PostgreSQL: pg_stat_statements calls, BEGIN/COMMIT included.\n")
    p("| implementation | store | route | round trips / req | sent | run inside scripts |")
    p("|---|---|---|---:|---|---|")
    for variant, store, route, n, top, lua in rt:
        p(f"| {NAMES[variant]} | {store} | {route} | {n} | {top.replace(',', ', ')} | {lua.replace(',', ', ') if lua != '-' else ''} |")
    p("")

# ------------------------------------------------------------ lost updates
lost = read_tsv("lost.tsv", header=False)
if lost:
    p("## Issue 8: 32 connections on ONE session, GET /visits\n")
    p("| implementation | store | req/s | 200 responses | counter after | lost increments | requests in flight at the end |")
    p("|---|---|---:|---:|---:|---:|---:|")
    for variant, store, rps, ok, final, lost_n, inflight in lost:
        lost_i = int(lost_n)
        shown = str(lost_i) if lost_i > 0 else f"0 (counter {-lost_i} above; ≤ {inflight} in flight)" if lost_i < 0 else "0"
        p(f"| {NAMES[variant]} | {store} | {fmt(float(rps))} | {int(ok):,} | {int(final):,} | {shown} | {inflight} |")
    lost_rows = [r for r in raw if r["phase"] == "lost"]
    errs = [f"{NAMES[r['variant']]}/{r['store']}: {r['non2xx']} non-2xx" for r in lost_rows if int(r["non2xx"])]
    if errs:
        p("\nNon-2xx answers in these runs: " + "; ".join(errs) + ".")
    p("")

# ------------------------------------------------------------ near cache
near = [r for r in raw if r["phase"] == "near"]
if near:
    near_runs = sorted({r["run"] for r in near})
    p(f"## Near cache (issue 18; median of {len(near_runs)} run(s))\n")
    p("| store | route | implementation | near cache | req/s (median) | req/s each run | p50 ms | p99 ms | server CPU µs/req | backend CPU µs/req | backend cmds/req |")
    p("|---|---|---|---|---:|---|---:|---:|---:|---:|---:|")
    near_med = {}
    for store in ["memory", "redis", "postgres"]:
        for route in ["/profile", "/visits"]:
            for variant in ["ours", "tower", "tower-cached"]:
                for extra in ["-", "near"]:
                    rows = pick("near", variant, store, route, extra)
                    if not rows:
                        continue
                    m = med(rows, "rps")
                    near_med[(variant, store, route, extra)] = m
                    each = " / ".join(fmt(float(r["rps"])) + ("*" if int(r.get("rustc_secs") or 0) else "") for r in rows)
                    bad = sum(int(r["non2xx"]) + int(r["socket_errors"]) for r in rows)
                    note = f" ({bad} non-2xx/errors)" if bad else ""
                    p(f"| {store} | {route} | {NAMES[variant]} | {'on' if extra == 'near' else 'off'} | {fmt(m)}{note} | {each} | "
                      f"{fmt(med(rows, 'p50_ms'), 2)} | {fmt(med(rows, 'p99_ms'), 2)} | {fmt(med(rows, 'server_cpu_us_per_req'), 1)} | "
                      f"{fmt(med(rows, 'backend_cpu_us_per_req'), 1)} | {fmt(med(rows, 'backend_cmds_per_req'), 2)} |")
    p("")

    def nr(a, b):
        x, y = near_med.get(a), near_med.get(b)
        return f"{x / y:.2f}×" if x and y else "n/a"
    p("| target | ratio |")
    p("|---|---:|")
    p(f"| Redis /profile, near cache on / memory store (≥ 0.8×) | {nr(('ours', 'redis', '/profile', 'near'), ('ours', 'memory', '/profile', '-'))} |")
    p(f"| Redis /profile, near cache on / tower-sessions caching store (≥ 1×) | {nr(('ours', 'redis', '/profile', 'near'), ('tower-cached', 'redis', '/profile', '-'))} |")
    p(f"| PostgreSQL /profile, near cache on / tower-sessions (≥ 4×) | {nr(('ours', 'postgres', '/profile', 'near'), ('tower', 'postgres', '/profile', '-'))} |")
    p(f"| PostgreSQL /visits, near cache on / tower-sessions (≥ 1.6×) | {nr(('ours', 'postgres', '/visits', 'near'), ('tower', 'postgres', '/visits', '-'))} |")
    for store in ["redis", "postgres"]:
        for route in ["/profile", "/visits"]:
            p(f"| {store} {route}, near cache on / off | {nr(('ours', store, route, 'near'), ('ours', store, route, '-'))} |")
    p("")

# ------------------------------------------------------------ versions
def on_off(phase, store, route, flag):
    """Ours with `flag=on` and `flag=off`: both lists of runs and their median req/s, or None."""
    on, off = pick(phase, "ours", store, route, f"{flag}=on"), pick(phase, "ours", store, route, f"{flag}=off")
    return (on, off, med(on, "rps"), med(off, "rps")) if on and off else None


ver = [r for r in raw if r["phase"] == "versions"]
if ver:
    p("## Issue 8: the version check on vs off, ours, /visits over 64 sessions\n")
    p("| store | runs | with the check req/s | without req/s | with / without | server CPU µs/req with / without | p99 ms with / without |")
    p("|---|---:|---:|---:|---:|---|---|")
    for store in ["redis", "postgres"]:
        pair = on_off("versions", store, "/visits", "versions")
        if not pair:
            continue
        on, off, a, b = pair
        p(f"| {store} | {len(on)} | {fmt(a)} | {fmt(b)} | {a / b:.3f}× | {fmt(med(on, 'server_cpu_us_per_req'), 1)} / "
          f"{fmt(med(off, 'server_cpu_us_per_req'), 1)} | {fmt(med(on, 'p99_ms'), 2)} / {fmt(med(off, 'p99_ms'), 2)} |")
        p(f"| | per run (with, without) | " + ", ".join(f"{fmt(float(x['rps']))}" for x in on) + " | "
          + ", ".join(f"{fmt(float(x['rps']))}" for x in off) + " | | | |")
    p("")

# ------------------------------------------------------------ index
idx = [r for r in raw if r["phase"] == "index"]
if idx:
    p("## Issue 9: per-user index (set_user at login) on vs off, ours\n")
    p("| store | route | index on req/s | index off req/s | on / off | server CPU µs/req on / off | backend cmds/req on / off |")
    p("|---|---|---:|---:|---:|---|---|")
    for store in ["memory", "redis"]:
        for route in ["/visits", "/login"]:
            pair = on_off("index", store, route, "index")
            if not pair:
                continue
            on, off, a, b = pair
            p(f"| {store} | {route} | {fmt(a)} | {fmt(b)} | {a / b:.2f}× | {fmt(med(on, 'server_cpu_us_per_req'), 1)} / "
              f"{fmt(med(off, 'server_cpu_us_per_req'), 1)} | {on[0]['backend_detail'].replace(',', ', ')} / {off[0]['backend_detail'].replace(',', ', ')} |")
            if route == "/login":
                d = pick("index", "ours", store, route, "index=on,distinct-users")
                if d:
                    c = med(d, "rps")
                    p(f"| {store} | /login, each login a new user | {fmt(c)} | {fmt(b)} | {c / b:.2f}× | {fmt(med(d, 'server_cpu_us_per_req'), 1)} / "
                      f"{fmt(med(off, 'server_cpu_us_per_req'), 1)} | {d[0]['backend_detail'].replace(',', ', ')} / {off[0]['backend_detail'].replace(',', ', ')} |")
    p("")

# ------------------------------------------------------------ memory
mem = read_tsv("memory.tsv", header=False)
rss_ok = {}
if mem:
    p("## RSS around a login storm (POST /login, no cookie, max_age 1 s, memory stores)\n")
    p("| implementation | sessions created | RSS at start | peak during | at storm end | +5 s | +30 s | +65 s | +65 s / start |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in mem:
        label, rss0, peak, end = row[:4]
        samples = row[4:]
        variant = label.split()[0]
        extra = "storm sweep=60s" if "sweep" in label else "storm"
        created = pick("memory", variant, "memory", "/login", extra)
        n = int(created[0]["requests"]) - int(created[0]["non2xx"]) if created else 0
        last = int(samples[-1]) if samples else int(end)
        rss_ok[label] = last <= 2 * int(rss0)
        mb = lambda kb: f"{int(kb) / 1024:.1f} MiB"
        name = NAMES[variant] + (" (diagnostic: sweep every 60 s, the earlier default)" if "sweep" in label else "")
        p(f"| {name} | {n:,} | {mb(rss0)} | {mb(peak)} | {mb(end)} | " + " | ".join(mb(s) for s in samples)
          + f" | {last / int(rss0):.1f}× |")
    p("")

# ------------------------------------------------------------ ceiling
ceil = read_tsv("ceiling.tsv", header=False)
if ceil:
    c = {(b, k): float(v) for b, k, v in ceil if v}
    p("## Backend ceilings (the stores' own commands, no HTTP)\n")
    p("| backend | what | ops/s | per /profile | per /visits | ours /profile | ours /visits |")
    p("|---|---|---:|---:|---:|---:|---:|")
    g, e = c.get(("redis", "get")), c.get(("redis", "evalsha"))
    op, ov = rps_med.get(("ours", "redis", "/profile")), rps_med.get(("ours", "redis", "/visits"))
    if g:
        p(f"| Redis | redis-benchmark GET (load), 32 conns | {fmt(g)} | {fmt(g)} | | {op / g:.0%} of it |" if op else f"| Redis | GET | {fmt(g)} | | | | |")
    if g and e:
        both = 1 / (1 / g + 1 / e)
        p(f"| Redis | redis-benchmark EVALSHA save script, 32 conns | {fmt(e)} | | {fmt(both)} (GET + EVALSHA) | | "
          + (f"{ov / both:.0%} of it |" if ov else " |"))
    pl, pv = c.get(("postgres", "load")), c.get(("postgres", "visits"))
    op, ov = rps_med.get(("ours", "postgres", "/profile")), rps_med.get(("ours", "postgres", "/visits"))
    if pl:
        p(f"| PostgreSQL | pgbench load SELECT, 10 conns, prepared | {fmt(pl)} | {fmt(pl)} | | " + (f"{op / pl:.0%} of it |" if op else "|") + " |")
    if pv:
        p(f"| PostgreSQL | pgbench SELECT + versioned UPDATE, 10 conns | {fmt(pv)} | | {fmt(pv)} | | " + (f"{ov / pv:.0%} of it |" if ov else "|"))
    pls, pvs = c.get(("postgres", "load-shared")), c.get(("postgres", "visits-shared"))
    if pls:
        p(f"| PostgreSQL | the same load, pgbench on PostgreSQL's CPU (as wrk is end to end) | {fmt(pls)} | {fmt(pls)} | | "
          + (f"{op / pls:.0%} of it |" if op else "|") + " |")
    if pvs:
        p(f"| PostgreSQL | the same SELECT + UPDATE, pgbench on PostgreSQL's CPU | {fmt(pvs)} | | {fmt(pvs)} | | "
          + (f"{ov / pvs:.0%} of it |" if ov else "|"))
    p("")

# ------------------------------------------------------------ micro
for name in ["micro-session-core.txt", "micro-session-memory.txt"]:
    path = os.path.join(out, name)
    if not os.path.exists(path):
        continue
    text = open(path, errors="replace").read()
    rows = []
    bench = None
    for line in text.splitlines():
        if "%" in line:  # criterion's "change:" lines against an earlier run
            continue
        m = re.match(r"^(\S+/\S+)\s+time:\s+\[(.*?)\]", line.strip()) or re.match(r"^(\S+/\S+)$", line.strip())
        if m and "time:" in line:
            rows.append((m.group(1), m.group(2), None))
            bench = m.group(1)
        elif m:
            bench = m.group(1)
        mt = re.match(r"^time:\s+\[(.*?)\]", line.strip())
        if mt and bench:
            rows.append((bench, mt.group(1), None))
        mth = re.match(r"^thrpt:\s+\[(.*?)\]", line.strip())
        if mth and rows:
            rows[-1] = (rows[-1][0], rows[-1][1], mth.group(1))
    size = re.search(r"typical session: .*", text)
    if rows:
        p(f"## Micro benchmarks ({name[6:-4]})\n")
        if size:
            p(size.group(0) + "\n")
        p("| benchmark | time [low, estimate, high] | throughput [low, estimate, high] |")
        p("|---|---|---|")
        for b, t, th in rows:
            p(f"| {b} | {t} | {th or ''} |")
        p("")

# ------------------------------------------------------------ targets
def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def r_(a, b):
    x, y = rps_med.get(a), rps_med.get(b)
    return x / y if x and y else None


if rps_med or lost or mem:
    p("## Targets (issue 7, ratios within this run)\n")
    p("| target | measured | verdict |")
    p("|---|---|---|")

    def row(name, val, ok, shown=None):
        p(f"| {name} | {shown if shown is not None else (f'{val:.2f}×' if val is not None else 'n/a')} | {verdict(ok if val is not None or shown is not None else None)} |")

    x = r_(("ours", "memory", "/visits"), ("tower", "memory", "/visits"))
    row("Memory: /visits ≥ 1.3× tower-sessions", x, x is not None and x >= 1.3)
    for route in ["/visits", "/profile"]:
        x = r_(("ours", "memory", route), ("none", "memory", route))
        row(f"Memory: {route} ≥ 0.9× the no-session app", x, x is not None and x >= 0.9)
    if "ours" in rss_ok:
        m0 = [r for r in mem if r[0] == "ours"][0]
        row("Memory: RSS back within 2× of start after a 1 s max_age login storm (ours, default store, +65 s)", None, rss_ok["ours"],
            f"{int(m0[-1]) / int(m0[1]):.1f}× ({int(m0[1]) / 1024:.1f} → {int(m0[-1]) / 1024:.1f} MiB)")
    t, a = rps_med.get(("tower", "redis", "/profile")), rps_med.get(("actix", "redis", "/profile"))
    o = rps_med.get(("ours", "redis", "/profile"))
    if o and (t or a):
        best = max(v for v in [t, a] if v)
        row("Redis: /profile ≥ 1.2× the better of tower-sessions and actix-session", o / best, o / best >= 1.2)
    x = r_(("ours", "redis", "/visits"), ("actix", "redis", "/visits"))
    row("Redis: /visits ≥ 1.1× actix-session", x, x is not None and x >= 1.1)
    for label, suffix in [("", ""), (", set_user at login (index on)", " index=on")]:
        for route, want in [("/profile", 1), ("/visits", 2)]:
            got = [float(r[3]) for r in rt if r[0] == "ours" and r[1] == "redis" and r[2] == route + suffix]
            if got:
                row(f"Redis: exactly {want} command(s) per {route} (round trips){label}", None, got[0] == want, f"{got[0]:.2f}")
    x = r_(("ours", "postgres", "/visits"), ("tower", "postgres", "/visits"))
    row("PostgreSQL: /visits ≥ 2× tower-sessions", x, x is not None and x >= 2)
    x = r_(("ours", "postgres", "/profile"), ("tower", "postgres", "/profile"))
    row("PostgreSQL: /profile ≥ 2.5× tower-sessions", x, x is not None and x >= 2.5)
    for variant, store, rps, ok, final, lost_n, inflight in lost:
        if variant in ("ours", "ours-actix"):
            row(f"Issue 8: no lost increment on one shared session ({NAMES[variant]}, {store})", None,
                int(lost_n) <= 0, f"{max(int(lost_n), 0)} lost of {int(ok):,}")
    # Issue 19: this project on actix-web against actix-session, both on Redis.
    for route in ["/profile", "/visits"]:
        x = r_(("ours-actix", "redis", route), ("actix", "redis", route))
        row(f"Issue 19: Redis {route}, keycard-sessions on actix-web ≥ 1.2× actix-session", x, x is not None and x >= 1.2)
        ours99 = med(pick("e2e", "ours-actix", "redis", route), "p99_ms")
        theirs99 = med(pick("e2e", "actix", "redis", route), "p99_ms")
        if ours99 is not None and theirs99 is not None:
            row(f"Issue 19: Redis {route} p99 no worse than actix-session", None, ours99 <= theirs99,
                f"{ours99:.2f} vs {theirs99:.2f} ms")
    p("")

print("\n".join(lines))

# Sums tracing span close times (`-v`) per span name, for one proof of the log: argv[2] picks
# the proof (0-based, split at each "trace generated" line).
import re, sys, collections
unit = {'ns': 1e-6, 'µs': 1e-3, 'us': 1e-3, 'ms': 1.0, 's': 1e3}
lines = [re.sub(r'\x1b\[[0-9;]*m', '', l) for l in open(sys.argv[1], errors='replace')]
pick = int(sys.argv[2]) if len(sys.argv) > 2 else 0
segs, cur = [], []
for l in lines:
    if 'trace generated' in l and cur:
        segs.append(cur); cur = []
    cur.append(l)
segs.append(cur)
seg = segs[min(pick, len(segs) - 1)]
tot = collections.defaultdict(float); cnt = collections.Counter()
for line in seg:
    if 'elapsed=' in line and 'obelysk_prover::prove' in line:
        print('   ', line.split('INFO')[-1].strip()[:120])
    m = re.search(r'time\.busy=([0-9.]+)(ns|µs|us|ms|s)', line)
    if not m: continue
    head = line.split(': close')[0]
    name = re.sub(r'^\S+\s+INFO\s+', '', head)
    name = re.sub(r'\{[^}]*\}', '', name)[-100:]
    tot[name] += float(m.group(1)) * unit[m.group(2)]; cnt[name] += 1
for name, ms in sorted(tot.items(), key=lambda kv: -kv[1])[:24]:
    print(f"{ms:10.2f} ms {cnt[name]:6d}x  {name}")

"""Runs a command, hashes its stdout as it streams, and reports the
command's peak resident memory. Usage: peakmem.py RSS_FILE CMD [ARG ...].
Prints "sha256 <hex> bytes <n>"; writes the child's ru_maxrss (KiB, i.e.
its VmHWM at exit) to RSS_FILE; exits with the child's status."""
import hashlib
import os
import subprocess
import sys

rss_file, argv = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(argv, stdout=subprocess.PIPE)
h, n = hashlib.sha256(), 0
while True:
    b = p.stdout.read(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
_, status, ru = os.wait4(p.pid, 0)
with open(rss_file, "w") as f:
    f.write("%d\n" % ru.ru_maxrss)
print("sha256 %s bytes %d" % (h.hexdigest(), n))
rc = os.waitstatus_to_exitcode(status)
sys.exit(rc if rc >= 0 else 128 - rc)

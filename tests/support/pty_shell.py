"""Drives `verbatim sql` (no SQL) as a person at a terminal would, through a pseudo-terminal:
types each line of stdin with a pause, `^C` as Ctrl-C and `^D` as Ctrl-D, and prints what the
terminal showed (escape sequences removed) and the exit status. Used by tests/it/shell.rs."""
import os, pty, re, select, sys, time

verbatim, archive, state = sys.argv[1], sys.argv[2], sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.environ["XDG_STATE_HOME"] = state
    os.execv(verbatim, [verbatim, "sql", "--archive", archive])
shown = b""

def read_for(seconds):
    global shown
    end = time.time() + seconds
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                shown += os.read(fd, 65536)
            except OSError:
                return

for line in sys.stdin.read().splitlines():
    read_for(0.6)
    keys = {"^C": b"\x03", "^D": b"\x04"}.get(line, line.encode() + b"\r")
    os.write(fd, keys)
read_for(1.5)
_, status = os.waitpid(pid, 0)
print(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", shown.decode(errors="replace")).replace("\r\n", "\n").replace("\r", ""))
print("EXIT", os.WEXITSTATUS(status))

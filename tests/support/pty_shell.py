"""Drives `verbatim sql` (no SQL) as a person at a terminal would, through a pseudo-terminal:
types each line of stdin with a pause, `^C` as Ctrl-C and `^D` as Ctrl-D, and prints what the
terminal showed (escape sequences removed) and the exit status. Used by tests/it/shell.rs.

Lines that direct the typist instead: `^SLEEP s` waits s seconds, `^WAITFOR text` waits (at most
60 s) until the terminal shows `text` once more and records how long that took, `^CPU` records the
shell's CPU seconds so far, `^KILL` kills the shell (SIGKILL). Records follow the output as
`MARK waited <seconds>` and `MARK cpu <seconds>` lines."""
import os, pty, re, select, signal, sys, time

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

marks = []

def cpu_seconds():
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def wait_for(text):
    seen = shown.count(text.encode())
    started = time.time()
    while shown.count(text.encode()) <= seen and time.time() - started < 60:
        read_for(0.01)
    marks.append(f"MARK waited {time.time() - started:.3f}")

for line in sys.stdin.read().splitlines():
    if line.startswith("^SLEEP "):
        read_for(float(line.split()[1]))
        continue
    if line.startswith("^WAITFOR "):
        wait_for(line.split(" ", 1)[1])
        continue
    if line == "^CPU":
        marks.append(f"MARK cpu {cpu_seconds():.3f}")
        continue
    if line == "^KILL":
        os.kill(pid, signal.SIGKILL)
        continue
    read_for(0.6)
    keys = {"^C": b"\x03", "^D": b"\x04"}.get(line, line.encode() + b"\r")
    os.write(fd, keys)
read_for(1.5)
_, status = os.waitpid(pid, 0)
print(re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", shown.decode(errors="replace")).replace("\r\n", "\n").replace("\r", ""))
for mark in marks:
    print(mark)
print("EXIT", os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

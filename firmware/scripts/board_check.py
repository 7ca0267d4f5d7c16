#!/usr/bin/env python3
"""The board module's checks in QEMU (firmware built with --features board-check).

Drives the firmware over UART0 on a TCP socket and checks: the cost counter against a loop of
known length under -icount shift=6; a 20,000-byte burst received without loss; the NOR rules;
persistence of the flash file across two QEMU runs; a simulated power cut (--cut-after N) leaving
exactly N flash operations; and a `kill -9` of QEMU in the middle of word programs leaving a
prefix of whole words. Prints each figure; exits non-zero on the first failed check.

Usage: firmware/scripts/board_check.py   (from anywhere; builds the firmware first)
"""
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
import atexit

FIRMWARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(FIRMWARE, "target", "board-check")
ELF = os.path.join(TARGET, "thumbv7em-none-eabihf", "release", "facegate-firmware")
MODEL = os.path.join(FIRMWARE, "..", "models", "facegate-v1.fgm")
# Flash file layout: slot A, slot B, store, boot record (memory/mps2-an386.x).
SLOT = 160 * 1024
STORE_OFF, STORE_LEN = 2 * SLOT, 64 * 1024
FILE_LEN = 2 * SLOT + STORE_LEN + 8 * 1024


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


class Qemu:
    def __init__(self, flash, icount=True, extra=()):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args = ["facegate", "--flash", flash, *extra]
        semi = "enable=on,target=native," + ",".join("arg=" + a for a in args)
        cmd = ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4",
               "-nographic", "-monitor", "none", "-semihosting-config", semi,
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on", "-kernel", ELF]
        if icount:
            cmd[1:1] = ["-icount", "shift=6"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        atexit.register(self.proc.kill)
        for _ in range(200):
            try:
                self.sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError("QEMU did not open its serial socket")
        self.buf = b""
        ready = self.line()
        check(ready.startswith("board-check ready"), f"boot: {ready!r}")

    def line(self, timeout=60):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"UART closed; so far {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def ask(self, data):
        self.sock.sendall(data)
        return self.line()

    def fields(self, line):
        return dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)

    def wait(self):
        self.proc.wait(timeout=60)
        self.sock.close()
        return self.proc.returncode


def pattern(seed):
    return b"".join(struct.pack("<I", ((i * 0x9E3779B9) ^ (seed * 0x01010101)) & 0xFFFFFFFF)
                    for i in range(STORE_LEN // 4))


def main():
    subprocess.run(["cargo", "build", "--release", "--features", "board-check",
                    "--target-dir", TARGET], cwd=FIRMWARE, check=True)
    tmp = tempfile.mkdtemp(prefix="facegate-board-")
    flash = os.path.join(tmp, "flash.img")
    model = open(MODEL, "rb").read()

    q = Qemu(flash)
    image = open(flash, "rb").read()
    check(len(image) == FILE_LEN and image[:len(model)] == model
          and image[len(model):] == b"\xff" * (FILE_LEN - len(model)),
          "a missing flash file is created as a fresh chip with the factory model in slot A")

    t = q.fields(q.ask(b"t"))
    ticks, instr = int(t["ticks"]), int(t["loop_instructions"])
    print(f"     timer: {instr} loop instructions -> {ticks} ticks = {ticks / instr:.4f} ticks/instruction")
    check(abs(ticks / instr - 1.6) < 0.001, "TIMER0 counts 1.6 ticks per instruction at -icount shift=6")

    burst = random.Random(1).randbytes(20_000)
    start = time.monotonic()
    b = q.fields(q.ask(b"e" + struct.pack("<I", len(burst)) + burst))
    secs = time.monotonic() - start
    print(f"     burst: {b['bytes']} bytes in {secs * 1000:.0f} ms wall ({len(burst) / secs / 1000:.0f} KB/s), "
          f"{b['ticks']} device ticks")
    check(b["ok"] == "true" and int(b["crc"], 16) == zlib.crc32(burst),
          "a 20,000-byte burst sent at once arrives whole (CRC-32 equal)")

    n = q.ask(b"n")
    check(all(v == "true" for v in q.fields(n).values()), f"NOR rules: {n}")

    m = q.ask(b"m")
    print("     " + m)

    w = q.ask(b"w\x07")
    check(w == "written ok=true", "store programmed with pattern 7")
    crc = int(q.fields(q.ask(b"r"))["crc"], 16)
    check(crc == zlib.crc32(pattern(7)), "store reads back the pattern")
    q.sock.sendall(b"q")
    check(q.wait() == 0, "clean exit")

    q = Qemu(flash)
    crc2 = int(q.fields(q.ask(b"r"))["crc"], 16)
    check(crc2 == crc, "the store persists across QEMU runs")
    q.sock.sendall(b"q")
    q.wait()

    # Power cut: 'w' is 16 page erases then 16,384 word programs; stop after 16 + 1000 ops.
    q = Qemu(flash, extra=["--cut-after", str(16 + 1000)])
    q.sock.sendall(b"w\x09")
    rc = q.wait()
    store = open(flash, "rb").read()[STORE_OFF:STORE_OFF + STORE_LEN]
    want = pattern(9)[:4000] + b"\xff" * (STORE_LEN - 4000)
    check(rc != 0 and store == want, "--cut-after 1016 leaves 16 erased pages and exactly 1000 programmed words")

    # kill -9 in the middle of word programs.
    for trial in range(3):
        q = Qemu(flash, icount=False)
        q.sock.sendall(b"k")
        check(q.line().startswith("counting erased=true"), "counting started")
        for _ in range(random.randint(1, 10)):
            q.line()
        time.sleep(random.random() * 0.05)
        q.proc.send_signal(signal.SIGKILL)
        q.proc.wait()
        words = struct.unpack(f"<{STORE_LEN // 4}I",
                              open(flash, "rb").read()[STORE_OFF:STORE_OFF + STORE_LEN])
        done = next((i for i, v in enumerate(words) if v == 0xFFFFFFFF), len(words))
        prefix_ok = all(v == i + 1 for i, v in enumerate(words[:done]))
        rest_ok = all(v == 0xFFFFFFFF for v in words[done:])
        check(prefix_ok and rest_ok and done > 0,
              f"kill -9 #{trial + 1} after {done} word programs: whole words 1..{done}, the rest erased")
    image = open(flash, "rb").read()
    check(image[:len(model)] == model, "slot A (factory model) untouched throughout")

    q = Qemu(flash)
    q.sock.sendall(b"o")
    check(q.line() == "overflowing", "recursing")
    rc = q.wait()
    err = q.proc.stderr.read().decode()
    check(rc == 1 and "stack overflow" in err, f"a stack overflow stops the emulation (exit {rc}: {err.strip()!r})")
    q = Qemu(flash)
    q.sock.sendall(b"q")
    check(q.wait() == 0, "boots again after the kills")
    print("board checks passed")


if __name__ == "__main__":
    main()

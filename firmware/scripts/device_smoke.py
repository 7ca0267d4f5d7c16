#!/usr/bin/env python3
"""Smoke run of the product firmware in QEMU over its UART (a TCP socket), with a minimal
postcard + CRC-32 + COBS client of the protocol (shared/src/protocol): Info, SelfTest, enrol one
person, verify and identify, a model update to slot B, then `kill -9` of QEMU and a restart that
must still hold the template and serve the updated slot. Prints the device's figures (memory,
stack peak, cost ticks) and the wall time per 20 KB frame.

Usage: firmware/scripts/device_smoke.py   (builds the firmware first). Environment: PIPE=1 talks
over the --pipe-in/--pipe-out FIFOs instead of UART0; ICOUNT=none|shift=N (default shift=6). The real host client is
`facegate device ...`; this script only checks the board wiring.
"""
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
import atexit

FIRMWARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(FIRMWARE, "target", "smoke")
ELF = os.path.join(TARGET, "thumbv7em-none-eabihf", "release", "facegate-firmware")
MODEL = os.path.join(FIRMWARE, "..", "models", "facegate-v1.fgm")
PIPE = os.environ.get("PIPE") == "1"
ICOUNT = ["-icount", os.environ.get("ICOUNT", "shift=6")] if os.environ.get("ICOUNT", "shift=6") != "none" else []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        sys.exit(1)


# --- postcard --------------------------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(n):
    return varint((n << 1) ^ (n >> 31) if n < 0 else n << 1)


def blob(b):
    return varint(len(b)) + bytes(b)


def frame(width, height, face, pixels):
    return b"".join(varint(v) for v in (width, height, *face)) + blob(pixels)


class Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def byte(self):
        self.i += 1
        return self.d[self.i - 1]

    def var(self):
        n, shift = 0, 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def zz(self):
        n = self.var()
        return (n >> 1) ^ -(n & 1)

    def raw(self, n):
        self.i += n
        return self.d[self.i - n:self.i]

    def str(self):
        return self.raw(self.var()).decode()

    def emb(self):
        return [b - 256 if b > 127 else b for b in self.raw(self.var())]


def model_info(r):
    return dict(id=r.raw(16).hex(), slot="AB"[r.var()], version=r.var(), len=r.var(), arena=r.var(),
                macs=r.var(), layers=r.var(), input_side=r.var(), embedding_dim=r.var(), threshold=r.zz())


def decode(payload):
    r = Reader(payload)
    tag = r.var()
    if tag == 0:
        info = dict(protocol_version=r.var(), firmware=r.str())
        info["model"] = model_info(r) if r.byte() else None
        info["memory"] = dict(zip(["ram_total", "ram_static", "stack_peak", "arena", "rx_buffer",
                                   "flash_code", "flash_slot", "flash_templates"],
                                  [r.var() for _ in range(8)]))
        info.update(templates=r.var(), template_capacity=r.var(), max_frame=r.var())
        return "Info", info
    if tag == 1:
        passed, vectors = r.byte(), r.var()
        mismatch = (r.var(), r.var()) if r.byte() else None
        return "SelfTest", dict(passed=bool(passed), vectors=vectors, mismatch=mismatch, cost=r.var())
    if tag == 2:
        return "ModelBegun", dict(slot="AB"[r.var()])
    if tag == 3:
        return "ModelChunk", dict(next=r.var())
    if tag == 4:
        return "ModelCommitted", model_info(r)
    if tag == 5:
        return "Enrolled", dict(frames=r.var(), embedding=r.emb())
    if tag == 6:
        return "EnrollCommitted", dict(frames=r.var(), templates=r.var())
    if tag == 8:
        total = r.var()
        return "List", dict(total=total, ids=[r.str() for _ in range(r.var())])
    if tag == 9:
        return "Verify", dict(accepted=bool(r.byte()), distance=r.zz(), threshold=r.zz(),
                              cost=(r.var(), r.var()), embedding=r.emb())
    if tag == 10:
        best = (r.str(), r.zz()) if r.byte() else None
        return "Identify", dict(best=best, accepted=bool(r.byte()), threshold=r.zz(), compared=r.var(),
                                cost=(r.var(), r.var()), embedding=r.emb())
    if tag == 12:
        return "Error", payload[r.i:].hex()
    return f"tag{tag}", payload.hex()


# --- COBS + CRC ------------------------------------------------------------------------------
def cobs_encode(data):
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += bytes([255]) + block
                block = bytearray()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


def cobs_decode(data):
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        out += data[i + 1:i + code]
        i += code
        if code < 255 and i < len(data):
            out.append(0)
    return bytes(out)


class Device:
    """The firmware in QEMU, over UART0 on a TCP socket, or with PIPE=1 over the --pipe FIFOs."""

    def __init__(self, flash):
        args = ["facegate", "--flash", flash]
        if PIPE:
            fifo_dir = tempfile.mkdtemp(prefix="facegate-pipe-")
            fifo_in, fifo_out = os.path.join(fifo_dir, "in"), os.path.join(fifo_dir, "out")
            os.mkfifo(fifo_in)
            os.mkfifo(fifo_out)
            args += ["--pipe-in", fifo_in, "--pipe-out", fifo_out]
            serial = ["-serial", "null"]
        else:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            serial = ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on"]
        semi = "enable=on,target=native," + ",".join("arg=" + a for a in args)
        self.proc = subprocess.Popen(
            ["qemu-system-arm", *ICOUNT, "-machine", "mps2-an386", "-cpu", "cortex-m4",
             "-nographic", "-monitor", "none", "-semihosting-config", semi, *serial, "-kernel", ELF],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.proc.kill)
        if PIPE:
            # The firmware opens its input, then its output: open them in the same order.
            self.w = open(fifo_in, "wb", buffering=0)
            self.r = open(fifo_out, "rb", buffering=0)
            self.send = self.w.write
            self.recv = lambda: os.read(self.r.fileno(), 65536)
        else:
            for _ in range(200):
                try:
                    self.sock = socket.create_connection(("127.0.0.1", port))
                    break
                except OSError:
                    time.sleep(0.02)
            self.sock.settimeout(120)
            self.send = self.sock.sendall
            self.recv = lambda: self.sock.recv(65536)
        self.buf = b""

    def ask(self, request):
        payload = request + zlib.crc32(request).to_bytes(4, "little")
        self.send(b"\x00" + cobs_encode(payload) + b"\x00")
        while b"\x00" not in self.buf:
            chunk = self.recv()
            if not chunk:
                raise RuntimeError("stream closed")
            self.buf += chunk
        encoded, self.buf = self.buf.split(b"\x00", 1)
        raw = cobs_decode(encoded)
        body, crc = raw[:-4], int.from_bytes(raw[-4:], "little")
        if zlib.crc32(body) != crc:
            check(False, "response CRC")
        return decode(body)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def face_frame(seed):
    rng = random.Random(seed)
    return frame(160, 120, (20, 0, 120, 120), bytes(rng.randrange(256) for _ in range(160 * 120)))


def main():
    subprocess.run(["cargo", "build", "--release", "--target-dir", TARGET], cwd=FIRMWARE, check=True)
    flash = os.path.join(tempfile.mkdtemp(prefix="facegate-smoke-"), "flash.img")
    d = Device(flash)
    kind, info = d.ask(varint(0))
    print("     " + str(info))
    check(kind == "Info" and info["model"] and info["model"]["slot"] == "A", "Info: factory model in slot A")
    kind, st = d.ask(varint(1))
    check(kind == "SelfTest" and st["passed"], f"SelfTest {st}")
    alice = blob(b"alice")
    for i in range(3):
        start = time.monotonic()
        kind, r = d.ask(varint(5) + alice + face_frame(i))
        print(f"     enrol frame {i}: {time.monotonic() - start:.2f} s wall")
        check(kind == "Enrolled" and r["frames"] == i + 1, f"Enroll {i + 1}")
    kind, r = d.ask(varint(6) + alice)
    check(kind == "EnrollCommitted" and r["templates"] == 1, f"EnrollCommit {r}")
    kind, v = d.ask(varint(9) + alice + face_frame(0))
    print(f"     verify: accepted={v['accepted']} distance={v['distance']} threshold={v['threshold']} "
          f"cost ticks (preprocess, embed)={v['cost']}")
    check(kind == "Verify", "Verify")
    kind, ident = d.ask(varint(10) + face_frame(1))
    check(kind == "Identify" and ident["compared"] == 1, f"Identify best={ident['best']}")
    kind, r = d.ask(varint(0) + b"\x01\x02")
    check(kind == "Error", f"garbage after a request answered with an error: {r}")

    model = open(MODEL, "rb").read()
    start = time.monotonic()
    kind, r = d.ask(varint(2) + varint(len(model)) + varint(zlib.crc32(model)))
    check(kind == "ModelBegun" and r["slot"] == "B", f"ModelBegin -> {r}")
    offset = 0
    while offset < len(model):
        chunk = model[offset:offset + 4096]
        kind, r = d.ask(varint(3) + varint(offset) + blob(chunk))
        if kind != "ModelChunk":
            check(False, f"chunk at {offset}: {kind} {r}")
        offset = r["next"]
    kind, r = d.ask(varint(4))
    check(kind == "ModelCommitted" and r["slot"] == "B", f"ModelCommit -> slot {r.get('slot')} "
          f"({time.monotonic() - start:.1f} s wall for {len(model)} bytes)")
    kind, info = d.ask(varint(0))
    print("     " + str(info["memory"]))
    d.kill()

    d = Device(flash)
    kind, info = d.ask(varint(0))
    check(info["model"]["slot"] == "B" and info["templates"] == 1,
          "after kill -9 and restart: slot B serves, the template is still there")
    kind, page = d.ask(varint(8) + varint(0))
    check(kind == "List" and page == dict(total=1, ids=["alice"]), f"List {page}")
    kind, v2 = d.ask(varint(9) + alice + face_frame(0))
    check(kind == "Verify" and v2["embedding"] == v["embedding"], "same embedding after the restart")
    d.kill()
    print("device smoke passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Smoke run of the product firmware in QEMU over its UART (a TCP socket), with a minimal
postcard + CRC-32 + COBS client of protocol version 2 (shared/src/protocol) and its admin sessions
(HMAC-SHA256, shared/src/device/auth.rs; stdlib hmac/hashlib): Info, SelfTest, Enroll refused
without a session (Unauthenticated), Authenticate without a challenge / with a wrong MAC refused,
an admin session with firmware/keys/test-admin.key (every nonce checked), Info admin=true, enrol
one person, verify and identify, a model update to slot B with the release blob signed by the
test key as model version +1, EndSession, then `kill -9` of QEMU and a restart that must still
hold the template and serve the signed slot B (Verify without a session redacted; with one, the
same embedding). Prints the device's figures (memory, stack peak, cost ticks) and the wall time
per 20 KB frame.

Usage: firmware/scripts/device_smoke.py   (builds the firmware first). Environment: PIPE=1 talks
over the --pipe-in/--pipe-out FIFOs instead of UART0; ICOUNT=none|shift=N (default shift=6);
FACEGATE=path of the host CLI used for `facegate sign` (default target/debug/facegate if built,
else scripts/facegate, which builds it). The real host client is `facegate device ...`; this
script only checks the board wiring.
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
import hashlib
import hmac

FIRMWARE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(FIRMWARE, "target", "smoke")
ELF = os.path.join(TARGET, "thumbv7em-none-eabihf", "release", "facegate-firmware")
ROOT = os.path.dirname(FIRMWARE)
MODEL = os.path.join(ROOT, "models", "facegate-v1.fgm")
ADMIN_KEY = os.path.join(FIRMWARE, "keys", "test-admin.key")
SIGNING_KEY = os.path.join(FIRMWARE, "keys", "test-model-signing.key")
FACEGATE_BIN = os.path.join(ROOT, "target", "debug", "facegate")
FACEGATE_SCRIPT = os.path.join(ROOT, "scripts", "facegate")
PROTOCOL_VERSION = 2
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


# Request tags (shared/src/protocol/messages.rs, variant order) of the admin-session requests;
# Authenticate's [u8; 32] MAC follows its tag as 32 raw bytes (a tuple: no length prefix).
REQ_CHALLENGE, REQ_AUTHENTICATE, REQ_END_SESSION = varint(12), varint(13), varint(14)


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
                macs=r.var(), layers=r.var(), input_side=r.var(), embedding_dim=r.var(), threshold=r.zz(),
                model_version=r.var(), signed=bool(r.byte()), check_cost=r.var())


# shared/src/protocol/error.rs, in variant order (the wire tag); the fields of those that have any.
ERRORS = ["Cobs", "FrameTooLong", "FrameTooShort", "Crc", "Malformed", "FrameSize", "FaceBox", "NoModel",
          "UnsupportedModel", "Engine", ("ModelSize", "max"), "NoUpdate", ("OutOfOrder", "expected"),
          "ChunkSize", ("ModelIncomplete", "received"), "ModelCrc", "ModelInvalid", "BadId", "UnknownId",
          "DuplicateId", "StoreFull", "NoEnrollment", "TooManyFrames", "Storage", "StaleTemplate",
          "ModelUnsigned", "ModelTampered", "ModelTruncated", "ModelWrongKey",
          ("ModelDowngrade", "installed", "offered"), "Unauthenticated", "NoChallenge", "AuthFailed",
          ("LockedOut", "retry_after")]


def error_code(r):
    tag = r.var()
    if tag >= len(ERRORS):
        return f"error{tag}"
    e = ERRORS[tag]
    if isinstance(e, str):
        return e
    return e[0] + "{" + ", ".join(f"{f}: {r.var()}" for f in e[1:]) + "}"


def decode(payload):
    """The response in `payload`; every byte of it must be consumed (catches a stale field layout)."""
    r = Reader(payload)
    kind, value = decode_fields(r)
    if not kind.startswith("tag") and r.i != len(payload):
        check(False, f"{kind}: {len(payload) - r.i} bytes left after the response")
    return kind, value


def decode_fields(r):
    payload = r.d
    tag = r.var()
    if tag == 0:
        info = dict(protocol_version=r.var(), firmware=r.str())
        info["model"] = model_info(r) if r.byte() else None
        info["memory"] = dict(zip(["ram_total", "ram_static", "stack_peak", "arena", "rx_buffer",
                                   "flash_code", "flash_slot", "flash_templates"],
                                  [r.var() for _ in range(8)]))
        info.update(templates=r.var(), template_capacity=r.var(), max_frame=r.var(), admin=bool(r.byte()))
        info["attempts"] = dict(zip(["identify_failures", "identify_wait", "most_failures", "longest_wait"],
                                    [r.var() for _ in range(4)]))
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
    if tag == 7:
        return "Deleted", dict(templates=r.var())
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
        return "Error", error_code(r)
    if tag == 13:
        return "Challenge", dict(nonce=r.raw(32))  # [u8; 32]: a tuple, no length prefix
    if tag == 14:
        return "Authenticated", None
    if tag == 15:
        return "SessionEnded", None
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


def admin_key():
    """firmware/keys/test-admin.key: one line `label hex` (the key firmware/build.rs compiles in)."""
    label, hexkey = open(ADMIN_KEY).read().split()
    key = bytes.fromhex(hexkey)
    check(label == "facegate-admin-secret" and len(key) == 32, f"admin key file {ADMIN_KEY}")
    return key


def hmac256(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


class Admin:
    """Admin sessions (shared/src/device/auth.rs). The device's nonce is
    HMAC-SHA256(key, "facegate-nonce-v1" || counter as u64 LE), its counter persisted in the store
    and incremented by every Challenge, from 1 on a fresh flash: so this script, which starts from
    an empty flash, can check every nonce. (The Rust client does not check nonces: it only answers.)"""

    def __init__(self, key):
        self.key, self.counter = key, 0

    def challenge(self, d):
        kind, r = d.ask(REQ_CHALLENGE)
        if kind != "Challenge":
            check(False, f"Challenge -> {kind} {r}")
        self.counter += 1
        want = hmac256(self.key, b"facegate-nonce-v1", self.counter.to_bytes(8, "little"))
        check(r["nonce"] == want, f"nonce {self.counter} is HMAC(key, facegate-nonce-v1 || {self.counter})")
        return r["nonce"]

    def open(self, d):
        nonce = self.challenge(d)
        kind, r = d.ask(REQ_AUTHENTICATE + hmac256(self.key, b"facegate-admin-v1", nonce))
        check(kind == "Authenticated", f"Authenticate -> {kind}" + (f" {r}" if r else ""))


def signed_model(version):
    """The release blob signed with the QEMU test key as `version` by the host CLI (`facegate sign`)."""
    out = os.path.join(tempfile.mkdtemp(prefix="facegate-smoke-model-"), "signed.fgm")
    cli = os.environ.get("FACEGATE") or (FACEGATE_BIN if os.path.exists(FACEGATE_BIN) else FACEGATE_SCRIPT)
    subprocess.run([cli, "sign", "--key", SIGNING_KEY, "--in", MODEL, "--out", out,
                    "--model-version", str(version)], check=True, stdout=subprocess.DEVNULL)
    return open(out, "rb").read()


def main():
    subprocess.run(["cargo", "build", "--release", "--target-dir", TARGET], cwd=FIRMWARE, check=True)
    key = admin_key()
    admin = Admin(key)
    flash = os.path.join(tempfile.mkdtemp(prefix="facegate-smoke-"), "flash.img")
    d = Device(flash)
    kind, info = d.ask(varint(0))
    print("     " + str(info))
    check(kind == "Info" and info["protocol_version"] == PROTOCOL_VERSION,
          f"Info: protocol version {info.get('protocol_version')}")
    check(info["model"] and info["model"]["slot"] == "A", "Info: factory model in slot A")
    check(not info["admin"] and info["attempts"] == dict(identify_failures=0, identify_wait=0, most_failures=0,
                                                         longest_wait=0),
          "Info: no admin session, attempt limit clear")
    kind, st = d.ask(varint(1))
    check(kind == "SelfTest" and st["passed"], f"SelfTest {st}")
    alice = blob(b"alice")
    kind, r = d.ask(varint(5) + alice + face_frame(0))
    check((kind, r) == ("Error", "Unauthenticated"), f"Enroll without a session refused: {kind} {r}")
    kind, r = d.ask(varint(6) + alice)
    check((kind, r) == ("Error", "Unauthenticated"), f"EnrollCommit without a session refused: {kind} {r}")
    kind, r = d.ask(REQ_AUTHENTICATE + bytes(32))
    check((kind, r) == ("Error", "NoChallenge"), f"Authenticate without a challenge: {kind} {r}")
    admin.challenge(d)
    kind, r = d.ask(REQ_AUTHENTICATE + hmac256(b"\x00" * 32, b"facegate-admin-v1", bytes(32)))
    check((kind, r) == ("Error", "AuthFailed"), f"Authenticate with a wrong MAC: {kind} {r}")
    kind, r = d.ask(varint(5) + alice + face_frame(0))
    check((kind, r) == ("Error", "Unauthenticated"), f"Enroll after a failed Authenticate refused: {kind} {r}")

    admin.open(d)
    kind, info = d.ask(varint(0))
    check(kind == "Info" and info["admin"], "Info: admin=true inside the session")
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
    check(kind == "Verify" and len(v["embedding"]) == info["model"]["embedding_dim"],
          "Verify (admin: distance and embedding reported)")
    kind, ident = d.ask(varint(10) + face_frame(1))
    check(kind == "Identify" and ident["compared"] == 1, f"Identify best={ident['best']}")
    kind, r = d.ask(varint(0) + b"\x01\x02")
    check(kind == "Error", f"garbage after a request answered with an error: {r}")

    factory = info["model"]
    model = signed_model(factory["model_version"] + 1)
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
    check(kind == "ModelCommitted" and r["slot"] == "B", f"ModelCommit -> slot {r.get('slot') if kind != 'Error' else r} "
          f"({time.monotonic() - start:.1f} s wall for {len(model)} bytes)")
    print(f"     signed model: version {r['model_version']}, signature check {r['check_cost']} cost ticks")
    check(r["signed"] and r["model_version"] == factory["model_version"] + 1 and r["id"] == factory["id"],
          "the committed model is the signed release blob, model version +1")
    kind, info = d.ask(varint(0))
    print("     " + str(info["memory"]))
    kind, r = d.ask(REQ_END_SESSION)
    check(kind == "SessionEnded", f"EndSession -> {kind}")
    kind, info = d.ask(varint(0))
    check(not info["admin"], "Info: admin=false after EndSession")
    kind, r = d.ask(varint(7) + alice)
    check((kind, r) == ("Error", "Unauthenticated"), f"Delete after EndSession refused: {kind} {r}")
    d.kill()

    d = Device(flash)
    kind, info = d.ask(varint(0))
    check(info["model"]["slot"] == "B" and info["templates"] == 1 and info["model"]["signed"],
          "after kill -9 and restart: signed slot B serves, the template is still there")
    check(not info["admin"], "no admin session after the restart")
    kind, page = d.ask(varint(8) + varint(0))
    check(kind == "List" and page == dict(total=1, ids=["alice"]), f"List {page}")
    kind, r = d.ask(varint(9) + alice + face_frame(0))
    check(kind == "Verify" and r["distance"] == 0 and r["embedding"] == [] and r["accepted"] == v["accepted"],
          "Verify without a session: same decision, distance and embedding withheld")
    admin.open(d)  # its nonce counter went on from before the restart (checked in challenge)
    kind, v2 = d.ask(varint(9) + alice + face_frame(0))
    check(kind == "Verify" and v2["embedding"] == v["embedding"] and v2["distance"] == v["distance"],
          "same embedding and distance after the restart")
    d.kill()
    print("device smoke passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Instruction profile of a firmware run under QEMU, by function.

Runs the ELF with `-icount shift=6 -d in_asm,exec,nochain` (each translated block's
instructions, then every execution of a block), counts instructions per address, and sums
them per symbol (`nm -n`). Instructions, not cycles; the same count every run.

    cd firmware && cargo build --release --features boot-report --target-dir target/boot-report
    python3 scripts/profile.py target/boot-report/thumbv7em-none-eabihf/release/facegate-firmware [TOP]

The boot-report firmware runs the release model's golden vectors (4 embeddings) and exits.
The QEMU log is large (≈ 700 MB for 4 embeddings) and goes to a temporary file.
"""
import bisect
import collections
import re
import subprocess
import sys
import tempfile


def profile(log_path):
    blocks, runs = {}, collections.Counter()
    pending = None
    with open(log_path, errors="replace") as log:
        for line in log:
            if line.startswith("IN:"):
                pending = []
                continue
            if pending is not None:
                m = re.match(r"0x([0-9a-f]+):", line)
                if m:
                    pending.append(int(m.group(1), 16))
                    continue
            if line.startswith("Trace"):
                pc = int(re.search(r"\[[0-9a-f]+/([0-9a-f]+)/", line).group(1), 16)
                if pending is not None:
                    blocks[pc], pending = pending, None
                runs[pc] += 1
    per_address = collections.Counter()
    for pc, n in runs.items():
        for address in blocks.get(pc, [pc]):
            per_address[address] += n
    return per_address


def symbols(elf):
    out = subprocess.run(["nm", "-n", "--demangle", elf], capture_output=True, text=True).stdout
    table = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            table.append((int(parts[0], 16) & ~1, parts[2]))
    table.sort()
    return table


def main():
    elf = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        subprocess.run(
            ["qemu-system-arm", "-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic",
             "-monitor", "none", "-icount", "shift=6",
             "-semihosting-config", "enable=on,target=native,arg=facegate", "-kernel", elf,
             "-d", "in_asm,exec,nochain", "-D", log.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False)
        per_address = profile(log.name)
    table = symbols(elf)
    starts = [a for a, _ in table]
    by_function = collections.Counter()
    for address, n in per_address.items():
        i = bisect.bisect_right(starts, address) - 1
        by_function[table[i][1] if i >= 0 else "?"] += n
    total = sum(per_address.values())
    print(f"total {total} instructions")
    for name, n in by_function.most_common(top):
        print(f"{n:>11} {100 * n / total:5.1f}%  {name[:110]}")


if __name__ == "__main__":
    main()

//! Issue 14's power-cut campaign on the device in QEMU: enrolments, deletions and signed model
//! updates cut at a random flash operation (`--cut-after N`, N drawn inside the operation's
//! measured range, its first and last operation included) or by a SIGKILL of QEMU after a random
//! wall delay while the operation is in flight (cuts between flash operations, mid-computation).
//! After each cut an uncut restart on the same flash file must answer `Info`, serve a valid
//! signed model (the old or the new, never neither; self-test passes; a probe's embedding is the
//! host engine's for that blob), list every acknowledged template and nothing else (the
//! in-flight enrolment absent or intact, the deleted id fully there or gone), each listed
//! template intact (its `Verify` distance is the host's), and accept a follow-up enrolment.
//!
//! `FACEGATE_POWER_CUT_TRIALS=N` (default 24) sets the number of trials, split evenly over the
//! three operations and the two cut methods; `FACEGATE_POWER_CUT_SEED=S` reproduces a run's
//! cut points (the kill delays are reproduced, the instruction they land on is not).

use facegate_e2e::power_cut::{
    Bench, OpRange, Operation, Prepared, Rng, Stage, OPERATIONS, PREPARED,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Default trials: 4 per operation and method.
const DEFAULT_TRIALS: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    CutAfter,
    Kill,
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The cut point of the `k`-th `--cut-after` trial of an operation: its first and its last
/// flash operation first, then half uniform over the range, half over its last 64 operations
/// (where the commit records are written).
fn cut_point(rng: &mut Rng, range: &OpRange, k: usize) -> u32 {
    let (first, last) = (u64::from(range.first), u64::from(range.end) - 1);
    let n = match k {
        0 => first,
        1 => last,
        _ if rng.next_u64() % 2 == 0 => rng.range(first, last),
        _ => rng.range(last.saturating_sub(63).max(first), last),
    };
    n as u32
}

#[test]
fn power_cuts_during_enrol_delete_and_model_update_lose_nothing_acknowledged() {
    let started = Instant::now();
    let seed = env("FACEGATE_POWER_CUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let trials: usize = env("FACEGATE_POWER_CUT_TRIALS").unwrap_or(DEFAULT_TRIALS);
    println!("power_cut seed={seed} trials={trials} (FACEGATE_POWER_CUT_SEED={seed} reproduces)");
    let mut rng = Rng::new(seed);
    let work = tempfile::tempdir().unwrap();
    let bench = Bench::new(work.path());
    println!(
        "worn store: {} Challenges after the enrolments",
        bench.wear_challenges
    );
    let mut ranges: BTreeMap<(Prepared, Operation), OpRange> = BTreeMap::new();
    for image in PREPARED {
        for op in OPERATIONS {
            let hint = ranges.get(&(Prepared::Fresh, op)).copied();
            let r = bench.measure(work.path(), image, op, hint);
            println!(
                "{image:?} {op:?}: flash operations {}..{} ({} in the operation), {:?} wall",
                r.first,
                r.end,
                r.end - r.first,
                r.wall
            );
            ranges.insert((image, op), r);
        }
    }
    println!("prepared and measured in {:?}", started.elapsed());

    let mut counts: BTreeMap<(Prepared, Operation, Method), [usize; 2]> = BTreeMap::new();
    let mut failures = Vec::new();
    for i in 0..trials {
        let op = OPERATIONS[i % 3];
        let method = [Method::CutAfter, Method::Kill][(i / 3) % 2];
        let image = PREPARED[(i / 6) % 2];
        let range = &ranges[&(image, op)];
        let dir = tempfile::tempdir_in(work.path()).unwrap();
        let entry = counts.entry((image, op, method)).or_default();
        let k = entry[0];
        entry[0] += 1;
        let (what, stage, err) = match method {
            Method::CutAfter => {
                let n = cut_point(&mut rng, range, k);
                let (stage, _, qemu, err) = bench.run(dir.path(), image, op, Some(n));
                let mut qemu = qemu.expect("the boot before the operation is not cut");
                let status = qemu.wait_timeout(Duration::from_secs(20));
                let log = qemu.log();
                if status.is_none_or(|s| s.success()) || !log.contains("simulated power cut") {
                    failures.push(format!("trial {i}: cut {n} did not fire: {status:?} {log}"));
                }
                (format!("cut-after {n}"), stage, err)
            }
            Method::Kill => {
                let wall = range.wall.as_micros() as u64;
                let delay = Duration::from_micros(rng.range(0, wall));
                let (stage, err) = bench.run_killed(dir.path(), image, op, delay);
                (format!("kill at {delay:?}"), stage, err)
            }
        };
        let acked = stage == Stage::Acknowledged;
        if method == Method::CutAfter && acked {
            failures.push(format!("trial {i}: {op:?} {what} was acknowledged"));
        }
        if let Some(e) = err.as_ref().and_then(|e| e.device_code()) {
            failures.push(format!(
                "trial {i}: {op:?} {what}: the device answered {e:?}"
            ));
        }
        let result = bench.check_after(dir.path(), op, acked);
        let line = format!("trial {i}: {image:?} {op:?} {what} acked={acked}");
        match &result {
            Ok(found) => println!("{line}: ok, {found}"),
            Err(why) => {
                counts.entry((image, op, method)).or_default()[1] += 1;
                println!("{line}: FAILED {why}");
                failures.push(format!("{line}: {why}"));
            }
        }
    }
    println!("| image | operation | method | trials | failures |");
    println!("| --- | --- | --- | --- | --- |");
    for ((image, op, method), [n, failed]) in &counts {
        println!("| {image:?} | {op:?} | {method:?} | {n} | {failed} |");
    }
    println!(
        "power_cut seed={seed} trials={trials} failures={} wall={:?}",
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Boots the firmware in QEMU and checks that the Cortex-M4F computes exactly the host's bits.

use facegate_e2e::{build_firmware, parse_self_test, run_qemu};
use facegate_shared::selftest::{known_answers, KNOWN_ANSWER_COUNT};
use std::time::Duration;

#[test]
fn firmware_boots_and_matches_the_host_bit_for_bit() {
    let elf = build_firmware(&["boot-report"]);
    let run = run_qemu(&elf, Duration::from_secs(60));
    assert!(
        run.status.success(),
        "firmware exited with {:?}\nUART:\n{}\nstderr:\n{}",
        run.status,
        run.uart,
        run.stderr
    );
    let (reported, done) = parse_self_test(&run.uart);
    assert_eq!(done, Some(KNOWN_ANSWER_COUNT), "UART:\n{}", run.uart);
    let host = known_answers();
    assert_eq!(reported.len(), host.len(), "UART:\n{}", run.uart);
    for (device, host) in reported.iter().zip(host.iter()) {
        assert_eq!(device.name, host.name);
        assert_eq!(
            device.bits,
            host.value.to_bits(),
            "{}: device {} (0x{:08x}) vs host {} (0x{:08x})",
            host.name,
            f32::from_bits(device.bits),
            device.bits,
            host.value,
            host.value.to_bits()
        );
    }
}

#[test]
fn a_firmware_panic_reaches_the_host_as_a_failure() {
    let elf = build_firmware(&["boot-report", "deliberate-panic"]);
    let run = run_qemu(&elf, Duration::from_secs(60));
    assert!(
        !run.status.success(),
        "a panicking firmware exited with success"
    );
    // Semihosting writes to QEMU's stdout, beside the UART.
    let all = format!("{}{}", run.uart, run.stderr);
    assert!(
        all.contains("firmware panic: ") && all.contains("deliberate panic"),
        "panic message missing from the output:\n{all}"
    );
}

#[test]
fn the_report_parser_rejects_nothing_silently() {
    let (values, done) = parse_self_test("noise\nselftest l2 1.5 0x3fc00000\nselftest done 1\n");
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].bits, 1.5f32.to_bits());
    assert_eq!(done, Some(1));
}

/// The released int8 model, run on the Cortex-M4F by the same `facegate-shared` engine: every
/// golden embedding the device prints equals, byte for byte, the one the host engine computes
/// from the same blob (and the one the quantiser stored in it).
#[test]
fn the_device_runs_the_released_int8_model_bit_exactly() {
    use facegate_shared::blob::Model;
    let blob =
        std::fs::read(facegate_e2e::workspace_root().join("models/facegate-v1.fgm")).unwrap();
    let model = Model::parse(&blob).unwrap();
    let elf = build_firmware(&["boot-report"]);
    let started = std::time::Instant::now();
    let run = run_qemu(&elf, Duration::from_secs(120));
    assert!(
        run.status.success(),
        "exit {:?}\nUART:\n{}\n{}",
        run.status,
        run.uart,
        run.stderr
    );
    let device = facegate_e2e::parse_golden(&run.uart);
    let count = model.header().golden_count;
    assert_eq!(device.len(), usize::from(count), "UART:\n{}", run.uart);
    assert!(
        run.uart.contains(&format!("golden done {count} ok")),
        "UART:\n{}",
        run.uart
    );
    let mut arena = vec![0u8; model.arena_size()];
    let mut host = vec![0i8; model.embedding_dim()];
    for (i, bytes) in device.iter().enumerate() {
        let golden = model.golden(i as u16).unwrap();
        model.run(golden.input, &mut arena, &mut host).unwrap();
        assert_eq!(bytes, &host, "golden vector {i}: device and host differ");
        assert_eq!(
            bytes.as_slice(),
            golden.embedding,
            "golden vector {i}: differs from the blob"
        );
    }
    eprintln!(
        "{count} golden embeddings identical on device and host ({:.1} s in QEMU)",
        started.elapsed().as_secs_f32()
    );
}

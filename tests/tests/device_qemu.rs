//! The device in QEMU, driven over its UART as a user's host would: boot, Info, SelfTest, a
//! model sent over the protocol and switched to, people enrolled, genuine and impostor probes
//! verified and identified — each device embedding bit-identical to the host engine's and each
//! decision the host's — then QEMU killed and restarted on the same flash file: model and
//! templates are still there.

use facegate_e2e::build_firmware;
use facegate_e2e::device::checked::Checked;
use facegate_e2e::device::firmware::{release_model, Qemu, QemuConfig};
use facegate_e2e::device::gallery::generated_people;
use facegate_e2e::device::keys;
use facegate_e2e::device::reference::HostEngine;
use facegate_shared::blob::Model;
use facegate_shared::protocol::{Slot, PROTOCOL_VERSION};

const PEOPLE: usize = 10;
const ENROL: usize = 2;
const PROBES: usize = 5;

#[test]
fn the_device_enrols_verifies_and_identifies_as_the_host_does_and_keeps_it_across_restarts() {
    // Signed with the QEMU test key the firmware trusts, as model version 1.
    let blob = keys::sign_with_test_key(&std::fs::read(release_model()).unwrap(), 1).unwrap();
    let model = Model::parse(&blob).unwrap();
    let admin = keys::test_admin_key().unwrap();
    let elf = build_firmware(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = QemuConfig::new(elf, dir.path().join("flash.img"));

    // Boot, Info, SelfTest of the factory model.
    let (mut qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    let factory = info.model.expect("a fresh chip carries the factory model");
    assert_eq!(factory.slot, Slot::A);
    assert!(info.template_capacity >= 100, "{info:?}");
    assert_eq!(info.templates, 0);
    let m = info.memory;
    assert!(
        m.ram_total <= 65_536 && m.ram_static + m.stack_peak <= m.ram_total,
        "{m:?}"
    );
    let st = client.self_test().unwrap();
    assert!(st.passed && st.vectors > 0, "{st:?}");

    // The release model over the UART, in an admin session: written to slot B, switched to,
    // self-tested.
    client.authenticate(&admin).unwrap();
    let committed = client.flash_model(&blob, |_| {}).unwrap();
    assert_eq!(committed.slot, Slot::B);
    assert_eq!(committed.len as usize, blob.len());
    assert_eq!(committed.id, model.header().model_id);
    assert!(committed.version > factory.version);
    assert!(client.self_test().unwrap().passed);

    // ≥ 10 people, ≥ 100 probes verified (genuine and impostor) and identified.
    let people = generated_people(PEOPLE + 1, ENROL + PROBES, 21);
    let (enrolled, stranger) = people.split_at(PEOPLE);
    let mut checked = Checked::new(
        &mut client,
        HostEngine::new(Model::parse(&blob).unwrap()),
        120,
    );
    for p in enrolled {
        checked.enroll(&p.name, &p.images[..ENROL]).unwrap();
    }
    let (mut verified, mut identified) = (0, 0);
    for (i, p) in enrolled.iter().enumerate() {
        let impostor = &enrolled[(i + 3) % PEOPLE].name;
        for image in &p.images[ENROL..] {
            checked.verify(&p.name, &p.name, image).unwrap();
            checked.verify(impostor, &p.name, image).unwrap();
            checked.identify(&p.name, image).unwrap();
            verified += 2;
            identified += 1;
        }
    }
    for image in &stranger[0].images {
        checked.identify(&stranger[0].name, image).unwrap();
        identified += 1;
    }
    assert!(verified >= 100 && identified >= 50);
    let agreement = checked.agreement.clone();
    assert!(
        agreement.all_equal(),
        "device ≠ host: {:#?}",
        agreement.mismatches
    );
    assert_eq!(agreement.embeddings, PEOPLE * ENROL + verified + identified);
    assert_eq!(agreement.decisions, verified + identified);
    let templates = checked.templates().to_vec();
    let ids = client.list().unwrap();
    assert_eq!(ids.len(), PEOPLE);

    // Power cut: QEMU killed, restarted on the same flash file.
    drop(client);
    qemu.kill();
    let (_qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    let model_after = info.model.expect("the model survives a restart");
    assert_eq!((model_after.slot, model_after.id), (Slot::B, committed.id));
    assert_eq!(model_after.version, committed.version);
    assert_eq!(usize::from(info.templates), PEOPLE);
    assert_eq!(
        client.list().unwrap(),
        ids,
        "the same templates in the same order"
    );
    // The stored templates still decide as the host's do (in an admin session, which gets the
    // distances and embeddings the comparison needs; the restart ended the old one).
    client.authenticate(&admin).unwrap();
    let mut checked = Checked::new(
        &mut client,
        HostEngine::new(Model::parse(&blob).unwrap()),
        120,
    );
    checked.know_templates(templates);
    for p in enrolled.iter().take(3) {
        checked.verify(&p.name, &p.name, &p.images[ENROL]).unwrap();
        checked.identify(&p.name, &p.images[ENROL]).unwrap();
    }
    assert!(
        checked.agreement.all_equal(),
        "{:#?}",
        checked.agreement.mismatches
    );
    // Delete one: the others stay, the deleted one is unknown.
    let gone = enrolled[0].name.clone();
    assert_eq!(usize::from(checked.delete(&gone).unwrap()), PEOPLE - 1);
    let probe = checked.identify(&gone, &enrolled[0].images[ENROL]).unwrap();
    assert_ne!(probe.nearest.as_deref(), Some(gone.as_str()));
    assert!(
        checked.agreement.all_equal(),
        "{:#?}",
        checked.agreement.mismatches
    );
}

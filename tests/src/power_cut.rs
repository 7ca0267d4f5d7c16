//! The power-cut harness of `tests/tests/power_cut.rs` (issue 14): one prepared flash image (a
//! signed model version 1 serving from slot B, [`PEOPLE`] people enrolled), an operation run on
//! a copy of it (enrol one more person, delete one, update to a signed version 2) that is cut
//! at a flash operation (`--cut-after N`) or by a SIGKILL of QEMU after a wall delay, and the
//! checks after an uncut restart on the same file ([`Bench::check_after`]).

use facegate::device::client::{Client, ClientError};
use facegate::device::firmware::{release_model, FirmwareError, Qemu, QemuConfig};
use facegate::device::frames::{DeviceFrame, GreyImage};
use facegate::device::gallery::{device_id, generated_people};
use facegate::device::keys;
use facegate::device::reference::{template, HostEngine};
use facegate_shared::blob::Model;
use facegate_shared::distance::squared_l2_i8;
use facegate_shared::preprocess::PreprocessConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod wear;
pub use wear::{open_page, Rng, STORE_PAGES};
use wear::{smallest, wear_to_migration};

/// People enrolled in the prepared image.
pub const PEOPLE: usize = 3;
/// Frames per enrolment.
pub const FRAMES: usize = 2;
/// The centre crop of every frame.
const CROP: u16 = 120;
/// Model versions: serving in the prepared image, and offered by the update.
pub const OLD_VERSION: u32 = 1;
/// The update's signed model version.
pub const NEW_VERSION: u32 = 2;

/// The operation a trial cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Enrol one more person (frames, then the commit).
    Enrol,
    /// Delete one of the enrolled people.
    Delete,
    /// A signed model update (version 1 → 2, into the slot of the factory model).
    ModelUpdate,
}

/// The three operations, in trial order.
pub const OPERATIONS: [Operation; 3] =
    [Operation::Enrol, Operation::Delete, Operation::ModelUpdate];

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Cut before the admin session was open (boot, `Info`, `Challenge`, `Authenticate`).
    BeforeOperation,
    /// The session opened, the operation was not acknowledged.
    InOperation,
    /// The operation was acknowledged.
    Acknowledged,
}

/// One person: device id, enrolment frames and the host's view of them.
pub struct Enrollee {
    /// Device id.
    pub id: String,
    /// Greyed enrolment images (the first one is the probe after a restart).
    pub images: Vec<GreyImage>,
}

/// Everything a trial needs, made once.
pub struct Bench {
    /// The product firmware ELF.
    pub elf: PathBuf,
    /// The release blob signed as [`OLD_VERSION`] and [`NEW_VERSION`].
    pub blobs: [Vec<u8>; 2],
    /// The admin key.
    pub admin: [u8; 32],
    /// The prepared people (enrolled), then the one a trial enrols, then the follow-up one.
    pub people: Vec<Enrollee>,
    /// Host templates of every person (made under version 1, as on the device).
    pub templates: Vec<Vec<i8>>,
    /// Host embedding of each person's first image under each blob.
    pub probes: [Vec<Vec<i8>>; 2],
    /// The prepared flash images, by [`Prepared`].
    pub images: [Vec<u8>; 2],
    /// The `Challenge`s that wore the store of [`Prepared::Worn`].
    pub wear_challenges: usize,
}

/// The prepared image a trial starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prepared {
    /// Just the model update and the enrolments: the store's first page partly written.
    Fresh,
    /// The same, then `Challenge`s until the next template stored migrates the store's oldest
    /// page (the prepared templates) and erases it ([`wear::wear_to_migration`]).
    Worn,
}

/// Both, in trial order.
pub const PREPARED: [Prepared; 2] = [Prepared::Fresh, Prepared::Worn];

/// Where an operation's flash operations lie (see [`Bench::measure`]).
#[derive(Debug, Clone, Copy)]
pub struct OpRange {
    /// Flash operations completed (since boot) when the operation starts.
    pub first: u32,
    /// Completed when it is acknowledged.
    pub end: u32,
    /// Its wall time, uncut.
    pub wall: Duration,
}

fn host_embed(blob: &[u8], image: &GreyImage) -> Vec<i8> {
    let mut host = HostEngine::new(Model::parse(blob).expect("blob parses"));
    let cfg = PreprocessConfig {
        crop: CROP,
        out_side: host.input_side(),
    };
    host.embed(&image.host_input(&cfg).expect("host input"))
        .expect("host engine")
}

fn frames(images: &[GreyImage]) -> Vec<DeviceFrame> {
    images
        .iter()
        .map(|i| DeviceFrame::centre_crop(i, CROP).expect("frame"))
        .collect()
}

/// A QEMU on `flash` serving over FIFOs in `dir`, optionally cut after `cut` flash operations.
pub fn config(elf: &Path, flash: &Path, dir: &Path, cut: Option<u32>) -> QemuConfig {
    let mut cfg = QemuConfig::new(elf.to_path_buf(), flash.to_path_buf());
    cfg.pipe_dir = Some(dir.to_path_buf());
    cfg.cut_after = cut;
    cfg
}

/// Starts QEMU and connects (no retry: a cut during boot is an answer too).
pub fn boot(cfg: &QemuConfig) -> Result<(Qemu, Client), FirmwareError> {
    let mut qemu = Qemu::start(cfg)?;
    let (client, _) = qemu.connect()?;
    Ok((qemu, client))
}

impl Bench {
    /// Builds the firmware, signs the blobs, makes the people and the prepared image (its
    /// enrolments checked bit for bit against the host engine).
    pub fn new(work: &Path) -> Self {
        let release = std::fs::read(release_model()).expect("release model");
        let blobs = [OLD_VERSION, NEW_VERSION]
            .map(|v| keys::sign_with_test_key(&release, v).expect("test signing key"));
        let people: Vec<Enrollee> = generated_people(PEOPLE + 2, FRAMES, 1414)
            .into_iter()
            .map(|p| Enrollee {
                id: device_id(&p.name),
                images: p.images,
            })
            .collect();
        let embeddings: Vec<Vec<Vec<i8>>> = people
            .iter()
            .map(|p| p.images.iter().map(|i| host_embed(&blobs[0], i)).collect())
            .collect();
        let templates = embeddings.iter().map(|e| template(e)).collect();
        let probes = [0, 1].map(|b| {
            people
                .iter()
                .map(|p| host_embed(&blobs[b], &p.images[0]))
                .collect()
        });
        let mut bench = Self {
            elf: crate::build_firmware(&[]),
            blobs,
            admin: keys::test_admin_key().expect("test admin key"),
            people,
            templates,
            probes,
            images: [Vec::new(), Vec::new()],
            wear_challenges: 0,
        };
        let flash = work.join("prepared.img");
        let (mut qemu, mut client) =
            boot(&config(&bench.elf, &flash, work, None)).expect("boot a fresh chip");
        client.authenticate(&bench.admin).expect("admin session");
        let committed = client.flash_model(&bench.blobs[0], |_| {}).expect("v1");
        assert_eq!(committed.model_version, OLD_VERSION);
        for (p, host) in bench.people[..PEOPLE].iter().zip(&embeddings) {
            let (answers, _) = client.enroll(&p.id, &frames(&p.images)).expect("enrol");
            let device: Vec<Vec<i8>> = answers.iter().map(|a| a.embedding.to_vec()).collect();
            assert_eq!(&device, host, "{}: device embeddings = host's", p.id);
        }
        bench.images[0] = std::fs::read(&flash).expect("prepared image");
        bench.wear_challenges = wear_to_migration(&mut client, &flash);
        drop(client);
        qemu.kill();
        bench.images[1] = std::fs::read(&flash).expect("worn image");
        bench
    }

    /// The id a trial deletes.
    fn deleted_id(&self) -> &str {
        &self.people[1].id
    }

    /// Runs `op` (in an open admin session).
    pub fn perform(&self, client: &mut Client, op: Operation) -> Result<(), ClientError> {
        match op {
            Operation::Enrol => {
                let p = &self.people[PEOPLE];
                client.enroll(&p.id, &frames(&p.images)).map(|_| ())
            }
            Operation::Delete => client.delete(self.deleted_id()).map(|_| ()),
            Operation::ModelUpdate => client.flash_model(&self.blobs[1], |_| {}).map(|_| ()),
        }
    }

    /// Boots a copy of the `image` in `dir` (cut after `cut` flash operations), opens
    /// the session, runs `op`; returns the stage reached, the operation's wall time and the
    /// running QEMU (exited if the cut fired).
    pub fn run(
        &self,
        dir: &Path,
        image: Prepared,
        op: Operation,
        cut: Option<u32>,
    ) -> (Stage, Duration, Option<Qemu>, Option<ClientError>) {
        let flash = dir.join("flash.img");
        std::fs::write(&flash, &self.images[image as usize]).expect("copy the image");
        self.resume(dir, op, cut)
    }

    /// [`Bench::run`] on the flash file already in `dir` (e.g. a retry after a cut).
    pub fn resume(
        &self,
        dir: &Path,
        op: Operation,
        cut: Option<u32>,
    ) -> (Stage, Duration, Option<Qemu>, Option<ClientError>) {
        let flash = dir.join("flash.img");
        let Ok((qemu, mut client)) = boot(&config(&self.elf, &flash, dir, cut)) else {
            return (Stage::BeforeOperation, Duration::ZERO, None, None);
        };
        if client.authenticate(&self.admin).is_err() {
            return (Stage::BeforeOperation, Duration::ZERO, Some(qemu), None);
        }
        let start = Instant::now();
        match self.perform(&mut client, op) {
            Ok(()) => (Stage::Acknowledged, start.elapsed(), Some(qemu), None),
            Err(e) => (Stage::InOperation, start.elapsed(), Some(qemu), Some(e)),
        }
    }

    /// Like [`Bench::run`] without a cut, QEMU killed (SIGKILL) `delay` after the operation's
    /// first request went out.
    pub fn run_killed(
        &self,
        dir: &Path,
        image: Prepared,
        op: Operation,
        delay: Duration,
    ) -> (Stage, Option<ClientError>) {
        let flash = dir.join("flash.img");
        std::fs::write(&flash, &self.images[image as usize]).expect("copy the image");
        let (mut qemu, mut client) =
            boot(&config(&self.elf, &flash, dir, None)).expect("an uncut boot answers");
        client.authenticate(&self.admin).expect("admin session");
        std::thread::scope(|s| {
            let worker = s.spawn(move || self.perform(&mut client, op));
            std::thread::sleep(delay);
            qemu.kill();
            match worker.join().expect("client thread") {
                Ok(()) => (Stage::Acknowledged, None),
                Err(e) => (Stage::InOperation, Some(e)),
            }
        })
    }

    /// The flash operations `op` performs on `image`, counted from boot: `--cut-after N`
    /// lands inside it for `first <= N < end`. Searched with cut runs, `hint` (a range
    /// measured before) tried first.
    pub fn measure(
        &self,
        dir: &Path,
        image: Prepared,
        op: Operation,
        hint: Option<OpRange>,
    ) -> OpRange {
        let (stage, wall, _, err) = self.run(dir, image, op, None);
        assert_eq!(
            stage,
            Stage::Acknowledged,
            "{image:?} {op:?} uncut: {err:?}"
        );
        let stage = |n| self.run(dir, image, op, Some(n)).0;
        let first = smallest(0, hint.map(|h| h.first), |n| stage(n) >= Stage::InOperation);
        let end = smallest(first, hint.map(|h| first + h.end - h.first), |n| {
            stage(n) == Stage::Acknowledged
        });
        OpRange { first, end, wall }
    }

    /// After a cut: an uncut boot on `dir`'s flash file and every promise checked; `acked`
    /// says whether the device acknowledged `op` before the cut. Returns what was found.
    pub fn check_after(&self, dir: &Path, op: Operation, acked: bool) -> Result<String, String> {
        let cfg = config(&self.elf, &dir.join("flash.img"), dir, None);
        let (qemu, mut client) = boot(&cfg).map_err(|e| format!("bricked: no Info: {e}"))?;
        let found = self.check_device(&mut client, op, acked);
        drop(client);
        drop(qemu);
        found
    }

    fn check_device(
        &self,
        client: &mut Client,
        op: Operation,
        acked: bool,
    ) -> Result<String, String> {
        fn e(what: &'static str) -> impl Fn(ClientError) -> String {
            move |err| format!("{what}: {err}")
        }
        let info = client.info().map_err(e("Info"))?;
        let model = info.model.ok_or("no model serving")?;
        let allowed: &[u32] = match (op, acked) {
            (Operation::ModelUpdate, false) => &[OLD_VERSION, NEW_VERSION],
            (Operation::ModelUpdate, true) => &[NEW_VERSION],
            _ => &[OLD_VERSION],
        };
        if !model.signed || !allowed.contains(&model.model_version) {
            return Err(format!("serving {model:?}, allowed versions {allowed:?}"));
        }
        let b = usize::from(model.model_version == NEW_VERSION);
        let blob = Model::parse(&self.blobs[b]).map_err(|e| e.to_string())?;
        if (model.len as usize, model.id) != (self.blobs[b].len(), blob.header().model_id) {
            return Err(format!(
                "serving {model:?}: not the signed blob of its version"
            ));
        }
        let st = client.self_test().map_err(e("SelfTest"))?;
        if !st.passed {
            return Err(format!("self-test failed: {st:?}"));
        }
        client
            .authenticate(&self.admin)
            .map_err(e("Authenticate"))?;
        // Which ids must be there, which may be.
        let prepared: Vec<usize> = (0..PEOPLE).collect();
        let (mut required, mut optional): (BTreeSet<usize>, BTreeSet<usize>) =
            (prepared.into_iter().collect(), BTreeSet::new());
        match op {
            Operation::Enrol if acked => drop(required.insert(PEOPLE)),
            Operation::Enrol => drop(optional.insert(PEOPLE)),
            Operation::Delete => {
                required.remove(&1);
                if !acked {
                    optional.insert(1);
                }
            }
            Operation::ModelUpdate => {}
        }
        let ids = client.list().map_err(e("List"))?;
        let mut seen = BTreeSet::new();
        for id in &ids {
            let p = self.people.iter().position(|p| &p.id == id);
            match p {
                Some(p) if required.contains(&p) || optional.contains(&p) => {
                    if !seen.insert(p) {
                        return Err(format!("{id} listed twice: {ids:?}"));
                    }
                }
                _ => return Err(format!("{id} should not be there: {ids:?}")),
            }
        }
        if let Some(missing) = required.iter().find(|p| !seen.contains(p)) {
            return Err(format!("lost {}: {ids:?}", self.people[*missing].id));
        }
        if usize::from(info.templates) != ids.len() {
            return Err(format!(
                "Info says {} templates, List {ids:?}",
                info.templates
            ));
        }
        for &p in &seen {
            self.check_template(client, p, b)?;
        }
        // A follow-up change still works.
        let next = &self.people[PEOPLE + 1];
        let (answers, committed) = client
            .enroll(&next.id, &frames(&next.images[..1]))
            .map_err(e("follow-up enrol"))?;
        if answers[0].embedding.as_slice() != self.probes[b][PEOPLE + 1].as_slice()
            || usize::from(committed.templates) != ids.len() + 1
        {
            return Err(format!(
                "follow-up enrol: {committed:?}, embedding ≠ host's"
            ));
        }
        Ok(format!("v{} {} templates", model.model_version, ids.len()))
    }

    /// `Verify` of person `p` with their first image: the embedding is the host's for blob
    /// `b` and the distance the host's to the host's template (the template is intact).
    fn check_template(&self, client: &mut Client, p: usize, b: usize) -> Result<(), String> {
        let person = &self.people[p];
        let frame = DeviceFrame::centre_crop(&person.images[0], CROP).map_err(|e| e.to_string())?;
        let r = client
            .verify(&person.id, &frame)
            .map_err(|e| format!("Verify {}: {e}", person.id))?;
        let probe = &self.probes[b][p];
        let distance = squared_l2_i8(probe, &self.templates[p]).map_err(|e| format!("{e:?}"))?;
        if r.embedding.as_slice() != probe.as_slice() || r.distance != distance {
            return Err(format!(
                "{}: template not intact (distance {} vs host {distance}, embedding equal {})",
                person.id,
                r.distance,
                r.embedding.as_slice() == probe.as_slice()
            ));
        }
        Ok(())
    }
}

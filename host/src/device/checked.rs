//! Device operations checked against the host engine, one by one: every embedding the device
//! returns must equal the host engine's for the same image byte for byte, and every decision
//! (accept / reject, the identified person) the one the host computes from its own embeddings
//! and templates. What `facegate demo` and the QEMU end-to-end tests run.

use super::client::{Client, ClientError};
use super::frames::{DeviceFrame, FrameBuildError, GreyImage};
use super::reference::{template, HostEngine};
use facegate_shared::blob::EngineError;
use facegate_shared::preprocess::PreprocessConfig;
use facegate_shared::protocol::Cost;

/// A failed checked operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The device did not answer as asked.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The image cannot become a frame.
    #[error(transparent)]
    Frame(#[from] FrameBuildError),
    /// The host engine failed.
    #[error("host engine: {0}")]
    Engine(EngineError),
}

/// What was compared and how much of it agreed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Device embeddings compared with the host's.
    pub embeddings: usize,
    /// Of which bit-identical.
    pub embeddings_equal: usize,
    /// Device decisions compared with the host's.
    pub decisions: usize,
    /// Of which equal (and with equal distances).
    pub decisions_equal: usize,
    /// A line per disagreement.
    pub mismatches: Vec<String>,
}

impl Agreement {
    /// Everything agreed (and something was compared).
    pub fn all_equal(&self) -> bool {
        self.embeddings > 0
            && self.embeddings == self.embeddings_equal
            && self.decisions == self.decisions_equal
    }
}

/// One probe's outcome on the device and on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The person in the image.
    pub truth: String,
    /// Verify: the claimed id; identify: `None`.
    pub claimed: Option<String>,
    /// Identify: the device's nearest id (accepted or not).
    pub nearest: Option<String>,
    /// The device accepted (verify) or recognised someone (identify).
    pub accepted: bool,
    /// The host decided the same.
    pub host_agrees: bool,
    /// The device's distance (to the claimed or the nearest template).
    pub distance: i32,
    /// The threshold.
    pub threshold: i32,
    /// Cost counter ticks of the embedding.
    pub cost: Cost,
    /// The device embedding equals the host's.
    pub embedding_equal: bool,
}

impl Probe {
    /// Whether the device's answer is right: verify accepts exactly the true person; identify
    /// names the true person if enrolled, and nobody otherwise.
    pub fn correct(&self, enrolled: bool) -> bool {
        match &self.claimed {
            Some(claimed) => self.accepted == (claimed == &self.truth),
            None if enrolled => self.accepted && self.nearest.as_deref() == Some(&self.truth),
            None => !self.accepted,
        }
    }
}

/// A client and the host engine side by side.
pub struct Checked<'c, 'm> {
    client: &'c mut Client,
    host: HostEngine<'m>,
    crop: u16,
    /// Templates the host computed, by device id, in the device's store order.
    templates: Vec<(String, Vec<i8>)>,
    order_known: bool,
    /// What agreed so far.
    pub agreement: Agreement,
}

impl<'c, 'm> Checked<'c, 'm> {
    /// Checks `client`'s answers against `host`; images are centre-cropped with `crop`.
    pub fn new(client: &'c mut Client, host: HostEngine<'m>, crop: u16) -> Self {
        Self {
            client,
            host,
            crop,
            templates: Vec::new(),
            order_known: true,
            agreement: Agreement::default(),
        }
    }

    /// The client (for unchecked requests).
    pub fn client(&mut self) -> &mut Client {
        self.client
    }

    /// Takes the host's templates of what the device already stores (computed before a
    /// restart, say), replacing any it had.
    pub fn know_templates(&mut self, templates: Vec<(String, Vec<i8>)>) {
        self.templates = templates;
        self.order_known = false;
    }

    /// The host engine.
    pub fn host(&self) -> &HostEngine<'m> {
        &self.host
    }

    /// The host's templates by id, in store order once known.
    pub fn templates(&self) -> &[(String, Vec<i8>)] {
        &self.templates
    }

    fn frame_and_host(&mut self, image: &GreyImage) -> Result<(DeviceFrame, Vec<i8>), CheckError> {
        let frame = DeviceFrame::centre_crop(image, self.crop)?;
        let cfg = PreprocessConfig {
            crop: self.crop,
            out_side: self.host.input_side(),
        };
        let input = image.host_input(&cfg)?;
        let embedding = self.host.embed(&input).map_err(CheckError::Engine)?;
        Ok((frame, embedding))
    }

    fn compare_embedding(&mut self, what: &str, device: &[i8], host: &[i8]) -> bool {
        self.agreement.embeddings += 1;
        let equal = device == host;
        if equal {
            self.agreement.embeddings_equal += 1;
        } else {
            self.agreement
                .mismatches
                .push(format!("{what}: device embedding differs from the host's"));
        }
        equal
    }

    fn compare_decision(&mut self, what: &str, equal: bool) {
        self.agreement.decisions += 1;
        if equal {
            self.agreement.decisions_equal += 1;
        } else {
            self.agreement
                .mismatches
                .push(format!("{what}: device decision differs from the host's"));
        }
    }

    /// Enrols `id` from `images`; returns the templates stored now.
    pub fn enroll(&mut self, id: &str, images: &[GreyImage]) -> Result<u16, CheckError> {
        let mut host_embeddings = Vec::new();
        for (i, image) in images.iter().enumerate() {
            let (frame, host) = self.frame_and_host(image)?;
            let answer = self.client.enroll_frame(id, &frame)?;
            self.compare_embedding(&format!("enrol {id} #{i}"), &answer.embedding, &host);
            host_embeddings.push(host);
        }
        let committed = self.client.enroll_commit(id)?;
        self.templates
            .push((id.to_string(), template(&host_embeddings)));
        self.order_known = false;
        Ok(committed.templates)
    }

    /// Deletes `id` on the device and from the host's templates.
    pub fn delete(&mut self, id: &str) -> Result<u16, CheckError> {
        let left = self.client.delete(id)?;
        self.templates.retain(|(t, _)| t != id);
        Ok(left)
    }

    /// 1:1 — `image` (of `truth`) claimed to be `claimed`.
    pub fn verify(
        &mut self,
        claimed: &str,
        truth: &str,
        image: &GreyImage,
    ) -> Result<Probe, CheckError> {
        let (frame, host) = self.frame_and_host(image)?;
        let report = self.client.verify(claimed, &frame)?;
        let what = format!("verify {truth} as {claimed}");
        let embedding_equal = self.compare_embedding(&what, &report.embedding, &host);
        let host_decision = self
            .templates
            .iter()
            .find(|(id, _)| id == claimed)
            .map(|(_, t)| self.host.decide(&host, t));
        let host_agrees = host_decision
            .is_some_and(|d| d.accepted == report.accepted && d.distance == report.distance)
            && report.threshold == self.host.threshold();
        self.compare_decision(&what, host_agrees);
        Ok(Probe {
            truth: truth.to_string(),
            claimed: Some(claimed.to_string()),
            nearest: None,
            accepted: report.accepted,
            host_agrees,
            distance: report.distance,
            threshold: report.threshold,
            cost: report.cost,
            embedding_equal,
        })
    }

    /// Puts the host's templates in the device's store order (identification breaks ties by it).
    fn sync_order(&mut self) -> Result<(), CheckError> {
        if self.order_known {
            return Ok(());
        }
        let order = self.client.list()?;
        self.templates
            .sort_by_key(|(id, _)| order.iter().position(|o| o == id).unwrap_or(usize::MAX));
        self.order_known = true;
        Ok(())
    }

    /// 1:N — who is `image` (of `truth`)?
    pub fn identify(&mut self, truth: &str, image: &GreyImage) -> Result<Probe, CheckError> {
        self.sync_order()?;
        let (frame, host) = self.frame_and_host(image)?;
        let report = self.client.identify(&frame)?;
        let what = format!("identify {truth}");
        let embedding_equal = self.compare_embedding(&what, &report.embedding, &host);
        let templates: Vec<Vec<i8>> = self.templates.iter().map(|(_, t)| t.clone()).collect();
        let host_id = self.host.identify(&host, &templates);
        let device_best = report.best.as_ref().map(|c| (c.id.as_str(), c.distance));
        let host_best = host_id.best.map(|(i, d)| (self.templates[i].0.as_str(), d));
        let host_agrees = device_best == host_best
            && host_id.accepted == report.accepted
            && usize::from(report.compared) == templates.len();
        self.compare_decision(&what, host_agrees);
        Ok(Probe {
            truth: truth.to_string(),
            claimed: None,
            nearest: report.best.as_ref().map(|c| c.id.as_str().to_string()),
            accepted: report.accepted,
            host_agrees,
            distance: report.best.as_ref().map_or(i32::MAX, |c| c.distance),
            threshold: report.threshold,
            cost: report.cost,
            embedding_equal,
        })
    }
}

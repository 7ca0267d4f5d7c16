//! The protocol client: one request, one response, each within a timeout.
//!
//! Every request is sent as `0x00 ‖ frame` (the leading delimiter is an empty frame the device
//! ignores: it flushes whatever a broken sender left on the line), then bytes are read up to the
//! next `0x00` and decoded as a [`Response`]. A [`Response::Error`] becomes
//! [`ClientError::Device`]; every error names the command it answered.

use super::frames::DeviceFrame;
use super::port::{self, Link, PortError, PortSpec};
use facegate_shared::blob::crc32::crc32;
use facegate_shared::device::auth::{self, ADMIN_KEY_LEN, NONCE_LEN};
use facegate_shared::protocol::{
    decode_frame, encode_frame, DeviceInfo, Embedding, ErrorCode, FrameError, IdentifyReport,
    ModelInfo, PersonId, ProfileReport, Request, Response, SelfTestReport, Slot, VerifyReport,
    CHUNK_MAX, CRC_BYTES, MAX_FRAME, MAX_MESSAGE, PROTOCOL_VERSION,
};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// How long a request may take by default: an embedding is ~0.1 s in QEMU without `-icount`,
/// seconds under `-icount shift=6`, and ~1 s on a 64 MHz part.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Client::open`] keeps trying to connect to a TCP port.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// A failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The link could not be opened.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Writing the request or reading the answer failed.
    #[error("{command}: {source}")]
    Io {
        /// The request.
        command: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// No complete answer within the timeout.
    #[error("{command}: no answer within {after:?} ({received} bytes of a response received)")]
    Timeout {
        /// The request.
        command: &'static str,
        /// The timeout.
        after: Duration,
        /// Bytes received before giving up.
        received: usize,
    },
    /// The device closed the link.
    #[error("{command}: the device closed the connection")]
    Closed {
        /// The request.
        command: &'static str,
    },
    /// The answer is not a valid response frame.
    #[error("{command}: bad response frame: {error}")]
    Frame {
        /// The request.
        command: &'static str,
        /// What was wrong.
        error: FrameError,
    },
    /// The request does not fit a frame (e.g. a frame larger than the protocol allows).
    #[error("{command}: cannot encode the request: {error}")]
    Encode {
        /// The request.
        command: &'static str,
        /// What was wrong.
        error: FrameError,
    },
    /// The device answered with an error.
    #[error("{command}: the device refused: {code}")]
    Device {
        /// The request.
        command: &'static str,
        /// The device's code.
        code: ErrorCode,
    },
    /// The device answered with another response than the request's.
    #[error("{command}: unexpected answer {got}")]
    Unexpected {
        /// The request.
        command: &'static str,
        /// The answer's variant.
        got: &'static str,
    },
    /// The device speaks another protocol version.
    #[error("the device speaks protocol version {device}, this host {host}: update one of them")]
    Version {
        /// The device's version.
        device: u16,
        /// Ours.
        host: u16,
    },
    /// A person id the protocol cannot carry.
    #[error("bad id {id:?}: 1 to {max} bytes of UTF-8", max = facegate_shared::protocol::ID_MAX)]
    BadId {
        /// The id.
        id: String,
    },
}

impl ClientError {
    /// The device's error code, if the device refused.
    pub fn device_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Device { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// The request's name, for errors and logs.
pub fn command_name(request: &Request<'_>) -> &'static str {
    match request {
        Request::Info => "Info",
        Request::SelfTest => "SelfTest",
        Request::ModelBegin { .. } => "ModelBegin",
        Request::ModelChunk { .. } => "ModelChunk",
        Request::ModelCommit => "ModelCommit",
        Request::Enroll { .. } => "Enroll",
        Request::EnrollCommit { .. } => "EnrollCommit",
        Request::Delete { .. } => "Delete",
        Request::List { .. } => "List",
        Request::Verify { .. } => "Verify",
        Request::Identify { .. } => "Identify",
        Request::Profile { .. } => "Profile",
        Request::Challenge => "Challenge",
        Request::Authenticate { .. } => "Authenticate",
        Request::EndSession => "EndSession",
    }
}

/// The response's name, for errors.
pub fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Info(_) => "Info",
        Response::SelfTest(_) => "SelfTest",
        Response::ModelBegun { .. } => "ModelBegun",
        Response::ModelChunk { .. } => "ModelChunk",
        Response::ModelCommitted(_) => "ModelCommitted",
        Response::Enrolled { .. } => "Enrolled",
        Response::EnrollCommitted { .. } => "EnrollCommitted",
        Response::Deleted { .. } => "Deleted",
        Response::List(_) => "List",
        Response::Verify(_) => "Verify",
        Response::Identify(_) => "Identify",
        Response::Profile(_) => "Profile",
        Response::Error(_) => "Error",
        Response::Challenge { .. } => "Challenge",
        Response::Authenticated => "Authenticated",
        Response::SessionEnded => "SessionEnded",
    }
}

/// A person id for the protocol.
pub fn person_id(id: &str) -> Result<PersonId, ClientError> {
    if id.is_empty() {
        return Err(ClientError::BadId { id: id.into() });
    }
    PersonId::try_from(id).map_err(|_| ClientError::BadId { id: id.into() })
}

/// What one `Enroll` frame answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// Frames in the pending enrolment.
    pub frames: u16,
    /// The frame's embedding.
    pub embedding: Embedding,
}

/// What `EnrollCommit` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollCommitted {
    /// Frames the template averages.
    pub frames: u16,
    /// Templates stored now.
    pub templates: u16,
}

/// A connection to one device.
pub struct Client {
    link: Box<dyn Link>,
    timeout: Duration,
    scratch: Vec<u8>,
    out: Vec<u8>,
    rx: Vec<u8>,
    pending: Vec<u8>,
}

/// Picks the payload of the expected response variant, or says what came instead.
macro_rules! expect {
    ($command:expr, $response:expr, $pattern:pat => $value:expr) => {
        match $response {
            $pattern => Ok($value),
            other => Err(ClientError::Unexpected {
                command: $command,
                got: response_name(&other),
            }),
        }
    };
}

impl Client {
    /// A client over an open link (no handshake: see [`Client::handshake`]).
    pub fn new(link: Box<dyn Link>) -> Self {
        Self {
            link,
            timeout: DEFAULT_TIMEOUT,
            scratch: vec![0; MAX_MESSAGE + CRC_BYTES],
            out: vec![0; MAX_FRAME + 2],
            rx: Vec::with_capacity(4096),
            pending: Vec::new(),
        }
    }

    /// Opens `spec` and checks the device's protocol version ([`Client::handshake`]).
    pub fn open(spec: &PortSpec) -> Result<(Self, DeviceInfo), ClientError> {
        let mut client = Self::new(port::open(spec, CONNECT_WITHIN)?);
        let info = client.handshake()?;
        Ok((client, info))
    }

    /// Sets the timeout of each request from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The timeout of each request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `Info` and refuses a device with another [`PROTOCOL_VERSION`].
    pub fn handshake(&mut self) -> Result<DeviceInfo, ClientError> {
        let info = self.info()?;
        if info.protocol_version != PROTOCOL_VERSION {
            return Err(ClientError::Version {
                device: info.protocol_version,
                host: PROTOCOL_VERSION,
            });
        }
        Ok(info)
    }

    /// Sends one request and returns the answer as it came, [`Response::Error`] included.
    pub fn exchange(&mut self, request: &Request<'_>) -> Result<Response, ClientError> {
        let command = command_name(request);
        self.out[0] = 0;
        let len = encode_frame(request, &mut self.scratch, &mut self.out[1..])
            .map_err(|error| ClientError::Encode { command, error })?;
        let bytes = self.out[..1 + len].to_vec();
        self.send_bytes(command, &bytes)
    }

    /// Sends `request`; a [`Response::Error`] becomes [`ClientError::Device`].
    pub fn call(&mut self, request: &Request<'_>) -> Result<Response, ClientError> {
        let command = command_name(request);
        match self.exchange(request)? {
            Response::Error(code) => Err(ClientError::Device { command, code }),
            other => Ok(other),
        }
    }

    /// Writes raw `bytes` (anything: garbage, a truncated frame, …) and reads one response.
    pub fn send_bytes(
        &mut self,
        command: &'static str,
        bytes: &[u8],
    ) -> Result<Response, ClientError> {
        let io = |source| ClientError::Io { command, source };
        self.link.write_all(bytes).map_err(io)?;
        self.link.flush().map_err(io)?;
        self.read_response(command)
    }

    /// Reads bytes up to the next delimiter (skipping empty frames) and decodes them. Bytes
    /// after that delimiter (a device that answered several frames at once, e.g. to garbage with
    /// zeros in it) are kept for the next call.
    fn read_response(&mut self, command: &'static str) -> Result<Response, ClientError> {
        let deadline = Instant::now() + self.timeout;
        self.rx.clear();
        let mut chunk = [0u8; 512];
        loop {
            let pending = std::mem::take(&mut self.pending);
            for (i, &byte) in pending.iter().enumerate() {
                if byte != 0 {
                    if self.rx.len() >= MAX_FRAME {
                        return Err(ClientError::Frame {
                            command,
                            error: FrameError::TooLong,
                        });
                    }
                    self.rx.push(byte);
                } else if !self.rx.is_empty() {
                    self.pending = pending[i + 1..].to_vec();
                    return decode_frame::<Response>(&mut self.rx)
                        .map_err(|error| ClientError::Frame { command, error });
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    command,
                    after: self.timeout,
                    received: self.rx.len(),
                });
            }
            self.link
                .set_read_timeout(deadline - now)
                .map_err(|source| ClientError::Io { command, source })?;
            match self.link.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed { command }),
                Ok(n) => self.pending = chunk[..n].to_vec(),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(source) => return Err(ClientError::Io { command, source }),
            }
        }
    }

    /// `Challenge`: a fresh nonce from the device.
    pub fn challenge(&mut self) -> Result<[u8; NONCE_LEN], ClientError> {
        expect!("Challenge", self.call(&Request::Challenge)?,
            Response::Challenge { nonce } => nonce)
    }

    /// Opens an admin session: `Challenge`, then `Authenticate` with the answer of `admin_key`
    /// ([`facegate_shared::device::auth::answer`]). Enrol, delete and model updates need one.
    pub fn authenticate(&mut self, admin_key: &[u8; ADMIN_KEY_LEN]) -> Result<(), ClientError> {
        let nonce = self.challenge()?;
        let mac = auth::answer(admin_key, &nonce);
        expect!("Authenticate", self.call(&Request::Authenticate { mac })?,
            Response::Authenticated => ())
    }

    /// `EndSession`: closes the admin session.
    pub fn end_session(&mut self) -> Result<(), ClientError> {
        expect!("EndSession", self.call(&Request::EndSession)?, Response::SessionEnded => ())
    }

    /// `Info`.
    pub fn info(&mut self) -> Result<DeviceInfo, ClientError> {
        expect!("Info", self.call(&Request::Info)?, Response::Info(info) => info)
    }

    /// `SelfTest`: the active model's golden vectors.
    pub fn self_test(&mut self) -> Result<SelfTestReport, ClientError> {
        expect!("SelfTest", self.call(&Request::SelfTest)?, Response::SelfTest(r) => r)
    }

    /// `ModelBegin`: returns the slot being written.
    pub fn model_begin(&mut self, len: u32, crc: u32) -> Result<Slot, ClientError> {
        let r = self.call(&Request::ModelBegin { len, crc })?;
        expect!("ModelBegin", r, Response::ModelBegun { slot } => slot)
    }

    /// `ModelChunk`: returns the next expected offset.
    pub fn model_chunk(&mut self, offset: u32, bytes: &[u8]) -> Result<u32, ClientError> {
        let r = self.call(&Request::ModelChunk { offset, bytes })?;
        expect!("ModelChunk", r, Response::ModelChunk { next } => next)
    }

    /// `ModelCommit`.
    pub fn model_commit(&mut self) -> Result<ModelInfo, ClientError> {
        let r = self.call(&Request::ModelCommit)?;
        expect!("ModelCommit", r, Response::ModelCommitted(info) => info)
    }

    /// Writes `blob` into the inactive slot in [`CHUNK_MAX`] chunks and commits it; `progress`
    /// gets the bytes written so far after each chunk.
    pub fn flash_model(
        &mut self,
        blob: &[u8],
        mut progress: impl FnMut(usize),
    ) -> Result<ModelInfo, ClientError> {
        let len = u32::try_from(blob.len()).map_err(|_| ClientError::Device {
            command: "ModelBegin",
            code: ErrorCode::ModelSize { max: u32::MAX },
        })?;
        self.model_begin(len, crc32(blob))?;
        let mut offset = 0usize;
        for chunk in blob.chunks(CHUNK_MAX) {
            let next = self.model_chunk(offset as u32, chunk)?;
            offset += chunk.len();
            if next as usize != offset {
                return Err(ClientError::Device {
                    command: "ModelChunk",
                    code: ErrorCode::OutOfOrder { expected: next },
                });
            }
            progress(offset);
        }
        self.model_commit()
    }

    /// One `Enroll` frame.
    pub fn enroll_frame(&mut self, id: &str, frame: &DeviceFrame) -> Result<Enrolled, ClientError> {
        let request = Request::Enroll {
            id: person_id(id)?,
            frame: frame.as_frame(),
        };
        expect!("Enroll", self.call(&request)?,
            Response::Enrolled { frames, embedding } => Enrolled { frames, embedding })
    }

    /// `EnrollCommit`: stores the pending enrolment's template.
    pub fn enroll_commit(&mut self, id: &str) -> Result<EnrollCommitted, ClientError> {
        let request = Request::EnrollCommit { id: person_id(id)? };
        expect!("EnrollCommit", self.call(&request)?,
            Response::EnrollCommitted { frames, templates } => EnrollCommitted { frames, templates })
    }

    /// Enrols `id` from `frames` (each frame's answer, then the commit's).
    pub fn enroll(
        &mut self,
        id: &str,
        frames: &[DeviceFrame],
    ) -> Result<(Vec<Enrolled>, EnrollCommitted), ClientError> {
        let answers = frames
            .iter()
            .map(|f| self.enroll_frame(id, f))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((answers, self.enroll_commit(id)?))
    }

    /// `Delete`: returns the templates left.
    pub fn delete(&mut self, id: &str) -> Result<u16, ClientError> {
        let request = Request::Delete { id: person_id(id)? };
        expect!("Delete", self.call(&request)?, Response::Deleted { templates } => templates)
    }

    /// `List`, page after page: every enrolled id, in store order.
    pub fn list(&mut self) -> Result<Vec<String>, ClientError> {
        let mut ids = Vec::new();
        let mut start = 0u16;
        loop {
            let page = expect!("List", self.call(&Request::List { start })?,
                Response::List(page) => page)?;
            ids.extend(page.ids.iter().map(|id| id.as_str().to_string()));
            match page.next(start) {
                Some(next) => start = next,
                None => return Ok(ids),
            }
        }
    }

    /// `Verify`: is `frame` the person `id`?
    pub fn verify(&mut self, id: &str, frame: &DeviceFrame) -> Result<VerifyReport, ClientError> {
        let request = Request::Verify {
            id: person_id(id)?,
            frame: frame.as_frame(),
        };
        expect!("Verify", self.call(&request)?, Response::Verify(r) => r)
    }

    /// `Identify`: who is in `frame`?
    pub fn identify(&mut self, frame: &DeviceFrame) -> Result<IdentifyReport, ClientError> {
        let request = Request::Identify {
            frame: frame.as_frame(),
        };
        expect!("Identify", self.call(&request)?, Response::Identify(r) => r)
    }

    /// `Profile`: each layer's cost for `frame`.
    pub fn profile(&mut self, frame: &DeviceFrame) -> Result<ProfileReport, ClientError> {
        let request = Request::Profile {
            frame: frame.as_frame(),
        };
        expect!("Profile", self.call(&request)?, Response::Profile(r) => r)
    }
}

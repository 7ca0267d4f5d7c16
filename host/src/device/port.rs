//! Where the device is, and the byte link to it.
//!
//! `--port` takes a serial device path (`/dev/ttyACM0`, `COM3`; optionally `@BAUD`, default
//! 115,200) or `tcp:HOST:PORT` for QEMU's UART on a socket. Both give a [`Link`]: a blocking
//! byte stream whose reads time out.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Default serial speed.
pub const DEFAULT_BAUD: u32 = 115_200;

/// A `--port` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// A serial port.
    Serial {
        /// Device path (`/dev/ttyACM0`).
        path: String,
        /// Speed in baud.
        baud: u32,
    },
    /// A TCP socket (QEMU's `-serial tcp:...`).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

/// Why a link could not be opened or configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The `--port` text is not a path or `tcp:HOST:PORT`.
    #[error("bad port {text:?}: {why} (expected a serial path like /dev/ttyACM0[@115200] or tcp:HOST:PORT)")]
    Parse {
        /// The text.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The serial port could not be opened.
    #[error("cannot open serial port {path}: {source}")]
    Serial {
        /// Its path.
        path: String,
        /// The driver's error.
        source: serialport::Error,
    },
    /// Nothing accepted a TCP connection in time.
    #[error("cannot connect to {addr} within {within:?}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// How long it tried.
        within: Duration,
        /// The last error.
        source: std::io::Error,
    },
    /// Setting a timeout failed.
    #[error("cannot configure the link: {0}")]
    Configure(std::io::Error),
}

impl FromStr for PortSpec {
    type Err = PortError;

    fn from_str(text: &str) -> Result<Self, PortError> {
        let bad = |why| PortError::Parse {
            text: text.to_string(),
            why,
        };
        if let Some(rest) = text.strip_prefix("tcp:") {
            let (host, port) = rest.rsplit_once(':').ok_or(bad("no :PORT"))?;
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            let port = port
                .parse()
                .map_err(|_| bad("port is not a number 0..=65535"))?;
            return Ok(Self::Tcp {
                host: host.to_string(),
                port,
            });
        }
        if text.is_empty() {
            return Err(bad("empty"));
        }
        let (path, baud) = match text.rsplit_once('@') {
            Some((path, baud)) => (
                path,
                baud.parse()
                    .map_err(|_| bad("baud after @ is not a number"))?,
            ),
            None => (text, DEFAULT_BAUD),
        };
        Ok(Self::Serial {
            path: path.to_string(),
            baud,
        })
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Serial { path, baud } => write!(f, "{path}@{baud}"),
            Self::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

/// A byte stream to a device: blocking writes, reads that give up after the read timeout.
pub trait Link: Read + Write + Send {
    /// Sets how long one `read` may block.
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()>;
}

impl Link for TcpStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, Some(timeout.max(Duration::from_millis(1))))
    }
}

impl Link for Box<dyn serialport::SerialPort> {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.set_timeout(timeout).map_err(std::io::Error::from)
    }
}

/// Connects to `host:port`, retrying until `within` has passed (QEMU opens its socket a moment
/// after it starts). Nagle is off: requests are one write each and the device answers at once.
pub fn connect_tcp(host: &str, port: u16, within: Duration) -> Result<TcpStream, PortError> {
    let addr = format!("{host}:{port}");
    let start = Instant::now();
    loop {
        let attempt = addr
            .to_socket_addrs()
            .and_then(|mut addrs| {
                addrs
                    .next()
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
            })
            .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)));
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(PortError::Configure)?;
                return Ok(stream);
            }
            Err(source) if start.elapsed() >= within => {
                return Err(PortError::Connect {
                    addr,
                    within,
                    source,
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// Opens the link `spec` names (TCP: retrying for up to `connect_within`).
pub fn open(spec: &PortSpec, connect_within: Duration) -> Result<Box<dyn Link>, PortError> {
    match spec {
        PortSpec::Tcp { host, port } => Ok(Box::new(connect_tcp(host, *port, connect_within)?)),
        PortSpec::Serial { path, baud } => {
            let port = serialport::new(path, *baud)
                .timeout(Duration::from_secs(1))
                .open()
                .map_err(|source| PortError::Serial {
                    path: path.clone(),
                    source,
                })?;
            Ok(Box::new(port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse() {
        struct Case {
            text: &'static str,
            want: Option<PortSpec>,
        }
        let serial = |path: &str, baud| {
            Some(PortSpec::Serial {
                path: path.into(),
                baud,
            })
        };
        let tcp = |host: &str, port| {
            Some(PortSpec::Tcp {
                host: host.into(),
                port,
            })
        };
        let cases = [
            Case {
                text: "/dev/ttyACM0",
                want: serial("/dev/ttyACM0", DEFAULT_BAUD),
            },
            Case {
                text: "/dev/ttyUSB1@921600",
                want: serial("/dev/ttyUSB1", 921_600),
            },
            Case {
                text: "COM3",
                want: serial("COM3", DEFAULT_BAUD),
            },
            Case {
                text: "tcp:127.0.0.1:4555",
                want: tcp("127.0.0.1", 4555),
            },
            Case {
                text: "tcp:localhost:1",
                want: tcp("localhost", 1),
            },
            Case {
                text: "tcp:[::1]:80",
                want: tcp("[::1]", 80),
            },
            // Edge cases: no port, a port out of range, no host, nothing at all, a bad baud.
            Case {
                text: "tcp:127.0.0.1",
                want: None,
            },
            Case {
                text: "tcp:127.0.0.1:65536",
                want: None,
            },
            Case {
                text: "tcp::4555",
                want: None,
            },
            Case {
                text: "",
                want: None,
            },
            Case {
                text: "/dev/ttyACM0@fast",
                want: None,
            },
        ];
        for case in cases {
            assert_eq!(
                case.text.parse::<PortSpec>().ok(),
                case.want,
                "{:?}",
                case.text
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["tcp:127.0.0.1:4555", "/dev/ttyACM0@115200"] {
            assert_eq!(text.parse::<PortSpec>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn connecting_to_nothing_fails_after_the_deadline() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = connect_tcp("127.0.0.1", port, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, PortError::Connect { .. }), "{err}");
    }
}

//! The device application in-process: the same [`Device::serve`] the firmware runs, on an
//! in-memory NOR flash ([`MemFlash`], real NOR rules) and a loopback TCP socket instead of the
//! UART. For tests of the client and the commands without QEMU; the flash survives
//! reconnections (each connection is a reboot: the device re-reads its boot record).

use facegate_shared::device::{BoardMemory, Device, DeviceKeys, MemFlash, Partitions, Platform};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

/// Partition sizes of the QEMU board (firmware/memory/mps2-an386.x).
pub const SLOT_BYTES: usize = 160 * 1024;
/// Template store bytes.
pub const STORE_BYTES: usize = 64 * 1024;
/// Boot record bytes.
pub const BOOT_BYTES: usize = 8 * 1024;
/// The firmware's arena.
pub const ARENA_BYTES: usize = 33 * 1024;

/// The flash of one simulated chip.
#[derive(Debug, Clone)]
pub struct SimChip {
    /// Model slot A.
    pub slot_a: Vec<u8>,
    /// Model slot B.
    pub slot_b: Vec<u8>,
    /// Template store.
    pub store: Vec<u8>,
    /// Boot record.
    pub boot: Vec<u8>,
}

impl SimChip {
    /// Every byte erased; `factory` (if any) linked into slot A as the firmware does.
    pub fn new(factory: Option<&[u8]>) -> Self {
        let mut chip = Self {
            slot_a: vec![0xFF; SLOT_BYTES],
            slot_b: vec![0xFF; SLOT_BYTES],
            store: vec![0xFF; STORE_BYTES],
            boot: vec![0xFF; BOOT_BYTES],
        };
        if let Some(blob) = factory {
            let n = blob.len().min(SLOT_BYTES);
            chip.slot_a[..n].copy_from_slice(&blob[..n]);
        }
        chip
    }
}

/// A board with a nanosecond clock at the QEMU timer's 25 MHz and no memory figures.
struct SimBoard {
    start: Instant,
}

impl Platform for SimBoard {
    fn now(&mut self) -> u32 {
        (self.start.elapsed().as_nanos() / 40) as u32
    }
    fn tick_hz(&self) -> u32 {
        25_000_000
    }
    fn memory(&mut self) -> BoardMemory {
        BoardMemory::default()
    }
    fn firmware_version(&self) -> &str {
        "host-sim"
    }
}

/// An I/O error as `embedded-io` wants it.
#[derive(Debug)]
struct SimIoError(std::io::ErrorKind);

impl std::fmt::Display for SimIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "socket error: {}", self.0)
    }
}

impl std::error::Error for SimIoError {}

impl embedded_io::Error for SimIoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0 {
            std::io::ErrorKind::TimedOut => embedded_io::ErrorKind::TimedOut,
            std::io::ErrorKind::Interrupted => embedded_io::ErrorKind::Interrupted,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

/// A socket as the device's UART.
struct Uart(TcpStream);

impl embedded_io::ErrorType for Uart {
    type Error = SimIoError;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, SimIoError> {
        // A reset connection is the end of the stream, as is a clean close.
        match self.0.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(0),
            Err(e) => Err(SimIoError(e.kind())),
        }
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, SimIoError> {
        self.0.write(buf).map_err(|e| SimIoError(e.kind()))
    }
    fn flush(&mut self) -> Result<(), SimIoError> {
        self.0.flush().map_err(|e| SimIoError(e.kind()))
    }
}

/// A simulated device serving on a loopback port (the thread lives as long as the process).
pub struct SimDevice {
    port: u16,
}

impl SimDevice {
    /// Starts serving `chip` on a free loopback port, provisioned with the QEMU test keys
    /// ([`super::keys::test_device_keys`]).
    pub fn spawn(chip: SimChip) -> std::io::Result<Self> {
        let keys = super::keys::test_device_keys().map_err(std::io::Error::other)?;
        Self::spawn_with(chip, keys)
    }

    /// Starts serving `chip` with `keys` on a free loopback port.
    pub fn spawn_with(chip: SimChip, keys: DeviceKeys) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || serve(listener, chip, keys));
        Ok(Self { port })
    }

    /// Where to connect.
    pub fn spec(&self) -> super::PortSpec {
        super::PortSpec::Tcp {
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }
}

fn serve(listener: TcpListener, mut chip: SimChip, keys: DeviceKeys) {
    let mut rx = vec![0u8; facegate_shared::protocol::MAX_FRAME];
    let mut arena = vec![0u8; ARENA_BYTES];
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let mut device = Device::new(
            Partitions {
                slot_a: MemFlash::new(&mut chip.slot_a, None),
                slot_b: MemFlash::new(&mut chip.slot_b, None),
                store: MemFlash::new(&mut chip.store, None),
                boot: MemFlash::new(&mut chip.boot, None),
            },
            SimBoard {
                start: Instant::now(),
            },
            keys.clone(),
        );
        // Ends at the connection's end (or a socket error): the next connection reboots.
        let _ = device.serve(&mut Uart(stream), &mut rx, &mut arena);
    }
}

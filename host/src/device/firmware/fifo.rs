//! The `--pipe-in/--pipe-out` FIFOs as a [`Link`].

use super::Link;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Creates the two FIFOs in `dir` (`mkfifo`; existing ones are replaced).
pub fn create(dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let (input, output) = super::fifo_paths(dir);
    for path in [&input, &output] {
        let _ = std::fs::remove_file(path);
        let status = Command::new("mkfifo").arg(path).status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "mkfifo {} failed",
                path.display()
            )));
        }
    }
    Ok((input, output))
}

/// The host's ends: it writes the firmware's input, a thread reads its output.
pub struct FifoLink {
    tx: File,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    timeout: Duration,
}

/// Opens the firmware's input for writing, then its output for reading (the order the
/// firmware opens them in; each open blocks until the other side's), giving up if QEMU
/// exits first or within 10 s.
pub fn open(input: &Path, output: &Path, qemu: &mut Child) -> std::io::Result<FifoLink> {
    let (done, opened) = mpsc::channel();
    let (i, o) = (input.to_path_buf(), output.to_path_buf());
    std::thread::spawn(move || {
        let both = OpenOptions::new()
            .write(true)
            .open(&i)
            .and_then(|tx| File::open(&o).map(|rx| (tx, rx)));
        let _ = done.send(both);
    });
    let start = Instant::now();
    let (tx, mut rx_file) = loop {
        match opened.recv_timeout(Duration::from_millis(10)) {
            Ok(both) => break both?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(std::io::Error::other("the FIFO opener died"))
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let exited = qemu.try_wait().ok().flatten().is_some();
        if exited || start.elapsed() > Duration::from_secs(10) {
            // Opening read-write never blocks on Linux, and releases the blocked opener.
            let held: Vec<_> = [input, output]
                .into_iter()
                .filter_map(|path| OpenOptions::new().read(true).write(true).open(path).ok())
                .collect();
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "QEMU did not open its FIFOs",
            ));
        }
    };
    let (chunks, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while let Ok(n @ 1..) = rx_file.read(&mut buf) {
            if chunks.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    Ok(FifoLink {
        tx,
        rx,
        pending: Vec::new(),
        timeout: Duration::from_secs(60),
    })
}

impl Read for FifoLink {
    /// What the firmware wrote, waiting up to the read timeout; 0 once it closed its end.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv_timeout(self.timeout) {
                Ok(chunk) => self.pending = chunk,
                Err(RecvTimeoutError::Timeout) => return Err(std::io::ErrorKind::TimedOut.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for FifoLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tx.flush()
    }
}

impl Link for FifoLink {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.timeout = timeout.max(Duration::from_millis(1));
        Ok(())
    }
}

//! The product: `facegate_shared::device` (the portable command loop, template store and A/B
//! model slots) served over UART0, on this board's flash partitions and cost counter.

use crate::board::{exit, log, Board, CostCounter, NorPartition};
use crate::layout::{self, Layout};
use crate::statics::StaticBuffer;
use facegate_shared::device::{
    BoardMemory, Device, DeviceKeys, Partition, Partitions, Platform, ServeError,
};

/// The keys this firmware trusts, from build.rs (`FACEGATE_MODEL_PUBKEY`, `FACEGATE_ADMIN_KEY`;
/// by default the committed QEMU test keys in keys/, which must never ship).
mod keys {
    include!(concat!(env!("OUT_DIR"), "/keys.rs"));
}

/// The cost counter's rate: TIMER0's 25 MHz APB clock on QEMU, the CPU's 64 MHz on the nRF52840
/// (its DWT cycle counter).
#[cfg(not(feature = "board-nrf52840"))]
const TICK_HZ: u32 = 25_000_000;
#[cfg(feature = "board-nrf52840")]
const TICK_HZ: u32 = 64_000_000;
use facegate_shared::protocol::MAX_FRAME;

/// The receive buffer: one encoded frame; the app decodes it in place, uses it as the frame
/// buffer and encodes the response into it.
static RX: StaticBuffer<MAX_FRAME> = StaticBuffer::new();

impl Partition for NorPartition {
    fn mapped(&self) -> &[u8] {
        NorPartition::mapped(self)
    }
}

/// The cost counter and the memory figures the app reports in `Info`.
pub struct QemuPlatform {
    timer: CostCounter,
}

fn bytes(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Platform for QemuPlatform {
    fn now(&mut self) -> u32 {
        self.timer.ticks()
    }

    fn tick_hz(&self) -> u32 {
        TICK_HZ
    }

    fn memory(&mut self) -> BoardMemory {
        let l = Layout::get();
        BoardMemory {
            ram_total: bytes(l.ram.len()),
            ram_static: bytes(l.statics.len()),
            stack_peak: bytes(layout::stack_peak()),
            flash_code: bytes(l.code_used.len()),
        }
    }

    fn firmware_version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }
}

/// Serves the protocol for ever.
#[inline(always)]
pub fn run(board: Board, arena: &'static mut [u8]) -> ! {
    let Some(rx) = RX.take() else { exit(false) };
    let Board {
        mut uart,
        timer,
        flash,
        pipe,
    } = board;
    log(format_args!(
        "facegate firmware {}: serving the protocol on UART0; flash {}",
        env!("CARGO_PKG_VERSION"),
        if flash.persistent {
            "persistent"
        } else {
            "in RAM only (no --flash file: lost at exit)"
        }
    ));
    let parts = Partitions {
        slot_a: flash.slot_a,
        slot_b: flash.slot_b,
        store: flash.store,
        boot: flash.boot,
    };
    if keys::TEST_KEYS {
        log(format_args!(
            "facegate: built with the QEMU TEST keys (firmware/keys/): not for a real device"
        ));
    }
    let keys = DeviceKeys {
        model_key: keys::MODEL_KEY,
        admin_key: keys::ADMIN_KEY,
    };
    let mut device = Device::new(parts, QemuPlatform { timer }, keys);
    if let Some(mut pipe) = pipe {
        log(format_args!(
            "facegate: serving on the --pipe FIFOs instead"
        ));
        // Until the host closes its end (Ok: end of stream) or the FIFO fails.
        let ended = device.serve(&mut pipe, rx, arena);
        exit(ended.is_ok())
    }
    loop {
        match device.serve(&mut uart, rx, arena) {
            // The UART never ends; a receive overrun lost a byte, which the frame's COBS and
            // CRC turn into an error response: serve again from the next frame.
            Ok(()) | Err(ServeError::Read(_)) | Err(ServeError::Write(_)) => {}
            Err(_) => {
                log(format_args!("facegate: receive buffer too small"));
                exit(false)
            }
        }
    }
}

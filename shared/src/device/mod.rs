//! The portable device application: the command loop behind the [`crate::protocol`], the
//! power-fail-safe template store, and the A/B model slots with their boot record.
//!
//! Generic over the board: `embedded-io` [`Read`](embedded_io::Read) + [`Write`](embedded_io::Write)
//! for the byte stream, a [`Partition`] (an `embedded-storage` NOR flash that can also lend its
//! bytes memory-mapped) for each flash region, and a [`Platform`] for the cost counter and the
//! memory figures. Every buffer is the caller's: the receive buffer (also the frame buffer and
//! the response buffer) and the activation arena. Tested on the host with [`mem_flash`].
//!
//! Flash (see [`Partitions`]): model slots A and B (models are parsed and run in place from
//! [`Partition::mapped`]), the template store (a `sequential-storage` map) and the boot record
//! (two pages, one record each; the newest valid one names the active slot: [`boot`]).

pub mod app;
pub mod attempts;
pub mod auth;
pub mod boot;
mod embed;
pub mod mem_flash;
mod models;
mod people;
pub mod store;
pub mod template;
pub mod trust;
mod update;

#[cfg(test)]
mod tests;

pub use app::{Device, ServeError, MAX_ENROLL_FRAMES, TEMPLATE_CAPACITY};

pub use mem_flash::{MemFlash, MemFlashError, PowerCut};

use embedded_storage::nor_flash::{MultiwriteNorFlash, NorFlash};

/// One flash region as the application sees it: erase and program through
/// [`NorFlash`] (offsets from the region's start), read in place through [`Partition::mapped`].
///
/// A program must only clear bits (`MultiwriteNorFlash`), as NOR does.
pub trait Partition: NorFlash + MultiwriteNorFlash {
    /// The whole region, memory-mapped: `mapped().len()` is its capacity.
    fn mapped(&self) -> &[u8];
}

/// The four flash regions the application uses, each its own offset space from 0.
///
/// Sizes on the QEMU board (firmware/memory/mps2-an386.x): slots 160 KiB each, store 64 KiB,
/// boot 8 KiB; every region a whole number of erase pages. The slots must hold a model, the
/// store at least [`TEMPLATE_CAPACITY`] templates (≈ 4 pages plus the map's spare), the boot
/// region exactly two pages.
#[derive(Debug)]
pub struct Partitions<P> {
    /// Model slot A (the factory model, if any, is linked here).
    pub slot_a: P,
    /// Model slot B.
    pub slot_b: P,
    /// The template store.
    pub store: P,
    /// The boot record.
    pub boot: P,
}

impl<P> Partitions<P> {
    /// The slot's partition.
    pub fn slot(&self, slot: crate::protocol::Slot) -> &P {
        match slot {
            crate::protocol::Slot::A => &self.slot_a,
            crate::protocol::Slot::B => &self.slot_b,
        }
    }

    /// The slot's partition, for writing.
    pub fn slot_mut(&mut self, slot: crate::protocol::Slot) -> &mut P {
        match slot {
            crate::protocol::Slot::A => &mut self.slot_a,
            crate::protocol::Slot::B => &mut self.slot_b,
        }
    }
}

/// Memory figures only the board can measure, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BoardMemory {
    /// RAM of the part (65,536).
    pub ram_total: u32,
    /// Statics (`.data` + `.bss` + `.uninit`).
    pub ram_static: u32,
    /// Stack high-water mark so far.
    pub stack_peak: u32,
    /// Flash used by the image (text + rodata + `.data` load image).
    pub flash_code: u32,
}

/// The keys a device is provisioned with (see the README's "Provisioning keys").
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    /// The ed25519 public key model updates must be signed with ([`trust`]).
    pub model_key: [u8; trust::PUBLIC_KEY_LEN],
    /// The HMAC-SHA256 key of admin sessions ([`auth`]): a secret.
    pub admin_key: [u8; auth::ADMIN_KEY_LEN],
}

impl core::fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("model_key", &self.model_key)
            .field("admin_key", &"<secret>")
            .finish()
    }
}

/// The board services the application needs besides the UART and the flash.
pub trait Platform {
    /// A free-running, **up-counting** cost counter in ticks, wrapping modulo 2³² (the QEMU
    /// board: TIMER0 read as `!VALUE`). Costs are `later.wrapping_sub(earlier)`.
    fn now(&mut self) -> u32;
    /// The counter's ticks per second (the attempt limit's waits are measured on it).
    fn tick_hz(&self) -> u32;
    /// Memory figures, measured when called (for `Info`).
    fn memory(&mut self) -> BoardMemory;
    /// The firmware's version (at most 16 bytes are reported).
    fn firmware_version(&self) -> &str;
}

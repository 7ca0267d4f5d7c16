//! The attempt limit: exponential back-off after consecutive rejections, kept in flash.
//!
//! Per id (`Verify`) and for `Identify`, the number of consecutive rejected probes is a record
//! of the template store ([`store::Counter`]), written **before** the rejection is answered (a
//! power cut after the answer cannot undo it); an accepted probe resets it. After
//! [`FREE_ATTEMPTS`] rejections in a row, each one more makes the device wait
//! [`wait_seconds`] — 30 s, then doubling up to an hour — before it looks at the next probe for
//! that id (or any `Identify`): until then it answers [`ErrorCode::LockedOut`] without running
//! the model. Outside admin sessions only: an admin (who may delete and re-enrol anyway) is
//! neither held back nor counted.
//!
//! The wait is measured on the board's cost counter ([`super::Platform::now`], extended past its
//! 32-bit wrap while requests keep coming; an idle gap longer than one wrap is under-counted,
//! which only lengthens a wait). The device has no clock that survives a restart, so after one
//! the wait of a locked id starts again from the boot: a power cycle never shortens it.

use super::store::{self, Counter};
use super::Partition;
use crate::protocol::{AttemptInfo, ErrorCode, PersonId};

/// Consecutive rejections allowed without a wait.
pub const FREE_ATTEMPTS: u64 = 5;
/// The first wait, seconds.
pub const BASE_WAIT_S: u32 = 30;
/// The longest wait, seconds.
pub const MAX_WAIT_S: u32 = 3600;
/// Last-failure times remembered in RAM; older ones are assumed as late as the latest
/// forgotten one (never earlier: a wait is only ever lengthened).
const RECENT: usize = 8;

/// The wait after `failures` consecutive rejections, seconds.
pub fn wait_seconds(failures: u64) -> u32 {
    if failures < FREE_ATTEMPTS {
        return 0;
    }
    let doublings = (failures - FREE_ATTEMPTS).min(16) as u32;
    BASE_WAIT_S.saturating_mul(1 << doublings).min(MAX_WAIT_S)
}

/// Whose attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject<'a> {
    /// `Verify` of this id.
    Id(&'a str),
    /// `Identify`.
    Identify,
}

impl<'a> Subject<'a> {
    fn counter(self) -> Counter<'a> {
        match self {
            Self::Id(id) => Counter::VerifyFailures(id),
            Self::Identify => Counter::IdentifyFailures,
        }
    }

    fn matches(self, key: &Option<PersonId>) -> bool {
        match (self, key) {
            (Self::Id(id), Some(k)) => k.as_str() == id,
            (Self::Identify, None) => true,
            _ => false,
        }
    }
}

/// The device's uptime in counter ticks, extended past the counter's wrap.
#[derive(Debug, Clone, Default)]
pub(super) struct Uptime {
    last: Option<u32>,
    ticks: u64,
}

impl Uptime {
    /// Advances to the counter reading `now`; returns the uptime in seconds.
    pub fn seconds(&mut self, now: u32, tick_hz: u32) -> u64 {
        if let Some(last) = self.last {
            self.ticks += u64::from(now.wrapping_sub(last));
        }
        self.last = Some(now);
        self.ticks / u64::from(tick_hz.max(1))
    }
}

/// When (uptime seconds) the last rejections happened, for the few subjects seen lately.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempts {
    /// (`None`: `Identify`; `Some(id)`), time of its last rejection.
    recent: heapless::Vec<(Option<PersonId>, u64), RECENT>,
    /// The latest time of an entry dropped from `recent` (0: the boot).
    floor: u64,
}

impl Attempts {
    fn last_failure(&self, subject: Subject<'_>) -> u64 {
        self.recent
            .iter()
            .find(|(key, _)| subject.matches(key))
            .map_or(self.floor, |&(_, at)| at)
    }

    fn remaining(&self, subject: Subject<'_>, failures: u64, now: u64) -> u32 {
        let until = self.last_failure(subject) + u64::from(wait_seconds(failures));
        until.saturating_sub(now).min(u64::from(MAX_WAIT_S)) as u32
    }

    /// Refuses with [`ErrorCode::LockedOut`] while `subject` must wait.
    pub fn check<P: Partition>(
        &self,
        store: &mut P,
        subject: Subject<'_>,
        now: u64,
    ) -> Result<(), ErrorCode> {
        let failures = store::counter(store, subject.counter()).map_err(|_| ErrorCode::Storage)?;
        match self.remaining(subject, failures, now) {
            0 => Ok(()),
            retry_after => Err(ErrorCode::LockedOut { retry_after }),
        }
    }

    /// Records the outcome of a probe that ran: a rejection is counted in flash (an error if
    /// that fails: the probe's answer is then withheld), an acceptance resets the count.
    pub fn record<P: Partition>(
        &mut self,
        store: &mut P,
        subject: Subject<'_>,
        accepted: bool,
        now: u64,
    ) -> Result<(), ErrorCode> {
        let storage = |_| ErrorCode::Storage;
        let counter = subject.counter();
        let position = self.recent.iter().position(|(key, _)| subject.matches(key));
        if accepted {
            if let Some(i) = position {
                self.recent.swap_remove(i);
            }
            return store::set_counter(store, counter, 0).map_err(storage);
        }
        let failures = store::counter(store, counter).map_err(storage)?;
        store::set_counter(store, counter, failures.saturating_add(1)).map_err(storage)?;
        match position {
            Some(i) => self.recent[i].1 = now,
            None => {
                if self.recent.is_full() {
                    let oldest = (0..self.recent.len())
                        .min_by_key(|&i| self.recent[i].1)
                        .unwrap_or(0);
                    let (_, at) = self.recent.swap_remove(oldest);
                    self.floor = self.floor.max(at);
                }
                let key = match subject {
                    Subject::Id(id) => Some(PersonId::try_from(id).map_err(|_| ErrorCode::BadId)?),
                    Subject::Identify => None,
                };
                let _ = self.recent.push((key, now));
            }
        }
        Ok(())
    }

    /// Forgets `id`'s attempts (its template was deleted: the store dropped its record).
    pub fn forget(&mut self, id: &str) {
        if let Some(i) = self
            .recent
            .iter()
            .position(|(key, _)| Subject::Id(id).matches(key))
        {
            self.recent.swap_remove(i);
        }
    }

    /// The state for `Info`.
    pub fn info<P: Partition>(&self, store: &mut P, now: u64) -> Result<AttemptInfo, ErrorCode> {
        let storage = |_| ErrorCode::Storage;
        let identify = store::counter(store, Counter::IdentifyFailures).map_err(storage)?;
        let mut info = AttemptInfo {
            identify_failures: identify.min(u64::from(u16::MAX)) as u16,
            identify_wait: self.remaining(Subject::Identify, identify, now),
            ..AttemptInfo::default()
        };
        // The store may list an id's older counts too; counts only grow until a reset removes
        // them all, so the maxima are the current values'.
        store::for_each_failing(store, |id, failures| {
            let failures16 = failures.min(u64::from(u16::MAX)) as u16;
            info.most_failures = info.most_failures.max(failures16);
            let wait = self.remaining(Subject::Id(id), failures, now);
            info.longest_wait = info.longest_wait.max(wait);
        })
        .map_err(storage)?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_attempts_up_to_an_hour() {
        let table = [
            ("no rejection", 0, 0),
            ("one short of the limit", FREE_ATTEMPTS - 1, 0),
            ("at the limit", FREE_ATTEMPTS, BASE_WAIT_S),
            ("one more", FREE_ATTEMPTS + 1, 2 * BASE_WAIT_S),
            ("three more", FREE_ATTEMPTS + 3, 8 * BASE_WAIT_S),
            ("capped", FREE_ATTEMPTS + 7, MAX_WAIT_S),
            ("far past the cap", u64::MAX, MAX_WAIT_S),
        ];
        for (name, failures, want) in table {
            assert_eq!(wait_seconds(failures), want, "{name}");
        }
    }

    #[test]
    fn uptime_extends_past_the_counter_wrap() {
        let mut up = Uptime::default();
        assert_eq!(up.seconds(u32::MAX - 9, 10), 0);
        assert_eq!(up.seconds(10, 10), 2);
        assert_eq!(up.seconds(15, 10), 2);
        assert_eq!(up.seconds(u32::MAX, 10), 429_496_730);
    }
}

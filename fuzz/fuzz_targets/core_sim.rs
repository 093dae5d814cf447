//! Fuzzes `leasepool-core` with the simulation model of its tests: the
//! fuzzer's bytes choose every input (acquires, releases, jobs, drops,
//! broken pools, failed creations, time jumps, scale changes, stop/start),
//! and every invariant is checked after every step.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::RngCore;

#[path = "../../crates/leasepool-core/tests/model/mod.rs"]
mod model;

/// An `RngCore` that reads the fuzzer's bytes, then zeros once they run out.
struct ByteRng<'a> {
    data: &'a [u8],
}

impl RngCore for ByteRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        let n = dst.len().min(self.data.len());
        dst[..n].copy_from_slice(&self.data[..n]);
        dst[n..].fill(0);
        self.data = &self.data[n..];
    }
}

fuzz_target!(|data: &[u8]| {
    // Roughly one step per 4 bytes of input, bounded so each run stays fast.
    let steps = (data.len() / 4).min(4_000) as u64;
    model::run(ByteRng { data }, steps, "fuzz input");
});

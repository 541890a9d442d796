//! The seeds of an experiment's random streams, derived from its one seed.

/// The seed of run `index` of an experiment seeded with `seed` (SplitMix64 of both); also
/// the seed of trial `index`'s proposals within a run seeded with `seed`.
pub fn run_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

//! Signature checks for keys that sign again and again.
//!
//! `starknet_crypto::verify` recovers the key's point with a square root and runs two
//! double-and-add scalar multiplications: about 0.5 ms, which is most of what a coordinator
//! spends on a request that is not a proof. A worker signs every lease and every result with
//! one key, so [`VerifyingKey`] does that work once: it keeps the key's point and a table of its
//! multiples, `d·2^(5i)·Q` for every 5-bit window `i` and digit `1 ≤ d ≤ 16`, and the generator
//! has a table of 10-bit windows, built once per process. A scalar multiplication is then a sum
//! of one table entry, or its negation, per window (signed digits: 51 + 26 additions, no
//! doublings), and `s⁻¹ mod n` runs in a Montgomery field modulo the curve order instead of in
//! big integers.
//!
//! The point arithmetic is `starknet-types-core`'s (lambdaworks' projective addition, which
//! handles doubling and the point at infinity); this module only decides which multiples to add.
//! Table entries stay projective: the cheaper mixed addition with an affine point
//! (`operate_with_affine` in lambdaworks 0.13) answers the point at infinity for two points with
//! the same y and different x. The tests compare every answer with `starknet_crypto::verify`, the
//! reference, on valid, tampered and random signatures.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use lambdaworks_math::field::element::FieldElement;
use lambdaworks_math::field::fields::montgomery_backed_prime_fields::{IsModulus, U256PrimeField};
use lambdaworks_math::unsigned_integer::element::U256;
use starknet_types_core::curve::{AffinePoint, ProjectivePoint};

use crate::{bound, Felt, PublicKey, Signature};

/// The order `n` of the Stark curve's group.
#[derive(Clone, Debug)]
struct CurveOrder;

impl IsModulus<U256> for CurveOrder {
    const MODULUS: U256 = U256::from_hex_unchecked(
        "0800000000000010ffffffffffffffffb781126dcae7b2321e66a241adc64d2f",
    );
}

/// An integer modulo the curve order.
type Scalar = FieldElement<U256PrimeField<CurveOrder>>;

/// `value`, which the caller has checked is below 2^251 (so below `n`), as a scalar.
fn scalar(value: &Felt) -> Scalar {
    Scalar::new(U256::from_limbs(value.to_be_digits()))
}

/// Digits are signed (`-2^(w-1) ≤ d ≤ 2^(w-1)`, a negative one adds the entry's negation), so a
/// table keeps half the multiples of an unsigned one of the same width, and a window one bit
/// wider costs the same memory as before. One key's table at 5 bits is 816 points (about
/// 77 KiB); the generator's at 10 bits 13,312 (about 1.2 MiB, once per process). A check adds
/// 51 + 26 entries (it was 63 + 32 with unsigned 4- and 8-bit windows).
const KEY_WINDOW_BITS: u32 = 5;
const GENERATOR_WINDOW_BITS: u32 = 10;
/// Scalars are below the curve order, which is below 2^252; signed digits may carry one bit
/// past the top.
const SCALAR_BITS: u32 = 253;

/// `d·2^(w·i)·P` for every window `i` and digit `1 ≤ d ≤ 2^(w-1)`: a fixed-base comb.
struct Multiples {
    window_bits: u32,
    points: Vec<ProjectivePoint>,
}

impl Multiples {
    fn new(base: ProjectivePoint, window_bits: u32) -> Self {
        let digits = 1usize << (window_bits - 1);
        let windows = SCALAR_BITS.div_ceil(window_bits) as usize;
        let mut points = Vec::with_capacity(windows * digits);
        let mut window_base = base;
        for _ in 0..windows {
            let mut multiple = window_base.clone();
            points.push(multiple.clone());
            for _ in 1..digits {
                multiple = &multiple + &window_base;
                points.push(multiple.clone());
            }
            // 2^(w-1)·B + 2^(w-1)·B = 2^w·B, the next window's base.
            window_base = &multiple + &multiple;
        }
        Self {
            window_bits,
            points,
        }
    }

    /// `k·P` for `k < 2^252` given as little-endian 64-bit limbs.
    fn mul(&self, k: &[u64; 4]) -> ProjectivePoint {
        let w = self.window_bits as usize;
        let half = 1i64 << (w - 1);
        let mut acc = ProjectivePoint::identity();
        let mut carry = 0;
        for (window, entries) in self.points.chunks_exact(half as usize).enumerate() {
            let mut d = window_digit(k, window * w, w) as i64 + carry;
            carry = 0;
            if d > half {
                // d − 2^w here, and 2^w more in the next window.
                d -= 1 << w;
                carry = 1;
            }
            match d {
                0 => {}
                d if d > 0 => acc = &acc + &entries[d as usize - 1],
                d => acc = &acc - &entries[(-d) as usize - 1],
            }
        }
        debug_assert_eq!(carry, 0, "the top window absorbs the last carry");
        acc
    }
}

/// Bits `start..start + width` of `k` (little-endian limbs), as a number.
fn window_digit(k: &[u64; 4], start: usize, width: usize) -> usize {
    let (limb, shift) = (start / 64, start % 64);
    if limb >= 4 {
        return 0;
    }
    let mut bits = k[limb] >> shift;
    if shift + width > 64 && limb + 1 < 4 {
        bits |= k[limb + 1] << (64 - shift);
    }
    (bits & ((1u64 << width) - 1)) as usize
}

static GENERATOR: LazyLock<Multiples> = LazyLock::new(|| {
    let g = AffinePoint::generator();
    let g = ProjectivePoint::from_affine(g.x(), g.y()).expect("the generator is on the curve");
    Multiples::new(g, GENERATOR_WINDOW_BITS)
});

/// A public key ready for repeated signature checks. Building one costs about as much as one
/// `starknet_crypto::verify`; each check after that is several times cheaper.
pub struct VerifyingKey {
    key: PublicKey,
    multiples: Multiples,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("VerifyingKey").field(&self.key).finish()
    }
}

impl VerifyingKey {
    /// `None` when the key's x-coordinate is not on the curve: no signature can verify.
    pub fn new(key: PublicKey) -> Option<Self> {
        // Either y will do: verification accepts a signature for ±Q, as starknet-crypto does.
        let point = AffinePoint::new_from_x(&key.0, false)?;
        let point = ProjectivePoint::from_affine(point.x(), point.y()).ok()?;
        Some(Self {
            key,
            multiples: Multiples::new(point, KEY_WINDOW_BITS),
        })
    }

    /// The same answer as `starknet_crypto::verify(key, message, r, s)`, `false` for its
    /// errors: the bounds on the message, `r`, `s` and `s⁻¹`, then `(u1·G ± u2·Q).x = r`.
    pub fn verify(&self, message: &Felt, signature: &Signature) -> bool {
        let (r, s) = (&signature.r, &signature.s);
        let below_bound = |v: &Felt| *v < bound();
        if !below_bound(message) || *r == Felt::ZERO || !below_bound(r) {
            return false;
        }
        if *s == Felt::ZERO || !below_bound(s) {
            return false;
        }
        let Ok(w) = scalar(s).inv() else {
            return false;
        };
        let w_felt = felt_of(&w);
        if w_felt == Felt::ZERO || !below_bound(&w_felt) {
            return false;
        }
        let u1 = scalar(message) * &w;
        let u2 = scalar(r) * &w;
        let a = GENERATOR.mul(&le_limbs(&u1));
        let b = self.multiples.mul(&le_limbs(&u2));
        x_is(&(&a + &b), r) || x_is(&(&a - &b), r)
    }
}

fn felt_of(k: &Scalar) -> Felt {
    let mut bytes = [0u8; 32];
    for (chunk, limb) in bytes.chunks_exact_mut(8).zip(k.representative().limbs) {
        chunk.copy_from_slice(&limb.to_be_bytes());
    }
    Felt::from_bytes_be(&bytes)
}

fn le_limbs(k: &Scalar) -> [u64; 4] {
    let mut limbs = k.representative().limbs;
    limbs.reverse();
    limbs
}

/// Whether the affine x-coordinate of `p` is `r`, without an inversion: `X = r·Z`. The point at
/// infinity has no x-coordinate and never matches.
fn x_is(p: &ProjectivePoint, r: &Felt) -> bool {
    !p.is_identity() && p.x() == *r * p.z()
}

/// Prepared keys for the signers seen most recently, shared between request handlers.
///
/// A bounded map: when it is full, the key used least recently makes room, so the signers of a
/// busy network keep their tables while a flood of one-off keys costs each of them one table
/// build (about one plain verification). Memory stays bounded (`capacity` × about 77 KiB).
#[derive(Debug)]
pub struct KeyCache {
    capacity: usize,
    keys: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    /// Counts uses: an entry's `used` is the count at its last use.
    clock: u64,
    map: HashMap<PublicKey, Prepared>,
}

#[derive(Debug)]
struct Prepared {
    /// `None` for a key that is not a curve point: remembered so that it is refused at once.
    key: Option<Arc<VerifyingKey>>,
    used: u64,
}

impl KeyCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            keys: Mutex::new(Keys::default()),
        }
    }

    /// Checks `signature` over `message` by `key`, preparing the key on first sight.
    pub fn verify(&self, key: &PublicKey, message: &Felt, signature: &Signature) -> bool {
        let cached = {
            let mut keys = self.keys.lock().expect("poisoned");
            keys.clock += 1;
            let now = keys.clock;
            keys.map.get_mut(key).map(|entry| {
                entry.used = now;
                entry.key.clone()
            })
        };
        let prepared = match cached {
            Some(prepared) => prepared,
            None => {
                // Built outside the lock: other signers' checks do not wait for it.
                let prepared = VerifyingKey::new(*key).map(Arc::new);
                let mut keys = self.keys.lock().expect("poisoned");
                if keys.map.len() >= self.capacity && !keys.map.contains_key(key) {
                    // A scan, but only when a new key is prepared, which costs far more.
                    let oldest = keys.map.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| *k);
                    if let Some(oldest) = oldest {
                        keys.map.remove(&oldest);
                    }
                }
                let used = keys.clock;
                keys.map.insert(
                    *key,
                    Prepared {
                        key: prepared.clone(),
                        used,
                    },
                );
                prepared
            }
        };
        prepared.is_some_and(|k| k.verify(message, signature))
    }

    pub fn len(&self) -> usize {
        self.keys.lock().expect("poisoned").map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;
    use rand::{Rng, SeedableRng};

    fn random_felt(rng: &mut impl Rng, top_byte_mask: u8) -> Felt {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes);
        bytes[0] &= top_byte_mask;
        Felt::from_bytes_be(&bytes)
    }

    fn reference(key: &PublicKey, message: &Felt, sig: &Signature) -> bool {
        starknet_crypto::verify(&key.0, message, &sig.r, &sig.s).unwrap_or(false)
    }

    #[test]
    fn the_comb_multiplies_like_the_library() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let g = AffinePoint::generator();
        let g = ProjectivePoint::from_affine(g.x(), g.y()).unwrap();
        let p = &g * Felt::from(123_456_789u64);
        let n_minus_1 = Felt::from_hex_unchecked(
            "0x0800000000000010ffffffffffffffffb781126dcae7b2321e66a241adc64d2e",
        );
        let mut scalars = vec![
            Felt::ZERO,
            Felt::ONE,
            Felt::TWO,
            n_minus_1,
            bound() - Felt::ONE,
        ];
        // Every window at the signed digits' edge (digit 2^(w-1) for w = 4), and a carry that
        // runs through every window.
        scalars.push(Felt::from_hex_unchecked(&format!("0x07{}", "8".repeat(61))));
        scalars.push(Felt::from_hex_unchecked(&format!("0x07{}", "f".repeat(61))));
        scalars.extend((0..40).map(|_| random_felt(&mut rng, 0x07)));
        for bits in [1, 2, 3, 4, 5, 8, 10] {
            let comb = Multiples::new(p.clone(), bits);
            for k in &scalars {
                let got = comb.mul(&k.to_le_digits());
                let want = &p * *k;
                assert_eq!(
                    got.to_affine().ok(),
                    want.to_affine().ok(),
                    "{bits} bits, k={k}"
                );
            }
        }
    }

    #[test]
    fn window_digits_cross_limb_boundaries() {
        let k = [u64::MAX, 0b1011, 0, 1 << 59];
        assert_eq!(window_digit(&k, 60, 8), 0b1011_1111);
        assert_eq!(window_digit(&k, 0, 4), 0xf);
        assert_eq!(window_digit(&k, 64, 4), 0b1011);
        assert_eq!(window_digit(&k, 248, 8), 0b1000);
        assert_eq!(window_digit(&k, 256, 8), 0);
    }

    #[test]
    fn agrees_with_starknet_crypto_on_valid_tampered_and_random_signatures() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let cache = KeyCache::new(4);
        for round in 0..24 {
            let signer = SigningKey::generate();
            let key = signer.public_key();
            let message = random_felt(&mut rng, 0x07);
            let sig = signer.sign(&message).unwrap();
            let other = SigningKey::generate().public_key();
            let one = Felt::ONE;
            let cases = [
                (key, message, sig),
                (key, message + one, sig),
                (other, message, sig),
                (
                    key,
                    message,
                    Signature {
                        r: sig.r + one,
                        s: sig.s,
                    },
                ),
                (
                    key,
                    message,
                    Signature {
                        r: sig.r,
                        s: sig.s + one,
                    },
                ),
                (key, message, Signature { r: sig.s, s: sig.r }),
                (
                    key,
                    message,
                    Signature {
                        r: Felt::ZERO,
                        s: sig.s,
                    },
                ),
                (
                    key,
                    message,
                    Signature {
                        r: sig.r,
                        s: Felt::ZERO,
                    },
                ),
                (key, bound(), sig),
                (
                    key,
                    message,
                    Signature {
                        r: bound(),
                        s: sig.s,
                    },
                ),
                (
                    key,
                    message,
                    Signature {
                        r: sig.r,
                        s: bound(),
                    },
                ),
                (
                    key,
                    message,
                    Signature {
                        r: random_felt(&mut rng, 0x07),
                        s: random_felt(&mut rng, 0x07),
                    },
                ),
            ];
            for (i, (k, m, s)) in cases.iter().enumerate() {
                let want = reference(k, m, s);
                assert_eq!(cache.verify(k, m, s), want, "round {round}, case {i}");
                assert_eq!(i == 0, want, "round {round}, case {i}: the reference");
            }
        }
        assert!(cache.len() <= 4);
    }

    #[test]
    fn a_key_off_the_curve_verifies_nothing() {
        // Scan for an x with no point: about half of all x.
        let signer = SigningKey::generate();
        let message = Felt::from(42u64);
        let sig = signer.sign(&message).unwrap();
        let off = (1u64..)
            .map(|x| PublicKey(Felt::from(x)))
            .find(|k| VerifyingKey::new(*k).is_none())
            .unwrap();
        assert!(!KeyCache::new(2).verify(&off, &message, &sig));
    }

    #[test]
    fn a_signature_whose_sum_is_the_point_at_infinity_is_refused() {
        // With its own secret q a signer can pick r = −z/q (mod n), so that u1·G + u2·Q is the
        // point at infinity (starknet-crypto 0.8 panics there). It must simply fail.
        let signer = SigningKey::generate();
        let message = Felt::from(7u64);
        let q = scalar(&signer.secret());
        let r = felt_of(&-(&scalar(&message) / &q).unwrap());
        if r >= bound() {
            return; // this key's r is out of range; the bound check covers it
        }
        let sig = Signature { r, s: Felt::ONE };
        assert!(!VerifyingKey::new(signer.public_key())
            .unwrap()
            .verify(&message, &sig));
    }

    #[test]
    fn a_full_cache_gives_up_the_key_used_least_recently() {
        let cache = KeyCache::new(2);
        let message = Felt::from(7u64);
        let signers: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
        let check = |i: usize| {
            let signer = &signers[i];
            assert!(cache.verify(
                &signer.public_key(),
                &message,
                &signer.sign(&message).unwrap()
            ));
        };
        let cached = |i: usize| {
            let keys = cache.keys.lock().unwrap();
            keys.map.contains_key(&signers[i].public_key())
        };
        check(0);
        check(1);
        check(0);
        check(2);
        assert!(cached(0), "used last but one");
        assert!(!cached(1), "used least recently");
        assert!(cached(2));
        assert_eq!(cache.len(), 2);
    }
}

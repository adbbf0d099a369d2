//! Device buffers that depend on public sizes only (twiddle trees, the points of an evaluation
//! subdomain), kept between proofs: a worker proves many jobs of a few sizes, and rebuilding
//! them on the host costs more than the device work that uses them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use stwo::core::circle::Coset;

use super::{kernels, ok, Buffer, Device, DeviceColumn};
use crate::ops::{subdomain_points, DeviceTwiddles, Kernels};

type Key = (TypeId, u64, TypeId, [u64; 3]);

/// Entries kept per device before that device's start over (each at most one column's size).
const MAX_ENTRIES: usize = 32;

static CACHE: Mutex<Option<HashMap<Key, Arc<dyn Any + Send + Sync>>>> = Mutex::new(None);

fn cached<D: Device, V: Any + Send + Sync>(key: [u64; 3], make: impl FnOnce() -> V) -> Arc<V> {
    let key = (TypeId::of::<D>(), D::instance(), TypeId::of::<V>(), key);
    if let Some(hit) = CACHE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return hit.clone().downcast().expect("entries are keyed by type");
    }
    let value = Arc::new(make());
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    // Each device starts over on its own entries only.
    let mine = |k: &Key| (k.0, k.1) == (key.0, key.1);
    if cache.keys().filter(|k| mine(k)).count() >= MAX_ENTRIES {
        cache.retain(|k, _| !mine(k));
    }
    cache.insert(key, value.clone());
    value
}

/// stwo's twiddle tree for `coset`, on device `D`.
pub(super) fn twiddles<D: Device>(coset: Coset) -> Arc<DeviceTwiddles<Buffer<D>>> {
    let key = [
        coset.initial_index.0 as u64,
        coset.step_size.0 as u64,
        u64::from(coset.log_size),
    ];
    cached::<D, _>(key, || ok(DeviceTwiddles::new(kernels::<D>(), coset)))
}

/// The points of the quotients' evaluation subdomain ([`subdomain_points`]), on device `D`.
pub(super) fn points<D: Device>(
    lifting_log: u32,
    log_blowup: u32,
) -> Arc<DeviceColumn<D, stwo::core::fields::m31::BaseField>> {
    cached::<D, _>([u64::from(lifting_log), u64::from(log_blowup), 0], || {
        let words = subdomain_points(lifting_log, log_blowup);
        DeviceColumn::from_buffer(ok(kernels::<D>().upload(&words)), words.len())
    })
}

//! The synchronisation primitives of the pick/update protocol, swapped for
//! loom's model-checked ones under `--cfg pickwise_loom` (see tests/loom.rs).

use std::ops::Deref;
use std::sync::Arc;

#[cfg(pickwise_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
#[cfg(not(pickwise_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};

/// A shared pointer to the current generation, replaced atomically.
/// Lock-free (`arc-swap`) normally; a loom mutex when model checking, since
/// loom cannot see inside arc-swap.
pub(crate) struct Swap<T> {
    #[cfg(not(pickwise_loom))]
    inner: arc_swap::ArcSwap<T>,
    #[cfg(pickwise_loom)]
    inner: loom::sync::Mutex<Arc<T>>,
}

impl<T> Swap<T> {
    pub(crate) fn new(value: T) -> Self {
        Swap {
            #[cfg(not(pickwise_loom))]
            inner: arc_swap::ArcSwap::from_pointee(value),
            #[cfg(pickwise_loom)]
            inner: loom::sync::Mutex::new(Arc::new(value)),
        }
    }

    /// The current value, cheaply, for the length of one pick.
    #[inline]
    pub(crate) fn load(&self) -> impl Deref<Target = Arc<T>> + '_ {
        #[cfg(not(pickwise_loom))]
        return self.inner.load();
        #[cfg(pickwise_loom)]
        return Box::new(Arc::clone(&self.inner.lock().unwrap()));
    }

    /// The current value, owned.
    pub(crate) fn load_full(&self) -> Arc<T> {
        #[cfg(not(pickwise_loom))]
        return self.inner.load_full();
        #[cfg(pickwise_loom)]
        return Arc::clone(&self.inner.lock().unwrap());
    }

    pub(crate) fn store(&self, value: Arc<T>) {
        #[cfg(not(pickwise_loom))]
        self.inner.store(value);
        #[cfg(pickwise_loom)]
        {
            *self.inner.lock().unwrap() = value;
        }
    }
}

/// One reader's cached copy of a [`Swap`]'s value: a load is one pointer
/// comparison while the value has not been replaced, and no shared write.
pub(crate) struct Cached<'a, T> {
    #[cfg(not(pickwise_loom))]
    inner: arc_swap::Cache<&'a arc_swap::ArcSwap<T>, Arc<T>>,
    #[cfg(pickwise_loom)]
    swap: &'a Swap<T>,
    #[cfg(pickwise_loom)]
    value: Arc<T>,
}

impl<'a, T> Cached<'a, T> {
    pub(crate) fn new(swap: &'a Swap<T>) -> Self {
        Cached {
            #[cfg(not(pickwise_loom))]
            inner: arc_swap::Cache::new(&swap.inner),
            #[cfg(pickwise_loom)]
            swap,
            #[cfg(pickwise_loom)]
            value: swap.load_full(),
        }
    }

    /// The current value, refreshed first if it was replaced.
    #[inline]
    pub(crate) fn load(&mut self) -> &Arc<T> {
        #[cfg(not(pickwise_loom))]
        return self.inner.load();
        #[cfg(pickwise_loom)]
        {
            self.value = self.swap.load_full();
            &self.value
        }
    }
}

/// What holds a [`Swap`] (an `Arc` of a pool): an [`OwnedCached`] keeps one
/// to reach the swap without borrowing it.
#[cfg(feature = "tower")]
pub(crate) trait HoldsSwap {
    type Value;
    fn swap(&self) -> &Swap<Self::Value>;
}

/// A holder seen as its arc-swap, as `arc_swap::Cache` wants it.
#[cfg(all(feature = "tower", not(pickwise_loom)))]
pub(crate) struct Holder<H>(H);

#[cfg(all(feature = "tower", not(pickwise_loom)))]
impl<H: HoldsSwap> Deref for Holder<H> {
    type Target = arc_swap::ArcSwap<H::Value>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0.swap().inner
    }
}

/// A [`Cached`] that owns what holds its swap, so that it can live in a
/// value of its own (tower's `Balance`, which owns an `Arc` of its pool):
/// a load is one pointer comparison while the value has not been replaced.
#[cfg(feature = "tower")]
pub(crate) struct OwnedCached<H: HoldsSwap> {
    #[cfg(not(pickwise_loom))]
    inner: arc_swap::Cache<Holder<H>, Arc<H::Value>>,
    #[cfg(pickwise_loom)]
    holder: H,
    #[cfg(pickwise_loom)]
    value: Arc<H::Value>,
}

#[cfg(feature = "tower")]
impl<H: HoldsSwap> OwnedCached<H> {
    pub(crate) fn new(holder: H) -> Self {
        #[cfg(not(pickwise_loom))]
        return OwnedCached {
            inner: arc_swap::Cache::new(Holder(holder)),
        };
        #[cfg(pickwise_loom)]
        {
            let value = holder.swap().load_full();
            OwnedCached { holder, value }
        }
    }

    /// The current value, refreshed first if it was replaced.
    #[inline]
    pub(crate) fn load(&mut self) -> &Arc<H::Value> {
        #[cfg(not(pickwise_loom))]
        return self.inner.load();
        #[cfg(pickwise_loom)]
        {
            self.value = self.holder.swap().load_full();
            &self.value
        }
    }
}

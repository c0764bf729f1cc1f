//! The instance slots of a process's sandboxes: wasmtime's pooling allocator
//! sized from how many sandboxes may be live at once, and the budget that
//! hands its slots out, so a run never finds none.
//!
//! The pooling allocator reserves, up front, a slot for every instance that
//! can be live: its linear memory (a 4 GiB reservation each, as compiled code
//! expects), its tables, its instance data and its fiber stack. A new
//! instance then takes a slot rather than mapping all of these anew, and a
//! slot a dropped instance gave back keeps its mapping of the guest's
//! snapshot, so the next instance in it starts with most of its pages
//! already mapped. The price is a fixed number of slots: an instance past
//! them would fail to instantiate. [`InstanceSlots`] makes sure it never
//! gets there: every live instance holds one of its permits, and a sandbox
//! that needs a slot when none is free has the pools drop their least
//! recently used idle sandboxes first, or waits for a run to give one back.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Live sandboxes an engine has room for unless told otherwise: enough for
/// tests, local runs and benchmarks, small enough that several engines fit
/// in one process's address space (each slot reserves 4 GiB of it). The
/// daemon sizes its engine from `--max-live-sandboxes`.
pub const DEFAULT_ENGINE_SANDBOXES: usize = 256;

/// The most slots the pooling allocator is set up with: 8,192 slots reserve
/// 32 TiB of the 128 TiB a process can address and use about 40,000 of the
/// kernel's 65,530 mappings per process at most. Past that, instances are
/// allocated on demand (slower to make, never short of a slot).
const MAX_POOLED_SLOTS: usize = 8192;

/// Bytes of a freed linear memory that are restored by copying rather than
/// unmapped, so the next instance in its slot does not fault them in again.
/// Only the pages the last instances wrote are restored (the kernel reports
/// them): for a trivial run about 150 KiB. The pages restored stay private
/// to the slot, so this also bounds what a slot keeps of a busier earlier
/// instance: no more than the 256 KiB a live idle sandbox is to take.
const MEMORY_KEEP_RESIDENT: usize = 256 << 10;

/// Bytes of a freed table kept the same way.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Freed slots that keep their last instance's pages resident, for the next
/// instance to reuse. Beyond these, the least recently used warm slot is
/// reused first, and a cold one only when no warm one is free.
const MAX_UNUSED_WARM_SLOTS: u32 = 64;

/// How often a sandbox waiting for a slot asks the pools again to drop an
/// idle sandbox (a run that ends leaves its sandbox idle, holding its slot).
const RECLAIM_RETRY: Duration = Duration::from_millis(5);

/// The slots of an engine made for `max_live` live sandboxes: room for a
/// pool of that size, for the runs that keep a sandbox busy past the pool's
/// cap, and for sandboxes outside any pool.
pub fn slots_for(max_live: usize) -> usize {
    let max_live = max_live.max(1);
    max_live.saturating_add(max_live / 8 + 32)
}

/// How the engine allocates instances: pooled, with `slots` of everything a
/// sandbox's instance needs, or on demand when that would be more than
/// [`MAX_POOLED_SLOTS`].
pub fn allocation_strategy(slots: usize) -> InstanceAllocationStrategy {
    if slots > MAX_POOLED_SLOTS {
        return InstanceAllocationStrategy::OnDemand;
    }
    let slots = slots as u32;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        // The guest component instantiates its main module (QuickJS, with
        // its memory and function table) and the small adapter modules of
        // the component model around it.
        .total_core_instances(slots * CORE_INSTANCES_PER_SANDBOX)
        .total_memories(slots)
        .total_tables(slots * TABLES_PER_SANDBOX)
        .total_stacks(slots)
        .max_core_instances_per_component(CORE_INSTANCES_PER_SANDBOX)
        .max_memories_per_component(1)
        .max_tables_per_component(TABLES_PER_SANDBOX)
        // The sandbox's own limit (`--memory-mib`) is enforced by its
        // `MemoryLimiter`, which names it in the error; the slot allows
        // what a 32-bit memory can address, which its reservation holds
        // anyway.
        .max_memory_size(1 << 32)
        // The kernel says which pages the last instance wrote (Linux 6.7
        // and later), so only those are restored.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .max_unused_warm_slots(MAX_UNUSED_WARM_SLOTS);
    InstanceAllocationStrategy::Pooling(pool)
}

/// Core instances one sandbox's component makes.
const CORE_INSTANCES_PER_SANDBOX: u32 = 8;
/// Tables of those core instances together.
const TABLES_PER_SANDBOX: u32 = 8;

/// Drops one idle sandbox that holds an instance, to free its slot; says
/// whether it found one. A [`super::SandboxPool`] is one.
pub trait Reclaim: Send + Sync {
    fn reclaim_one(&self) -> bool;
}

/// The permits to hold an instance: one per slot of the pooling allocator,
/// or none to count when instances are allocated on demand.
pub struct InstanceSlots {
    permits: Option<Arc<Semaphore>>,
    pooled: Option<usize>,
    reclaimers: Mutex<Vec<Weak<dyn Reclaim>>>,
}

/// A live instance's claim on its slot, given back when dropped (after the
/// instance: it is the last field of whatever holds both).
pub struct SlotPermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl InstanceSlots {
    /// The permits for the pooling allocator's slots, if it has any (on
    /// demand, nothing is counted).
    pub fn new(pooled: Option<usize>) -> Self {
        Self {
            permits: pooled.map(|slots| Arc::new(Semaphore::new(slots))),
            pooled,
            reclaimers: Mutex::new(Vec::new()),
        }
    }

    /// How many slots the pooling allocator has, if it is used.
    pub fn pooled(&self) -> Option<usize> {
        self.pooled
    }

    /// Registers a pool whose idle sandboxes may be dropped when the slots
    /// run out. It is forgotten once dropped.
    pub fn add_reclaimer(&self, reclaimer: Weak<dyn Reclaim>) {
        let mut reclaimers = self.reclaimers.lock().expect("reclaimers lock");
        reclaimers.retain(|known| known.strong_count() > 0);
        reclaimers.push(reclaimer);
    }

    /// A slot for a new instance. When none is free, the pools drop their
    /// least recently used idle sandboxes until one is; when every slot is
    /// busy running, it waits for one to come back. It never fails: the
    /// caller's run time limit bounds the wait.
    pub async fn acquire(&self) -> SlotPermit {
        let Some(permits) = &self.permits else {
            return SlotPermit { _permit: None };
        };
        loop {
            if let Ok(permit) = permits.clone().try_acquire_owned() {
                return SlotPermit {
                    _permit: Some(permit),
                };
            }
            if self.reclaim_one() {
                continue;
            }
            tokio::select! {
                permit = permits.clone().acquire_owned() => {
                    return SlotPermit {
                        _permit: Some(permit.expect("the slot semaphore is never closed")),
                    };
                }
                () = tokio::time::sleep(RECLAIM_RETRY) => {}
            }
        }
    }

    fn reclaim_one(&self) -> bool {
        let reclaimers: Vec<Arc<dyn Reclaim>> = self
            .reclaimers
            .lock()
            .expect("reclaimers lock")
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        reclaimers.iter().any(|reclaimer| reclaimer.reclaim_one())
    }
}

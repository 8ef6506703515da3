//! How pickwise works inside: a page for readers of the code, with no API.
//!
//! # Layers
//!
//! Each group of modules depends only on the groups above it; no `use`
//! reaches up (the crate's tests print the graph and fail on a cycle, see
//! `tests/layout.rs`).
//!
//! | group | folder | holds |
//! |---|---|---|
//! | core types | `src/types/` | `BackendId`, `BackendSpec` and its parser, `Context`, `Outcome`, states and reasons, errors, the clock |
//! | health settings | `src/health/` | passive health, outlier detection, feedback decays, slow start: plain validated values |
//! | agents | `src/agent/` | the agent reply parser (`reply.rs`) apart from the blocking query (`query.rs`) |
//! | hashing | `src/hash/` | the keyed hash and the tables (Maglev, ring, rendezvous, sticky) |
//! | runtime | `src/runtime/` | per-backend slots (split by job), the arena, the set strategies read, the registries that act on the health settings |
//! | strategies | `src/strategy/` | one file per strategy, `kernel/` for what several share, `by_name.rs` for run-time choice |
//! | pool | `src/pool/` | `Pool`, its builder, generations, the pick guards, the per-thread picker, the `Balancer` trait |
//!
//! # The generation swap
//!
//! A pool's current state is one `Generation`: its tiers, one per priority
//! present, each a `BackendSet` (the slots of its backends, in order, with
//! their arena entries, configured weights and caps), its members (each
//! backend's payload beside its slot) and the strategy's table built for
//! exactly that set; plus every member in the caller's order (for
//! [`Pool::specs`](crate::Pool::specs) and the status) and the tier plan
//! (below). They are built together and published together behind one
//! `arc-swap` pointer, so a pick can never use a table with another set (a
//! Maglev table indexing a set that lost a backend would point past its
//! end). An empty set is a generation with no tier: picks fail with
//! `NoBackend::Empty` and no strategy ever builds a table for nothing.
//!
//! [`Pool::update`](crate::Pool::update) takes the update lock (never taken
//! by picks), validates the new specs, and builds the next generation off
//! to the side: slots of backends that stay are reused by id, so their
//! in-flight counts, counters, learned latency and state carry over; new
//! backends get new slots; a backend removed and re-added while picks of
//! it are still alive gets its old slot back from the `retired` map (weak
//! pointers), so those picks release the count the new set reads. Only
//! once the table is built (the one step that can fail) does it touch live
//! state, so a failed update changes nothing. Then it stores the new
//! generation: picks already running finish on the old one, the next pick
//! loads the new one. A pick holds an `Arc` of its member, which holds the
//! slot, so a guard dropped after a swap releases the right counter.
//! Observers hear of joins and removals after the lock is released, so an
//! observer may call back into the pool.
//!
//! A [`Picker`](crate::Picker) caches the generation pointer (arc-swap's
//! `Cache`): one pointer comparison per pick, and the next pick after a swap
//! sees the new generation.
//!
//! # Tiers, panic and caps on the pick path
//!
//! Each generation keeps its tier plan (`runtime/tiers.rs`: Envoy's
//! spillover with the overprovisioning factor, and the panic threshold) in
//! atomics, tagged with the pool's *availability epoch*: a counter every
//! state change bumps (an ejection, its end, a health verdict, an admin
//! word, a weight crossing zero, an update). A pick loads the epoch and the
//! tag; while they match and the plan is "tier 0 takes everything, no
//! panic" (nearly always), that is all it pays. Otherwise it draws (from the
//! request's key or client when it has one, so hashed requests keep to one
//! tier) and takes the tier the draw lands in. The first picker to see the
//! epoch moved recomputes the plan under a `try_lock` (the others go on with
//! the old one), sets each tier's panic flag and tells observers what
//! entered or left panic, after releasing the lock.
//!
//! Panic costs nothing on the plain path: `PickFields::up_without_clock` answers from
//! the admin-and-health byte and the ejection deadline alone when nothing
//! unusual is going on; only a backend that is ejected or failing its check
//! takes the slow path, which is where the tier's panic flag is read.
//!
//! A set with caps keeps them in one array beside the weights, `None` when
//! no backend of it has one, so an uncapped set pays one branch. The
//! strategy skips a backend at its cap (`BackendSet::is_eligible` compares
//! its in-flight count); the pool then takes the place with a
//! compare-and-swap below the cap, and a picker that lost the last place to
//! another asks the strategy again, which now sees it full. Two pickers can
//! never both take the last place (`tests/loom.rs` checks it under every
//! interleaving). A tier that has nothing for a pick sends it to the other
//! tiers, best first; when caps alone kept otherwise eligible backends out,
//! the pick fails with `NoBackend::AtCapacity`.
//!
//! # The arena and its recycling invariant
//!
//! The fields every pick reads (in-flight count, effective weight, ejection
//! deadline, ramp start, and one byte for the admin state and the health
//! check's verdict, kept in separate bits so neither overwrites the other)
//! live in 32-byte entries, two per cache
//! line, in chunks that are never returned to the allocator; a set holds its
//! backends' entries in order, so a least-connections scan walks contiguous
//! memory. An entry is a plain `&'static` reference, with no reference count
//! to touch on the pick path.
//!
//! The invariant that makes recycling safe: **nothing keeps an entry
//! without also holding the `Arc<Slot>` it belongs to** (a set holds both;
//! a pick holds the slot through its member). The slot gives its entry back
//! to the free list in its `Drop`, when no set and no pick can read it any
//! more; the next slot to take it resets every field before its generation
//! is published (with a release store), so a new backend never inherits an
//! old one's count or ejection. Under loom each entry is its own `Arc`
//! instead, since loom's atomics cannot outlive one model execution.
//!
//! # Upkeep without timers
//!
//! The library starts no thread and arms no timer. Four things that run out
//! with time are settled by the first reader past their end, on a path that
//! pays one relaxed load while nothing is due (and the tier plan, above, is
//! recomputed by the first pick after a change):
//!
//! 1. **Agent expiry** (`runtime/agent_expiry.rs`): an agent's capacity
//!    report holds for the pool's agent expiry. Every pick loads the
//!    earliest expiry; the first pick past it sweeps the backends whose
//!    report ran out, restoring their configured weight, under a `try_lock`
//!    so concurrent picks never wait.
//! 2. **Ejection end** (`runtime/slot/admission.rs`): an ejected backend's
//!    entry holds the deadline. The first eligibility check past it clears
//!    the deadline with a compare-and-swap (one winner), forgets the
//!    failures counted during the ejection, starts its slow-start ramp and
//!    announces `EjectionEnded`. [`Pool::backends`](crate::Pool::backends)
//!    settles it too, so a status page never shows an ejection that ended.
//! 3. **Ramp end** (`runtime/slot/admission.rs`): while slow start ramps a
//!    backend, reading its weight reads the clock; the first read past the
//!    window clears the ramp start, and later reads skip the clock.
//! 4. **Outlier evaluation** (`runtime/outliers.rs`): every recorded outcome
//!    compares the clock reading it takes anyway with the next evaluation
//!    time; the first outcome past it runs the evaluation under a `try_lock`
//!    and ejects what it found after dropping the lock, so observers never
//!    run under it. A pool that receives no outcomes has nothing to evaluate.
//!
//! # Randomness
//!
//! Randomised strategies draw from a per-thread SplitMix64 stream unless
//! seeded, so picking threads share no write; a seeded strategy draws from
//! one atomic sequence, reproducible from one thread. A unit test fails if
//! any strategy built unseeded draws from a shared sequence.

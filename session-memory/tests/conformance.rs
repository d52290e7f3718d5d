//! The published conformance suite against `MemoryStore`. The suite keeps
//! 10,000 sessions at once, more than the default capacity would hold, so
//! the store is unbounded here (the bound has tests of its own).

session_core::store_conformance!(async {
    session_memory::MemoryStore::builder().unbounded().build()
});

mod small_shards {
    //! The same suite with one shard, so every operation contends on one lock.
    session_core::store_conformance!(async {
        session_memory::MemoryStore::builder()
            .unbounded()
            .shards(1)
            .build()
    });
}

//! The published conformance suite against `MemoryStore`: the default
//! store (its byte bound holds the suite's 10,000 sessions at once), and an
//! unbounded one with a single shard.

session_core::store_conformance!(async { session_memory::MemoryStore::new() });

mod small_shards {
    //! The same suite with one shard, so every operation contends on one lock.
    session_core::store_conformance!(async {
        session_memory::MemoryStore::builder()
            .unbounded()
            .shards(1)
            .build()
    });
}

//! The published conformance suite against `MemoryStore`.

session_core::store_conformance!(async { session_memory::MemoryStore::new() });

mod small_shards {
    //! The same suite with one shard, so every operation contends on one lock.
    session_core::store_conformance!(async {
        session_memory::MemoryStore::builder().shards(1).build()
    });
}

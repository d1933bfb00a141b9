//! The allocator is real: once an item's slab class has a page, storing
//! more items of that class allocates nothing on the heap. (One test in
//! this binary: the counting allocator sees the whole process.)

use std::alloc::System;

use danga_memcached::exec::{Engine, Settings, Tally};
use danga_memcached::proto::{Request, StoreCmd};
use danga_memcached::store::StoreConfig;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn sets_do_not_allocate_once_the_class_has_a_page() {
    let engine = Engine::new(StoreConfig::default(), Settings::default(), 1_800_000_000);
    let now = engine.rel_time(1_800_000_000);
    let value = [b'v'; 100];
    let keys: Vec<String> = (0..5_001).map(|i| format!("key:{i:010}")).collect();
    let mut tally = Tally::default();
    let mut out = Vec::with_capacity(1 << 20);
    let mut set = |key: &str, out: &mut Vec<u8>| {
        let req = Request::Store {
            cmd: StoreCmd::Set,
            key: key.as_bytes(),
            flags: 0,
            exptime: 0,
            data: &value,
            cas: 0,
            noreply: false,
        };
        engine.execute(&req, now, &mut tally, out);
    };
    // The first set of the class takes a page (and the shard's first
    // structures); every later one must fit in it without the heap.
    for key in &keys[..200] {
        set(key, &mut out);
    }
    let region = Region::new(GLOBAL);
    for key in &keys[200..] {
        set(key, &mut out);
    }
    let change = region.change();
    assert!(out.ends_with(b"STORED\r\n"));
    assert_eq!(
        change.allocations,
        0,
        "heap allocations during {} sets: {change:?}",
        keys.len() - 200
    );

    // Chained items too: 11,000-byte values with 4 KB chunks are a head
    // and two value chunks. Once memory is full (16 pages, one shard, so
    // no page changes hands), each set evicts a chain and takes its
    // chunks, never the heap.
    let cfg = StoreConfig {
        slab_chunk_max: 4096,
        mem_limit: 16 << 20,
        shards: 1,
        ..StoreConfig::default()
    };
    let engine = Engine::new(cfg, Settings::default(), 1_800_000_000);
    let big = vec![b'b'; 11_000];
    let mut set = |key: &str, out: &mut Vec<u8>| {
        let req = Request::Store {
            cmd: StoreCmd::Set,
            key: key.as_bytes(),
            flags: 0,
            exptime: 0,
            data: &big,
            cas: 0,
            noreply: false,
        };
        out.clear();
        engine.execute(&req, now, &mut tally, out);
    };
    for key in &keys[..2_000] {
        set(key, &mut out);
    }
    let region = Region::new(GLOBAL);
    for key in &keys[2_000..3_000] {
        set(key, &mut out);
    }
    let change = region.change();
    assert!(out.ends_with(b"STORED\r\n"));
    assert_eq!(
        change.allocations, 0,
        "heap allocations during 1,000 chained sets: {change:?}"
    );
}

//! How many keys move when a fourth server joins three: modulo vs
//! consistent hashing. `cargo run -p danga-memcached --example rebalance`
//! (the figures in the README come from here).

use danga_memcached::client::{Distribution, Node, Selector};

fn nodes(n: usize) -> Vec<Node> {
    (0..n)
        .map(|i| Node {
            addr: format!("10.0.0.{}:11211", i + 1),
            weight: 1,
        })
        .collect()
}

fn main() {
    let keys: Vec<String> = (0..100_000).map(|i| format!("user:{i}")).collect();
    for (name, dist) in [
        ("modulo (Cache::Memcached)", Distribution::Modulo),
        ("ketama (pylibmc ketama)", Distribution::Ketama),
        ("ketama_weighted (MD5)", Distribution::KetamaWeighted),
    ] {
        let (three, four) = (Selector::new(dist, nodes(3)), Selector::new(dist, nodes(4)));
        let moved = keys
            .iter()
            .filter(|k| three.owner(k.as_bytes(), |_| true) != four.owner(k.as_bytes(), |_| true))
            .count();
        println!(
            "{name:<28} {:>5.1}% of {} keys move",
            moved as f64 * 100.0 / keys.len() as f64,
            keys.len()
        );
    }
}

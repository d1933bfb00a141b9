//! Command counters. A connection counts into its own [`Tally`] (plain
//! integers, no shared cache lines on the hot path) and adds it to the
//! process-wide [`Counters`] once per batch of requests.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// One connection's counts since its last flush.
        #[derive(Debug, Default, Clone, PartialEq, Eq)]
        pub struct Tally {
            $(
                #[allow(missing_docs)]
                pub $name: u64,
            )*
        }

        /// The process-wide counts, named as in the original's `stats`.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(
                #[allow(missing_docs)]
                pub $name: AtomicU64,
            )*
        }

        impl Counters {
            /// Adds a tally and zeroes it.
            pub fn absorb(&self, t: &mut Tally) {
                $(
                    if t.$name != 0 {
                        self.$name.fetch_add(t.$name, Relaxed);
                    }
                )*
                *t = Tally::default();
            }

            /// Zeroes everything (`stats reset`).
            pub fn reset(&self) {
                $( self.$name.store(0, Relaxed); )*
            }

            /// Current values, by name.
            pub fn snapshot(&self) -> Tally {
                Tally { $( $name: self.$name.load(Relaxed), )* }
            }
        }
    };
}

counters!(
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    cmd_meta,
    get_hits,
    get_misses,
    get_expired,
    get_flushed,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    store_no_memory,
    auth_cmds,
    auth_errors,
    bytes_read,
    bytes_written,
    response_obj_oom,
    conn_yields,
    idle_kicks,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_add_up_and_reset() {
        let c = Counters::default();
        let mut t = Tally {
            cmd_get: 3,
            get_hits: 2,
            ..Tally::default()
        };
        c.absorb(&mut t);
        assert_eq!(t, Tally::default());
        let mut t = Tally {
            cmd_get: 1,
            ..Tally::default()
        };
        c.absorb(&mut t);
        assert_eq!(c.snapshot().cmd_get, 4);
        assert_eq!(c.snapshot().get_hits, 2);
        c.reset();
        assert_eq!(c.snapshot(), Tally::default());
    }
}

//! Issue 19: waking every sleeper, the admin `shutdown` switch, function
//! names that own only their bytes.

use danga_gearman::proto::Command::*;

use super::{both, ours, Wire};

/// Two workers sleep on `f`; the first one woken never grabs. The job
/// must still reach the second (gearmand wakes every sleeper).
#[test]
fn issue_19_a_sleeper_that_never_grabs_does_not_hold_the_job() {
    for (name, gd) in both() {
        let (mut idle, mut busy) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
        for w in [&mut idle, &mut busy] {
            w.send(CanDo, &["f"]);
            w.send(PreSleep, &[]);
            w.send(EchoReq, &["asleep"]);
            assert_eq!(w.expect(EchoRes), ["asleep"], "{name}");
        }
        let mut c = Wire::connect(gd.addr);
        c.send(SubmitJob, &["f", "", "payload"]);
        let h = c.expect(JobCreated).remove(0);
        assert!(idle.expect(Noop).is_empty(), "{name}: first sleeper woken");
        assert!(busy.expect(Noop).is_empty(), "{name}: second sleeper woken");
        busy.send(GrabJob, &[]);
        assert_eq!(
            busy.expect(JobAssign),
            [h.as_str(), "f", "payload"],
            "{name}"
        );
        busy.send(WorkComplete, &[&h, "ok"]);
        assert_eq!(c.expect(WorkComplete), [h.as_str(), "ok"], "{name}");
    }
}

/// `-w 1` limits the wake-up to one sleeper per job, the oldest.
#[test]
fn issue_19_w_limits_the_sleepers_woken_per_job() {
    let gd = ours(&["-w", "1"]);
    let (mut first, mut second) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
    for w in [&mut first, &mut second] {
        w.send(CanDo, &["f"]);
        w.send(PreSleep, &[]);
        w.send(EchoReq, &["asleep"]);
        w.expect(EchoRes);
    }
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJobBg, &["f", "", "x"]);
    c.expect(JobCreated);
    first.expect(Noop);
    assert!(second.silent(300), "only one sleeper is woken with -w 1");
}

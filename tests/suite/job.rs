//! The app's one background-job type: a one-shot job and a run that streams events and takes
//! commands, both with their panics turned into errors and the window woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use duskmatch::run::Job;
use duskmatch::train::Command;

fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move || {
        m.fetch_add(1, Ordering::SeqCst);
    })
}

/// Poll as a frame does (events first, then the result) until the result arrives.
fn frames<T, E>(job: &mut Job<T, E>) -> (Vec<E>, Result<T, String>) {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    loop {
        seen.extend(job.drain());
        if let Some(r) = job.poll() {
            return (seen, r);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the job never ended"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The wake count once the job's thread has made its last call: the end's wake comes just
/// after the result is sent (so the window repaints when the result is there), so a poll can
/// see the result a moment before it. Waits until `expected` is reached, then a little longer
/// to catch any extra wake.
fn wakes_after_the_end(wakes: &AtomicUsize, expected: usize) -> usize {
    let t0 = Instant::now();
    while wakes.load(Ordering::SeqCst) < expected && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    wakes.load(Ordering::SeqCst)
}

#[test]
fn a_run_s_result_comes_after_its_last_event_and_every_event_wakes_the_window() {
    for _ in 0..20 {
        let (wakes, wake) = counter();
        let mut job: Job<usize, usize> = Job::spawn_run("t", "the test run", wake, |link| {
            for i in 0..500 {
                link.events.send(i).unwrap();
            }
            Ok(500)
        });
        let (seen, r) = frames(&mut job);
        assert_eq!(r, Ok(500));
        assert_eq!(
            seen,
            (0..500).collect::<Vec<_>>(),
            "a frame that saw the result saw every event"
        );
        // One wake per event and one for the end.
        assert_eq!(wakes_after_the_end(&wakes, 501), 501);
        // The result is handed out once: a later poll reports nothing (it used to report a
        // false "ended without a result").
        assert!(job.poll().is_none(), "one result, handed out once");
    }
}

#[test]
fn a_run_takes_commands_and_dropping_it_asks_it_to_stop() {
    let (_, wake) = counter();
    let mut job: Job<Vec<Command>, Command> = Job::spawn_run("t", "the test run", wake, |link| {
        let mut got = Vec::new();
        for c in link.commands.iter() {
            link.events.send(c).unwrap();
            got.push(c);
            if c == Command::Stop {
                break;
            }
        }
        Ok(got)
    });
    job.send(Command::Pause);
    job.send(Command::SaveNow);
    job.send(Command::Stop);
    let (seen, r) = frames(&mut job);
    let want = vec![Command::Pause, Command::SaveNow, Command::Stop];
    assert_eq!(seen, want);
    assert_eq!(r.unwrap(), want);

    // Replacing a run (dropping its job) sends Stop, which the run answers by ending.
    let (tx, rx) = std::sync::mpsc::channel();
    let job: Job<(), ()> = Job::spawn_run(
        "t",
        "the test run",
        || {},
        move |link| {
            let c = link.commands.recv_timeout(Duration::from_secs(20));
            tx.send(c).unwrap();
            Ok(())
        },
    );
    drop(job);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(20)).unwrap(),
        Ok(Command::Stop)
    );
}

#[test]
fn a_panic_becomes_an_error_naming_the_job_and_still_wakes_the_window() {
    let (wakes, wake) = counter();
    let mut job: Job<(), u8> = Job::spawn_run("t", "fine-tuning", wake, |link| {
        link.events.send(7).unwrap();
        panic!("out of memory");
    });
    let (seen, r) = frames(&mut job);
    assert_eq!(seen, vec![7], "events sent before the panic still arrive");
    assert_eq!(r, Err("fine-tuning crashed: out of memory".to_string()));
    assert_eq!(wakes_after_the_end(&wakes, 2), 2);

    let (wakes, wake) = counter();
    let mut one: Job<u32> = Job::spawn("t", "loading the checkpoint", wake, |p| {
        p.set(3, 4);
        Err("bad header".into())
    });
    let (seen, r) = frames(&mut one);
    assert!(seen.is_empty());
    assert_eq!(r, Err("bad header".to_string()));
    assert_eq!(one.progress.get(), (3, 4));
    assert_eq!(wakes_after_the_end(&wakes, 1), 1);
    // A one-shot job takes no commands: sending one is harmless.
    one.send(Command::Stop);

    let mut crash: Job<u32> = Job::spawn("t", "building the index", || {}, |_| panic!("boom"));
    assert_eq!(
        frames(&mut crash).1,
        Err("building the index crashed: boom".to_string())
    );
}

#[test]
fn stop_and_wait_returns_the_run_s_own_result() {
    let job: Job<u64, ()> = Job::spawn_run(
        "t",
        "training",
        || {},
        |link| {
            let mut steps = 0;
            loop {
                match link.commands.try_recv() {
                    Ok(Command::Stop) => return Ok(steps),
                    _ => {
                        steps += 1;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        },
    );
    std::thread::sleep(Duration::from_millis(20));
    let steps = job.stop_and_wait().unwrap();
    assert!(steps > 0);
}

#[test]
fn a_result_is_handed_out_once_and_later_polls_say_nothing() {
    // A frame polls every job every frame. Once the result had been taken, the next poll
    // used to find the channel closed and report "ended without a result": a false error
    // notice after every run, whose extra line moved the buttons under a click.
    let (_wakes, wake) = counter();
    let mut run: Job<u32, u32> = Job::spawn_run("t", "the test run", wake, |link| {
        link.events.send(1).unwrap();
        Ok(7)
    });
    let (_, r) = frames(&mut run);
    assert_eq!(r, Ok(7));
    // The thread is gone and its sender with it; nothing more is ever reported.
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..100 {
        assert!(run.poll().is_none());
        assert!(run.drain().is_empty());
    }
    let mut one: Job<u32> = Job::spawn("t", "the test job", || {}, |_| Ok(3));
    let (_, r) = frames(&mut one);
    assert_eq!(r, Ok(3));
    std::thread::sleep(Duration::from_millis(20));
    assert!((0..100).all(|_| one.poll().is_none()));
}

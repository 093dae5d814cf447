//! A worker's `tracing` events and output lines reach the parent's
//! subscriber with the configured target and the fields `pool`, `worker`,
//! `pid`, `source` and `fields`.

use leasepool::Runtime;
use leasepool::process::ProcessLogging;

use crate::common::capture::{events_of, install};
use crate::common::eventually;
use crate::jobs::{Say, WhoAmI};
use crate::{config, manager, process_tests};

async fn worker_logs_reach_the_parent<R: Runtime + Default>() {
    install();
    // A target of this test's own, so that tests on other runtimes (same
    // binary, same subscriber) do not see each other's lines.
    let target = format!("workers::{}", std::any::type_name::<R>().rsplit("::").next().unwrap_or("rt"));
    let logging = ProcessLogging { target: target.clone(), ..ProcessLogging::default() };
    let m = manager::<R>(1, config().logging(logging), |b| b).await;
    let lease = m.acquire().await.unwrap();
    let pid = lease.run::<WhoAmI>(()).await.unwrap();
    let word = format!("hello-{pid}");
    lease.run::<Say>(word.clone()).await.unwrap();
    let said = format!("said {word}");
    eventually::<R>("the worker's info! is forwarded", || !events_of(&target, &said).is_empty()).await;
    let event = events_of(&target, &said).remove(0);
    println!("{event:?}");
    assert_eq!(event.level, tracing::Level::INFO);
    assert_eq!(event.fields["pid"], pid.to_string());
    assert_eq!(event.fields["pool"], lease.pool_id().to_string());
    assert_eq!(event.fields["worker"], "0");
    assert_eq!(event.fields["source"], "process::jobs");
    assert_eq!(event.fields["fields"], "answer=42 who=\"worker\"");
    for stream in ["stdout", "stderr"] {
        let line = format!("{stream} {word}");
        eventually::<R>("an output line is forwarded", || !events_of(&target, &line).is_empty()).await;
        let event = events_of(&target, &line).remove(0);
        println!("{event:?}");
        assert_eq!(event.fields["source"], "stdout");
        assert_eq!(event.fields["pid"], pid.to_string());
    }
    assert!(events_of(&target, "below the forwarded level").is_empty(), "debug is below INFO");
    drop(lease);
    m.stop().await;
}

process_tests! {
    worker_logs_reach_the_parent,
}

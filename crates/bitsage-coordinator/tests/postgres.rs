//! Two coordinator processes serving one queue on PostgreSQL never hand a job out twice.

mod common;

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use bitsage_protocol::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgres_share_the_queue_without_double_leases() {
    let pg = match bitsage_testkit::Postgres::start() {
        Ok(pg) => pg,
        Err(reason) => {
            println!("skipped: PostgreSQL unavailable: {reason}");
            return;
        }
    };
    let a = Process::spawn(&pg.url, &[]);
    let b = Process::spawn(&pg.url, &[]);
    let client = funded_client(&a.url).await;
    let total = 12;
    let mut jobs = Vec::new();
    for i in 0..total as u32 {
        jobs.push(
            client
                .submit_job(&custom_job(vec![i, 2], 1))
                .await
                .unwrap()
                .job_id,
        );
    }
    // Four workers, two on each replica, all polling at once.
    let proved = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for url in [&a.url, &b.url, &a.url, &b.url] {
        let worker = staked_worker(url, 1_000).await;
        let proved = proved.clone();
        // A double lease would make one of the two results a 409 and panic the worker.
        tasks.push(tokio::spawn(async move {
            work_until(&worker, &proved, total).await
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    assert_eq!(done, total);
    let via_b = CoordinatorClient::new(&b.url, None);
    for job_id in &jobs {
        let job = via_b.job(job_id).await.unwrap();
        assert_eq!((job.state, job.attempts), (JobState::Proved, 0), "{job:?}");
    }
    let workers = via_b.workers().await.unwrap();
    assert_eq!(
        workers.iter().map(|w| w.proofs_done).sum::<u64>(),
        total as u64
    );
}

//! The create load: N clients, each on its own connection, posting numbered pods as fast as
//! the server answers, until a count or a deadline is reached. Used by the throughput
//! measurement, to fill the namespace for the list measurement, and as the event source of
//! the watch measurement.
//!
//! It records, per successful create, the latency and the instant the request was sent; it
//! never retries (a retry would hide a failure in the numbers).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};

use crate::cluster::Endpoint;
use crate::http::Connection;
use crate::objects;

pub struct CreateLoad<'a> {
    pub endpoint: &'a Endpoint,
    pub namespace: &'a str,
    /// Pods are named `<prefix>-<index>`, index from 0.
    pub prefix: &'a str,
    pub clients: usize,
    pub max_pods: usize,
    /// No new request is sent after this much time.
    pub deadline: Duration,
}

#[derive(Default)]
pub struct CreateRun {
    pub created: usize,
    pub failed: usize,
    /// The first failure, verbatim, so a broken server shows why.
    pub first_error: Option<String>,
    /// From the first request sent to the last answer received.
    pub elapsed: Duration,
    /// Per successful create: request sent → response fully read.
    pub latencies: Vec<Duration>,
    /// Per successful create: pod index and the instant its request was sent.
    pub sent: Vec<(usize, Instant)>,
}

impl CreateRun {
    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 { self.created as f64 / seconds } else { 0.0 }
    }
}

impl CreateLoad<'_> {
    pub async fn run(&self) -> anyhow::Result<CreateRun> {
        // Connect everyone first: handshakes are not part of the create latency.
        let mut connections = Vec::with_capacity(self.clients);
        for _ in 0..self.clients {
            connections.push(Connection::open(self.endpoint, true).await?);
        }
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(self.clients);
        for connection in connections {
            let client = Client {
                connection,
                endpoint: self.endpoint.clone(),
                path: format!("/api/v1/namespaces/{}/pods?fieldManager=kubectl-run", self.namespace),
                prefix: self.prefix.to_string(),
                next: next.clone(),
                max_pods: self.max_pods,
                stop_at: started + self.deadline,
            };
            tasks.push(tokio::spawn(client.run()));
        }
        let mut total = CreateRun::default();
        for task in tasks {
            let part = task.await?;
            total.created += part.created;
            total.failed += part.failed;
            if total.first_error.is_none() {
                total.first_error = part.first_error;
            }
            total.latencies.extend(part.latencies);
            total.sent.extend(part.sent);
        }
        total.elapsed = started.elapsed();
        Ok(total)
    }
}

struct Client {
    connection: Connection,
    endpoint: Endpoint,
    path: String,
    prefix: String,
    next: Arc<AtomicUsize>,
    max_pods: usize,
    stop_at: Instant,
}

impl Client {
    async fn run(mut self) -> CreateRun {
        let mut run = CreateRun::default();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.max_pods || Instant::now() >= self.stop_at {
                break;
            }
            let body = objects::pod(&objects::numbered(&self.prefix, index));
            let sent = Instant::now();
            let outcome = self.connection.send(Method::POST, &self.path, Some(body)).await;
            let answered = sent.elapsed();
            match outcome {
                Ok(response) if response.status == StatusCode::CREATED => {
                    run.created += 1;
                    run.latencies.push(answered);
                    run.sent.push((index, sent));
                }
                Ok(response) => {
                    run.failed += 1;
                    run.first_error.get_or_insert_with(|| {
                        format!("{}: {}", response.status, String::from_utf8_lossy(&response.body))
                    });
                }
                Err(error) => {
                    run.failed += 1;
                    run.first_error.get_or_insert_with(|| error.to_string());
                    // The connection is likely gone: reconnect once, give up if that fails.
                    match Connection::open(&self.endpoint, true).await {
                        Ok(connection) => self.connection = connection,
                        Err(_) => break,
                    }
                }
            }
        }
        run
    }
}

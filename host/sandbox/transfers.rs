//! The fetches of one run that are still in motion: requests waiting for
//! their head, bodies waiting for the guest's next read, and reads in flight.
//!
//! Every network step runs as a tokio task, so cancelling one (an aborted
//! fetch, a cancelled body stream) drops its connection at once. A body that
//! nobody reads keeps nothing going: only requests and reads in flight count
//! as pending work of the run.

use super::bindings::bgwasm::sandbox::{events, http};
use super::fetcher::{BodyStream, ChunkOutcome, FetchOutcome, HeldBytes};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::task::{AbortHandle, JoinHandle};

/// Where one fetch stands.
enum Transfer {
    /// The request is under way; its head has not arrived.
    Requesting(AbortHandle),
    /// The head was delivered; the rest of the body waits for a read.
    Idle(Box<BodyStream>),
    /// A read of the body is under way.
    Reading(AbortHandle),
}

/// What a finished task of a transfer hands back.
enum Step {
    Head(Box<FetchOutcome>),
    Chunk(Box<BodyStream>, ChunkOutcome),
}

/// A finished network step, for the fetch record of the run.
pub enum Finished {
    /// The head arrived, or the request failed, after `elapsed_ms`.
    Head {
        id: u32,
        elapsed_ms: u64,
        outcome: Result<http::Response, String>,
    },
    /// A body read finished; `error` says why the body broke off, if it did.
    Chunk {
        id: u32,
        completion: events::Completion,
        error: Option<String>,
    },
}

/// The transfers of one run. Dropping it aborts every task.
#[derive(Default)]
pub struct Transfers {
    live: HashMap<u32, Transfer>,
    tasks: FuturesUnordered<Task>,
    held: HeldBytes,
}

impl Transfers {
    /// Response bytes fetched for this run and not yet handed to the guest.
    pub fn held(&self) -> HeldBytes {
        self.held.clone()
    }

    /// Requests and body reads in flight: the work that keeps a run going.
    pub fn pending(&self) -> usize {
        self.live
            .values()
            .filter(|transfer| !matches!(transfer, Transfer::Idle(_)))
            .count()
    }

    /// Starts fetch `id`, performed by `request`.
    pub fn start(&mut self, id: u32, request: impl Future<Output = FetchOutcome> + Send + 'static) {
        let task = tokio::spawn(async move { Step::Head(Box::new(request.await)) });
        self.live
            .insert(id, Transfer::Requesting(task.abort_handle()));
        self.tasks.push(Task {
            id,
            started: Instant::now(),
            task,
        });
    }

    /// Starts reading the next chunk of `id`'s body. A read of a body that is
    /// not idle (unknown, cancelled, already being read) ends the body with an
    /// error the guest sees, never a hang.
    pub fn read_body(&mut self, id: u32) -> Option<events::Completion> {
        let mut body = match self.live.remove(&id) {
            Some(Transfer::Idle(body)) => body,
            Some(busy) => {
                // Its head has not come yet, or a read is under way: that
                // read's completion answers this one too.
                self.live.insert(id, busy);
                return None;
            }
            None => {
                return Some(body_chunk(
                    id,
                    Err("the body was already read to its end, or cancelled".into()),
                ));
            }
        };
        let task = tokio::spawn(async move {
            let outcome = body.next_chunk().await;
            Step::Chunk(body, outcome)
        });
        self.live.insert(id, Transfer::Reading(task.abort_handle()));
        self.tasks.push(Task {
            id,
            started: Instant::now(),
            task,
        });
        None
    }

    /// Cancels fetch `id`: its task is aborted, its connection dropped, and no
    /// completion for it comes any more.
    pub fn cancel(&mut self, id: u32) {
        match self.live.remove(&id) {
            Some(Transfer::Requesting(task) | Transfer::Reading(task)) => task.abort(),
            Some(Transfer::Idle(body)) => drop(body),
            None => {}
        }
    }

    /// Waits for the next network step of a live transfer. Steps of
    /// cancelled transfers are skipped. Never resolves when nothing is in
    /// flight.
    pub async fn next(&mut self) -> Finished {
        loop {
            let Some((id, elapsed_ms, step)) = self.tasks.next().await else {
                return std::future::pending().await;
            };
            if let Some(finished) = self.settle(id, elapsed_ms, step) {
                return finished;
            }
        }
    }

    /// Takes a step that is already finished, without waiting.
    pub fn next_ready(&mut self) -> Option<Finished> {
        use futures::FutureExt;
        while let Some(Some((id, elapsed_ms, step))) = self.tasks.next().now_or_never() {
            if let Some(finished) = self.settle(id, elapsed_ms, step) {
                return Some(finished);
            }
        }
        None
    }

    fn settle(&mut self, id: u32, elapsed_ms: u64, step: Option<Step>) -> Option<Finished> {
        let current = self.live.remove(&id);
        let expected = matches!(
            (&current, &step),
            (Some(Transfer::Requesting(_)), Some(Step::Head(_)) | None)
                | (Some(Transfer::Reading(_)), Some(Step::Chunk(..)) | None)
        );
        if !expected {
            // Cancelled meanwhile (or an aborted task's leftover).
            if let Some(current) = current {
                self.live.insert(id, current);
            }
            return None;
        }
        match step {
            Some(Step::Head(outcome)) => {
                let outcome = outcome.map(|(head, body)| {
                    self.live.insert(id, Transfer::Idle(Box::new(body)));
                    head
                });
                Some(Finished::Head {
                    id,
                    elapsed_ms,
                    outcome,
                })
            }
            None if matches!(current, Some(Transfer::Requesting(_))) => Some(Finished::Head {
                id,
                elapsed_ms,
                outcome: Err("the request was lost".into()),
            }),
            Some(Step::Chunk(body, Ok(Some(bytes)))) => {
                // Handed to the guest now: the host no longer holds it.
                self.held.release(bytes.len());
                self.live.insert(id, Transfer::Idle(body));
                Some(chunk_finished(id, Ok(Some(bytes))))
            }
            Some(Step::Chunk(_, outcome)) => Some(chunk_finished(id, outcome)),
            None => Some(chunk_finished(id, Err("the body read was lost".into()))),
        }
    }
}

fn body_chunk(id: u32, chunk: ChunkOutcome) -> events::Completion {
    events::Completion::Body(events::BodyChunk { id, chunk })
}

/// A finished body read, as the guest gets it and the fetch record notes it.
pub fn chunk_finished(id: u32, chunk: ChunkOutcome) -> Finished {
    let error = chunk.as_ref().err().cloned();
    Finished::Chunk {
        id,
        completion: body_chunk(id, chunk),
        error,
    }
}

/// A network step in flight. Dropping it aborts the step, so nothing a dead
/// run started lives on.
struct Task {
    id: u32,
    started: Instant,
    task: JoinHandle<Step>,
}

impl Future for Task {
    /// The transfer's id, the time since the step started, and the step's
    /// result (none when the task was aborted or panicked).
    type Output = (u32, u64, Option<Step>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (id, started) = (self.id, self.started);
        Pin::new(&mut self.task).poll(cx).map(|joined| {
            let elapsed = started.elapsed().as_millis() as u64;
            (id, elapsed, joined.ok())
        })
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! The encoder thread behind [`Segmenter::process_ahead`](super::Segmenter::process_ahead):
//! it owns the image encoder and encodes one frame at a time (the job queue is bounded at
//! one), handing back the buffers it was given so nothing is allocated per frame.
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::model::{Features, ImageEncoder, ModelError};
use crate::tensor::Tensor;

/// One frame for the worker: its preprocessed image and the features to fill.
struct Job {
    image: Tensor,
    features: Features,
}

/// The worker's answer: the buffers back, the outcome and the encoder's time.
struct Done {
    image: Tensor,
    features: Features,
    result: Result<(), ModelError>,
    took: Duration,
}

/// The frame the worker is encoding: what the caller needs to finish it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub index: u64,
    pub width: usize,
    pub height: usize,
    /// When its preprocessing started (its processing time runs from there).
    pub since: Instant,
    pub preprocess: Duration,
}

/// The encoder thread and the frame it holds (at most one: the queue is bounded at 1).
pub(super) struct EncodeAhead {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    worker: Option<JoinHandle<Box<dyn ImageEncoder + Send>>>,
    in_flight: Option<InFlight>,
}

/// A finished encoding: its frame, the encoder's time, the buffers handed back.
pub(super) struct Encoded {
    pub frame: InFlight,
    pub took: Duration,
    pub image: Tensor,
    pub features: Features,
}

impl EncodeAhead {
    /// Moves `encoder` onto a new thread (named after the work it does, for profilers).
    pub fn start(encoder: Box<dyn ImageEncoder + Send>) -> std::io::Result<EncodeAhead> {
        let (jobs, job_rx) = sync_channel::<Job>(1);
        let (done_tx, done) = sync_channel::<Done>(1);
        let worker = std::thread::Builder::new().name("segstream-encode".into()).spawn(move || {
            let mut encoder = encoder;
            // Ends when the sender is dropped; hands the encoder back to whoever joins.
            for mut job in job_rx {
                let t = Instant::now();
                let result = encoder.encode(&job.image, &mut job.features);
                let done = Done { image: job.image, features: job.features, result, took: t.elapsed() };
                if done_tx.send(done).is_err() {
                    break;
                }
            }
            encoder
        })?;
        Ok(EncodeAhead { jobs: Some(jobs), done, worker: Some(worker), in_flight: None })
    }

    pub fn in_flight(&self) -> Option<InFlight> {
        self.in_flight
    }

    /// Hands a frame to the worker. The caller must have taken the previous one back with
    /// [`wait`](Self::wait) first (one frame in flight at most).
    pub fn submit(&mut self, frame: InFlight, image: Tensor, features: Features) -> Result<(), ModelError> {
        debug_assert!(self.in_flight.is_none(), "one frame in flight at most");
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(Job { image, features }).map_err(|_| stopped())?;
        self.in_flight = Some(frame);
        Ok(())
    }

    /// Waits for the frame in flight, if any. An encoder error comes back with the
    /// buffers, so they are not lost with the frame.
    pub fn wait(&mut self) -> Option<(Result<(), ModelError>, Encoded)> {
        let frame = self.in_flight.take()?;
        match self.done.recv() {
            Ok(d) => Some((d.result, Encoded { frame, took: d.took, image: d.image, features: d.features })),
            // The worker is gone (it panicked): the frame and its buffers with it.
            Err(_) => {
                Some((Err(stopped()), Encoded { frame, took: Duration::ZERO, image: Tensor::default(), features: Features::default() }))
            }
        }
    }

    /// Stops the worker and returns the encoder (`None` if the worker panicked).
    pub fn stop(mut self) -> Option<Box<dyn ImageEncoder + Send>> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Option<Box<dyn ImageEncoder + Send>> {
        let _ = self.wait();
        self.jobs = None; // closes the job channel: the worker's loop ends
        self.worker.take().and_then(|w| w.join().ok())
    }
}

impl Drop for EncodeAhead {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

fn stopped() -> ModelError {
    ModelError::Backend("the encoder thread has stopped".into())
}

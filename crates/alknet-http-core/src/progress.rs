//! [`ProgressSink`]: where a call reports progress while it runs, when its surface can carry
//! progress to the caller (an MCP request with a `progressToken`). Composed calls report to
//! their root call's sink; a call whose surface carries none has no sink and reports nothing.

use tokio::sync::mpsc;

/// One progress report: how far, out of how much when known, and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The progress so far; it should increase with every report.
    pub progress: f64,
    /// The total, when known.
    pub total: Option<f64>,
    /// What is happening, for people.
    pub message: Option<String>,
}

/// The sending side of a call's progress. Reports are lossy by design: one that finds the
/// surface's queue full is dropped rather than slowing the call.
///
/// ```
/// use alknet_http_core::progress::{Progress, ProgressSink};
///
/// let (sink, mut reports) = ProgressSink::channel(8);
/// assert!(sink.report(Progress { progress: 1.0, total: Some(2.0), message: None }));
/// assert_eq!(reports.try_recv().unwrap().progress, 1.0);
/// ```
#[derive(Debug, Clone)]
pub struct ProgressSink(mpsc::Sender<Progress>);

impl ProgressSink {
    /// A sink and the surface's end, holding at most `capacity` unsent reports.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Progress>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (ProgressSink(tx), rx)
    }

    /// Reports `progress`; `false` when it was dropped (the queue is full or the caller gone).
    pub fn report(&self, progress: Progress) -> bool {
        self.0.try_send(progress).is_ok()
    }
}

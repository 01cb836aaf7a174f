//! Tracking: metrics files (JSON lines and TensorBoard events), progress bars, plots, and the
//! comparison of runs over seeds.

pub mod compare;
pub mod forest;
pub mod stats;
pub mod metrics;
pub mod plot;
pub mod progress;
pub mod tensorboard;

pub use metrics::{read_metrics, MetricsWriter, Record, RecordKind};
pub use progress::Progress;

//! Tracking: metrics files, progress bars and plots.

pub mod metrics;
pub mod plot;
pub mod progress;

pub use metrics::{read_metrics, MetricsWriter, Record};
pub use progress::Progress;

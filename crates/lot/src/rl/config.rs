//! The rl sections of a config.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::LotConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlConfig {}

impl RlConfig {
    pub fn validate(&self, _lot: &LotConfig) -> Result<()> {
        crate::bail_input!("task 'rl' is not built yet")
    }
}

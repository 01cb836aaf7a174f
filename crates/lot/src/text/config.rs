//! The text sections of a config.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::LotConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {}

impl TextConfig {
    pub fn validate(&self, _lot: &LotConfig) -> Result<()> {
        crate::bail_input!("task 'text' is not built yet")
    }
}

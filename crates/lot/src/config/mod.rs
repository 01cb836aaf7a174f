//! The run configuration: one TOML schema for every task, validated with errors that name the key.
//! `task` picks the domain; `[run]` and `[lot]` (in [`common`], which imports nothing of the
//! domains) are shared; each domain owns and validates its other sections.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::error::input_err;
use crate::vision::config::VisionConfig;

pub mod common;
pub mod reference;
pub use common::{DistBackend, LotConfig, Mode, Plan, RunConfig};

/// The kind of run; picks the task's own sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Image classification (PreAct-ResNets or TorchScript models): `[data]`, `[model]`, `[train]`.
    Vision,
    /// Language modelling (LSTM, Transformer-XL): `[data]`, `[model]`, `[train]`.
    Text,
    /// Reinforcement learning (PPO): `[env]`, `[ppo]`, `[eval]`.
    Rl,
}

/// The task-specific sections (`[data]`, `[model]`, `[train]`, …), chosen by `task`.
#[derive(Clone, Debug, PartialEq)]
pub enum Domain {
    Vision(VisionConfig),
    Text(crate::text::config::TextConfig),
    Rl(crate::rl::config::RlConfig),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The kind of run.
    pub task: Task,
    /// `[run]`.
    pub run: RunConfig,
    /// `[lot]`.
    pub lot: LotConfig,
    /// The task's own sections.
    pub domain: Domain,
    /// Why the precision is what it is, when the loader resolved `"auto"` or an explicit bf16
    /// is emulated on this device; the run prints it (`lot::print_precision_note`).
    pub precision_note: Option<String>,
}

/// The keys every task shares ([`Head`]'s fields); everything else belongs to the task's own schema.
pub(crate) const HEAD_KEYS: [&str; 3] = ["task", "run", "lot"];

/// The sections every task shares; everything else belongs to the task's own schema.
#[derive(Serialize, Deserialize)]
struct Head {
    task: Task,
    #[serde(default)]
    run: RunConfig,
    #[serde(default)]
    lot: LotConfig,
}

/// Parse a `--set` value as a TOML value (number, bool, string, array); bare words become strings.
fn parse_value(raw: &str) -> toml::Value {
    // TOML reads 110_20 as the integer 11020; depth lists are strings.
    if raw.contains('_') && raw.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return toml::Value::String(raw.into());
    }
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Apply `section.key=value` overrides to a parsed TOML document.
pub fn apply_overrides(doc: &mut toml::Table, sets: &[String]) -> Result<()> {
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            bail_input!("--set {set}: expected key=value, e.g. --set lot.alpha=0.5");
        };
        let key = key.trim();
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            bail_input!("--set {set}: bad key '{key}'");
        }
        let mut table = &mut *doc;
        for part in &parts[..parts.len() - 1] {
            let entry = table.entry(part.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
            table = match entry {
                toml::Value::Table(t) => t,
                _ => bail_input!("--set {set}: '{part}' is not a section"),
            };
        }
        table.insert(parts[parts.len() - 1].to_string(), parse_value(raw.trim()));
    }
    Ok(())
}

impl Config {
    /// Parse and validate a config from TOML text with overrides applied. `origin` names the source in errors.
    pub fn from_toml(text: &str, sets: &[String], origin: &str) -> Result<Self> {
        Self::from_toml_in(text, sets, origin, Path::new("."))
    }

    /// [`Self::from_toml`], relative file paths in the config (model files) taken relative to `base`.
    fn from_toml_in(text: &str, sets: &[String], origin: &str, base: &Path) -> Result<Self> {
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| input_err(format!("{origin}: not valid TOML: {}", one_line(&e.to_string()))))?;
        apply_overrides(&mut doc, sets)?;
        let mut rest = doc;
        let mut head_doc = toml::Table::new();
        for key in HEAD_KEYS {
            if let Some(v) = rest.remove(key) {
                head_doc.insert(key.into(), v);
            }
        }
        let head: Head = deserialize(head_doc, origin)?;
        let domain = match head.task {
            Task::Vision => Domain::Vision(deserialize(rest, origin)?),
            Task::Text => Domain::Text(deserialize(rest, origin)?),
            Task::Rl => Domain::Rl(deserialize(rest, origin)?),
        };
        let mut cfg = Config { task: head.task, run: head.run, lot: head.lot, domain, precision_note: None };
        cfg.validate().map_err(|e| input_err(format!("{origin}: {e}")))?;
        if let Domain::Vision(v) = &mut cfg.domain {
            v.resolve_paths(base);
        }
        cfg.resolve_precision()?;
        Ok(cfg)
    }

    /// Replace `precision = "auto"` by what this machine runs natively (see
    /// [`crate::precision::Precision::resolve`]), so that the models, config.toml, summary.json
    /// and `lot compare`'s grouping all see the precision actually used.
    fn resolve_precision(&mut self) -> Result<()> {
        use crate::precision::Precision;
        let device = self.device()?;
        let p = match &mut self.domain {
            // TorchScript models run as scripted: "auto" is fp32 for them.
            Domain::Vision(v) if v.scripted() => {
                v.train.precision = Precision::Fp32;
                return Ok(());
            }
            Domain::Vision(v) => &mut v.train.precision,
            Domain::Text(t) => &mut t.train.precision,
            // PPO's MLP agents have no bf16 path: "auto" is fp32 for them wherever they run.
            Domain::Rl(r) if !crate::rl::is_atari_name(&r.env.name) => {
                r.ppo.precision = Precision::Fp32;
                return Ok(());
            }
            Domain::Rl(r) => &mut r.ppo.precision,
        };
        let (resolved, note) = p.resolve(device);
        *p = resolved;
        self.precision_note = note;
        Ok(())
    }

    /// The models' forward precision (resolved: never `auto`).
    pub fn precision(&self) -> crate::precision::Precision {
        match &self.domain {
            Domain::Vision(v) => v.train.precision,
            Domain::Text(t) => t.train.precision,
            Domain::Rl(r) => r.ppo.precision,
        }
    }

    pub fn load(path: &Path, sets: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| input_err(format!("config {}: cannot read: {e}", path.display())))?;
        // Model files are relative to the config file's folder.
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Self::from_toml_in(&text, sets, &path.display().to_string(), base)
    }

    pub fn to_toml(&self) -> String {
        let head = Head { task: self.task, run: self.run.clone(), lot: self.lot.clone() };
        let mut doc = toml::Table::try_from(&head).expect("config serializes");
        let domain = match &self.domain {
            Domain::Vision(v) => toml::Table::try_from(v),
            Domain::Text(t) => toml::Table::try_from(t),
            Domain::Rl(r) => toml::Table::try_from(r),
        };
        doc.extend(domain.expect("config serializes"));
        toml::to_string_pretty(&doc).expect("config serializes")
    }

    /// The image-classification sections; an error for other tasks.
    pub fn vision(&self) -> Result<&VisionConfig> {
        match &self.domain {
            Domain::Vision(v) => Ok(v),
            _ => bail_input!("task '{:?}' has no image-classification sections", self.task),
        }
    }

    /// The language-modelling sections; an error for other tasks.
    pub fn text(&self) -> Result<&crate::text::config::TextConfig> {
        match &self.domain {
            Domain::Text(t) => Ok(t),
            _ => bail_input!("task '{:?}' has no language-modelling sections", self.task),
        }
    }

    /// Range checks that serde cannot express. Errors name the key.
    pub fn validate(&self) -> Result<()> {
        let l = &self.lot;
        if !(l.alpha >= 0.0 && l.alpha.is_finite()) {
            bail_input!("key 'lot.alpha': must be a finite number >= 0, got {}", l.alpha);
        }
        if !(l.temperature > 0.0 && l.temperature.is_finite()) {
            bail_input!("key 'lot.temperature': must be > 0, got {}", l.temperature);
        }
        if l.student_steps < 1 {
            bail_input!("key 'lot.student_steps': N must be >= 1, got {}", l.student_steps);
        }
        // Capped: the student depth list is allocated from K before anything else (K = 2^32 aborts).
        if !(1..=256).contains(&l.students) {
            bail_input!("key 'lot.students': K must be between 1 and 256, got {}", l.students);
        }
        self.device()?;
        if let Some(first) = self.run.devices.first() {
            self.model_devices(self.run.devices.len())?; // parses every listed device
            if self.run.device != "cpu" && self.run.device != *first {
                bail_input!("key 'run.devices': the teacher's device, devices[0] = \"{first}\", differs from run.device = \"{}\"; set one of them", self.run.device);
            }
            if matches!(self.domain, Domain::Rl(_)) {
                bail_input!("key 'run.devices': PPO keeps its agents on one device (run.device); placement is for vision and language models");
            }
        }
        if self.run.dist_timeout_s == 0 {
            bail_input!("key 'run.dist_timeout_s': must be >= 1 second");
        }
        if self.run.dist_backend == common::DistBackend::Nccl && !self.run.device.starts_with("cuda") {
            bail_input!("key 'run.dist_backend': nccl needs run.device = \"cuda\" (it is \"{}\"); use gloo or auto", self.run.device);
        }
        if self.run.sync_bn && !matches!(self.domain, Domain::Vision(_)) {
            bail_input!("key 'run.sync_bn': only the vision models have BatchNorm (task '{:?}')", self.task);
        }
        match &self.domain {
            Domain::Vision(v) => v.validate(&self.lot),
            Domain::Text(t) => t.validate(&self.lot),
            Domain::Rl(r) => r.validate(&self.lot),
        }
    }

    /// The run's device: the teacher's, `run.devices[0]` when that is set.
    pub fn device(&self) -> Result<tch::Device> {
        match self.run.devices.first() {
            Some(d) => parse_device("run.devices", d),
            None => parse_device("run.device", &self.run.device),
        }
    }

    /// Each of `models` models' device (0 = the teacher): `run.devices` round-robin, else `run.device`.
    pub fn model_devices(&self, models: usize) -> Result<Vec<tch::Device>> {
        if self.run.devices.is_empty() {
            return Ok(vec![self.device()?; models]);
        }
        let all = self.run.devices.iter().map(|d| parse_device("run.devices", d)).collect::<Result<Vec<_>>>()?;
        Ok((0..models).map(|m| all[m % all.len()]).collect())
    }

}

/// "cpu", "cuda" or "cuda:N" under config key `key`.
fn parse_device(key: &str, d: &str) -> Result<tch::Device> {
    Ok(match d {
        "cpu" => tch::Device::Cpu,
        "cuda" => tch::Device::Cuda(0),
        _ => match d.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
            Some(i) => tch::Device::Cuda(i),
            None => bail_input!("key '{key}': unknown device '{d}' (expected cpu, cuda or cuda:N)"),
        },
    })
}

/// Deserialize a TOML table into `T`, naming the offending key in the error.
fn deserialize<T: serde::de::DeserializeOwned>(doc: toml::Table, origin: &str) -> Result<T> {
    serde_path_to_error::deserialize(toml::Value::Table(doc)).map_err(|e| {
        let path = e.path().to_string();
        let inner = one_line(&e.into_inner().to_string());
        if path == "." || path.is_empty() {
            input_err(format!("{origin}: {inner}"))
        } else {
            input_err(format!("{origin}: key '{path}': {inner}"))
        }
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LossMode;
    use crate::error::is_input_error;

    fn parse(text: &str, sets: &[&str]) -> Result<Config> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::from_toml(text, &sets, "test.toml")
    }

    const MIN: &str = "task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n";

    #[test]
    fn defaults_are_the_reference_hyperparameters() {
        let c = parse(MIN, &[]).unwrap();
        assert_eq!(c.lot.mode, Mode::Lot);
        assert_eq!(c.lot.loss, LossMode::KlCe);
        assert_eq!((c.lot.alpha, c.lot.temperature, c.lot.student_steps), (0.5, 1.5, 2));
        assert_eq!((c.vision().unwrap().train.lr, c.vision().unwrap().train.batch_size, c.vision().unwrap().train.epochs), (1.0, 256, 180));
        assert_eq!(c.vision().unwrap().depths(c.lot.students).unwrap(), (20, vec![20]));
    }

    #[test]
    fn overrides_apply_with_types() {
        let c = parse(MIN, &["lot.alpha=0", "lot.mode=teacher_only", "model.depth=110_20", "train.nesterov=false"]).unwrap();
        assert_eq!(c.lot.alpha, 0.0);
        assert_eq!(c.lot.mode, Mode::TeacherOnly);
        assert_eq!(c.vision().unwrap().depths(c.lot.students).unwrap(), (110, vec![20]));
        assert!(!c.vision().unwrap().train.nesterov);
    }

    #[test]
    fn several_students_and_depths() {
        let c = parse(MIN, &["lot.students=2", "model.depth=56_20_32"]).unwrap();
        assert_eq!(c.vision().unwrap().depths(c.lot.students).unwrap(), (56, vec![20, 32]));
        let c = parse(MIN, &["lot.students=3"]).unwrap();
        assert_eq!(c.vision().unwrap().depths(c.lot.students).unwrap().1, vec![20, 20, 20]);
        let e = parse(MIN, &["lot.students=3", "model.depth=20_20_20"]).unwrap_err();
        assert!(e.to_string().contains("2 student depths"), "{e}");
    }

    fn err(text: &str, sets: &[&str]) -> String {
        let e = parse(text, sets).unwrap_err();
        assert!(is_input_error(&e), "not an input error: {e:#}");
        e.to_string()
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(err(MIN, &["lot.alpha=-1"]).contains("lot.alpha"));
        assert!(err(MIN, &["lot.temperature=0"]).contains("lot.temperature"));
        assert!(err(MIN, &["lot.student_steps=0"]).contains("lot.student_steps"));
        let e = err(MIN, &["model.depth=21_20"]);
        assert!(e.contains("model.depth") && e.contains("21"), "{e}");
        assert!(err(MIN, &["model.depth=50_20"]).contains("9n+2"));
        assert!(err(MIN, &["data.dataset=imagenet"]).contains("data.dataset"));
    }

    #[test]
    fn unknown_key_and_wrong_type_are_named() {
        let e = err(MIN, &["lot.alhpa=1"]);
        assert!(e.contains("alhpa"), "{e}");
        let e = err(&format!("{MIN}[train]\nepochs = \"many\"\n"), &[]);
        assert!(e.contains("train.epochs") && e.contains("invalid type"), "{e}");
        let e = err(MIN, &["lot.mode=best"]);
        assert!(e.contains("lot.mode") && e.contains("best"), "{e}");
        let e = err("task = \"vision\"\nbogus = 1\n", &[]);
        assert!(e.contains("bogus"), "{e}");
        let e = err("task = [", &[]);
        assert!(e.contains("not valid TOML"), "{e}");
        let e = err(MIN, &["novalue"]);
        assert!(e.contains("key=value"), "{e}");
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = parse(MIN, &["lot.alpha=0.25"]).unwrap();
        let again = parse(&c.to_toml(), &[]).unwrap();
        assert_eq!(c, again);
    }
}

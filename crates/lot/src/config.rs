//! The run configuration: one TOML schema for every task, validated with errors that name the key.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::engine::LossMode;
use crate::error::input_err;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Vision,
}

/// What is trained: LoT, or one of the baselines the paper compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Teacher + students with feedback (α from the config).
    Lot,
    /// α = 0 everywhere, students still trained (what the reference's α = 0 run does).
    TeacherOnly,
    /// The teacher alone, task loss only.
    NoStudent,
    /// The teacher alone for as many optimizer steps as the LoT run takes in total (teacher + students).
    ComputeMatched,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Lot => "lot",
            Mode::TeacherOnly => "teacher_only",
            Mode::NoStudent => "no_student",
            Mode::ComputeMatched => "compute_matched",
        }
    }
    pub fn has_students(self) -> bool {
        matches!(self, Mode::Lot | Mode::TeacherOnly)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    pub name: String,
    pub seed: u64,
    /// "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// libtorch intra-op threads; 0 keeps libtorch's default.
    pub threads: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { name: "run".into(), seed: 0, device: "cpu".into(), threads: 0 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LotConfig {
    pub mode: Mode,
    pub loss: LossMode,
    pub alpha: f64,
    pub temperature: f64,
    /// N: student updates per teacher update (1 joint + N−1 on the student's own stream).
    pub student_steps: usize,
    /// K: number of students; the teacher's regulariser weights each by 1/K.
    pub students: usize,
    pub detach: bool,
}

impl Default for LotConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Lot,
            loss: LossMode::KlCe,
            alpha: 0.5,
            temperature: 1.5,
            student_steps: 2,
            students: 1,
            detach: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// mnist | fashion-mnist | cifar10 | cifar100
    pub dataset: String,
    /// Folder holding the files; empty = `<data cache>/<dataset>` (see `lot data list`).
    pub dir: String,
    pub augment: bool,
    /// Use only the first n training / test samples (0 = all): for quick runs.
    pub train_limit: usize,
    pub test_limit: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dataset: "cifar100".into(), dir: String::new(), augment: true, train_limit: 0, test_limit: 0 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// "teacher_student" depths, e.g. "20_20" or "110_20"; with K students either one student depth
    /// (shared) or K of them ("56_20_32").
    pub depth: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { depth: "20_20".into() }
    }
}

/// How an epoch is cut into teacher steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochStyle {
    /// The reference: ⌊len(loader)/10⌋ restarts of a shuffled loader, 11 batches each.
    Reference,
    /// One shuffled pass over the training set.
    FullPass,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// "cosine" (per epoch, to 0) or "constant".
    pub schedule: String,
    pub epoch_style: EpochStyle,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 180,
            batch_size: 256,
            eval_batch_size: 1000,
            lr: 1.0,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            schedule: "cosine".into(),
            epoch_style: EpochStyle::Reference,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub task: Task,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub lot: LotConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
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
        let mut doc: toml::Table =
            toml::from_str(text).map_err(|e| input_err(format!("{origin}: not valid TOML: {}", one_line(&e.to_string()))))?;
        apply_overrides(&mut doc, sets)?;
        let de = toml::Value::Table(doc);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = one_line(&e.into_inner().to_string());
            if path == "." || path.is_empty() {
                input_err(format!("{origin}: {inner}"))
            } else {
                input_err(format!("{origin}: key '{path}': {inner}"))
            }
        })?;
        cfg.validate().map_err(|e| input_err(format!("{origin}: {e}")))?;
        Ok(cfg)
    }

    pub fn load(path: &Path, sets: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| input_err(format!("config {}: cannot read: {e}", path.display())))?;
        Self::from_toml(&text, sets, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
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
        if l.students < 1 {
            bail_input!("key 'lot.students': K must be >= 1, got {}", l.students);
        }
        let t = &self.train;
        if t.epochs < 1 {
            bail_input!("key 'train.epochs': must be >= 1");
        }
        if t.batch_size < 1 || t.eval_batch_size < 1 {
            bail_input!("key 'train.batch_size': must be >= 1");
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            bail_input!("key 'train.lr': must be > 0, got {}", t.lr);
        }
        if !(0.0..1.0).contains(&t.momentum) {
            bail_input!("key 'train.momentum': must be in [0, 1), got {}", t.momentum);
        }
        if t.weight_decay < 0.0 {
            bail_input!("key 'train.weight_decay': must be >= 0, got {}", t.weight_decay);
        }
        if !matches!(t.schedule.as_str(), "cosine" | "constant") {
            bail_input!("key 'train.schedule': unknown schedule '{}' (expected cosine or constant)", t.schedule);
        }
        crate::data::DatasetKind::parse(&self.data.dataset)
            .map_err(|e| input_err(format!("key 'data.dataset': {e}")))?;
        self.depths()?;
        self.device()?;
        Ok(())
    }

    /// (teacher depth, one depth per student).
    pub fn depths(&self) -> Result<(usize, Vec<usize>)> {
        let parts: Vec<&str> = self.model.depth.split('_').collect();
        let mut depths = Vec::new();
        for p in &parts {
            let d: usize = p.trim().parse().map_err(|_| {
                input_err(format!("key 'model.depth': '{}' is not of the form TEACHER_STUDENT, e.g. 20_20", self.model.depth))
            })?;
            crate::vision::resnet::check_depth(d).map_err(|e| input_err(format!("key 'model.depth': {e}")))?;
            depths.push(d);
        }
        let k = self.lot.students;
        let students = match depths.len() {
            1 => vec![depths[0]; k],
            2 => vec![depths[1]; k],
            n if n == k + 1 => depths[1..].to_vec(),
            n => bail_input!("key 'model.depth': {} student depths given for lot.students = {k}", n - 1),
        };
        Ok((depths[0], students))
    }

    pub fn device(&self) -> Result<tch::Device> {
        let d = self.run.device.as_str();
        Ok(match d {
            "cpu" => tch::Device::Cpu,
            "cuda" => tch::Device::Cuda(0),
            _ => match d.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
                Some(i) => tch::Device::Cuda(i),
                None => bail_input!("key 'run.device': unknown device '{d}' (expected cpu, cuda or cuda:N)"),
            },
        })
    }

    /// Data folder: the configured one, or the dataset's folder under the default data root.
    pub fn data_dir(&self) -> Result<PathBuf> {
        if !self.data.dir.is_empty() {
            return Ok(PathBuf::from(&self.data.dir));
        }
        let kind = crate::data::DatasetKind::parse(&self.data.dataset)?;
        Ok(crate::data::fetch::dataset_dir(&crate::data::fetch::default_data_dir(), kind))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Read a config file with context for the error line.
pub fn read_config(path: &Path, sets: &[String]) -> Result<Config> {
    Config::load(path, sets).with_context(|| format!("loading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!((c.train.lr, c.train.batch_size, c.train.epochs), (1.0, 256, 180));
        assert_eq!(c.depths().unwrap(), (20, vec![20]));
    }

    #[test]
    fn overrides_apply_with_types() {
        let c = parse(MIN, &["lot.alpha=0", "lot.mode=teacher_only", "model.depth=110_20", "train.nesterov=false"]).unwrap();
        assert_eq!(c.lot.alpha, 0.0);
        assert_eq!(c.lot.mode, Mode::TeacherOnly);
        assert_eq!(c.depths().unwrap(), (110, vec![20]));
        assert!(!c.train.nesterov);
    }

    #[test]
    fn several_students_and_depths() {
        let c = parse(MIN, &["lot.students=2", "model.depth=56_20_32"]).unwrap();
        assert_eq!(c.depths().unwrap(), (56, vec![20, 32]));
        let c = parse(MIN, &["lot.students=3"]).unwrap();
        assert_eq!(c.depths().unwrap().1, vec![20, 20, 20]);
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

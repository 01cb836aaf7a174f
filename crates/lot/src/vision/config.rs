//! The image-classification sections of a config: `[data]`, `[model]`, `[train]`.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::config::common::LotConfig;
use crate::data::{DatasetKind, Layout};
use crate::error::input_err;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// `[data]`: the images.
    pub data: DataConfig,
    /// `[model]`: the teacher's and students' networks.
    pub model: ModelConfig,
    /// `[train]`: optimisation.
    pub train: TrainConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A built-in set (`mnist`, `fashion-mnist`, `cifar10`, `cifar100`; default `cifar100`) or
    /// your own: `image-folder` (train/CLASS/*.png…) or `numpy` (train.npz…); docs/own-data.md.
    pub dataset: DatasetKind,
    /// Folder holding the files; empty = `<data cache>/<dataset>` (see `lot data list`). Required
    /// for your own data (`image-folder`, `numpy`).
    pub dir: String,
    /// Training augmentation: random crop (4-pixel zero padding) and horizontal flip.
    pub augment: bool,
    /// Use only the first n training samples (0 = all): for quick runs.
    pub train_limit: usize,
    /// Use only the first n test samples (0 = all).
    pub test_limit: usize,
    /// Hold out the last n training samples as a validation set (0 = none). With one, every epoch
    /// is evaluated on it (`split = "valid"` in metrics.jsonl, `best_valid_accuracy` in the
    /// summary) and the test set is read once, after the last epoch (`final_test_accuracy`).
    pub valid_limit: usize,
    /// `numpy` data: the image arrays' axis order, `"auto"` (default: the channel axis is the one
    /// of axes 1 and 3 with size 1 or 3), `"nchw"` or `"nhwc"`.
    #[serde(skip_serializing_if = "Layout::is_auto")]
    pub layout: Layout,
    /// Your own data: per-channel mean and standard deviation for (value − mean)/std, value = v/255
    /// for uint8 pixels, as stored for floats. Empty (default) = computed from the training split
    /// (after `valid_limit` and `train_limit`) and written into the run's config.toml, so a
    /// resumed run and `lot eval` use the same numbers. The built-in sets use (v/255 − 0.5)/0.5.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f64>,
    /// See `mean`; empty (default) = computed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f64>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetKind::Cifar100,
            dir: String::new(),
            augment: true,
            train_limit: 0,
            test_limit: 0,
            valid_limit: 0,
            layout: Layout::Auto,
            mean: Vec::new(),
            std: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `TEACHER_STUDENT` PreAct-ResNet depths, e.g. `20_20` or `110_20`; with K students either one student depth
    /// (shared) or K of them ("56_20_32"). Not used when `teacher` is set.
    pub depth: String,
    /// A TorchScript teacher instead of a built-in ResNet: a `torch.jit.save` file (docs/torchscript.md).
    /// A relative path is relative to the config file's folder (the working directory for configs
    /// not read from a file); the run's config.toml records it absolute.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub teacher: String,
    /// The TorchScript students, with `teacher`: one file (every student starts from it) or one per
    /// student (`lot.students` of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub students: Vec<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { depth: "20_20".into(), teacher: String::new(), students: Vec::new() }
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

/// The learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Cosine per epoch, from `lr` to 0 at the last epoch.
    Cosine,
    /// `lr` throughout.
    Constant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs of the teacher (× (1 + K·N) under `lot.mode = "compute_matched"`).
    pub epochs: usize,
    /// Training batch size (per rank in data-parallel runs).
    pub batch_size: usize,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// SGD learning rate (every model).
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// SGD L2 weight decay.
    pub weight_decay: f64,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// How an epoch is cut into teacher steps.
    pub epoch_style: EpochStyle,
    /// `fp32` (exact), `bf16` (bf16 convolutions and activations with fp32 master weights,
    /// classifier, logits and losses; see `resnet::ForwardOptions`) or `auto` (bf16 where the
    /// device computes it natively, else fp32; resolved when the config is loaded).
    pub precision: crate::precision::Precision,
    /// Channels-last memory format for conv inputs and weights (pair it with bf16 on CPU).
    pub channels_last: bool,
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
            schedule: LrSchedule::Cosine,
            epoch_style: EpochStyle::Reference,
            precision: crate::precision::Precision::Fp32,
            channels_last: false,
        }
    }
}

impl VisionConfig {
    /// Range checks serde cannot express; errors name the key.
    pub fn validate(&self, lot: &LotConfig) -> Result<()> {
        let train = &self.train;
        if train.epochs < 1 {
            bail_input!("key 'train.epochs': must be >= 1");
        }
        if train.batch_size < 1 || train.eval_batch_size < 1 {
            bail_input!("key 'train.batch_size': must be >= 1");
        }
        if !(train.lr > 0.0 && train.lr.is_finite()) {
            bail_input!("key 'train.lr': must be > 0, got {}", train.lr);
        }
        if !(0.0..1.0).contains(&train.momentum) {
            bail_input!("key 'train.momentum': must be in [0, 1), got {}", train.momentum);
        }
        if train.weight_decay < 0.0 {
            bail_input!("key 'train.weight_decay': must be >= 0, got {}", train.weight_decay);
        }
        if self.scripted() {
            self.script_paths(lot.students)?;
            let train = &self.train;
            if train.precision == crate::precision::Precision::Bf16 || train.channels_last {
                bail_input!("key 'train.precision': TorchScript models run as scripted, in fp32 without channels-last (train.precision = \"fp32\", train.channels_last = false)");
            }
        } else if !self.model.students.is_empty() {
            bail_input!("key 'model.students': TorchScript students need a TorchScript teacher (model.teacher)");
        } else {
            self.depths(lot.students)?;
        }
        let d = &self.data;
        if d.dataset.is_own() && d.dir.is_empty() {
            bail_input!("key 'data.dir': required for data.dataset = \"{}\"; {}", d.dataset, d.dataset.how_to_get());
        }
        if !d.dataset.is_own() && !(d.mean.is_empty() && d.std.is_empty()) {
            bail_input!(
                "key 'data.mean' / 'data.std': only for your own data (image-folder, numpy); {} uses the reference's (v/255 - 0.5)/0.5",
                d.dataset
            );
        }
        if d.dataset != DatasetKind::Numpy && !d.layout.is_auto() {
            bail_input!("key 'data.layout': only for data.dataset = \"numpy\"");
        }
        Ok(())
    }

    /// Whether the models are TorchScript files (`model.teacher`) rather than built-in ResNets.
    pub fn scripted(&self) -> bool {
        !self.model.teacher.is_empty()
    }

    /// (teacher file, one file per student) for `k` students, with `model.teacher` set.
    pub fn script_paths(&self, k: usize) -> Result<(PathBuf, Vec<PathBuf>)> {
        let m = &self.model;
        let students = match m.students.len() {
            0 => bail_input!("key 'model.students': a TorchScript teacher needs TorchScript students (one file, or one per student)"),
            1 => vec![PathBuf::from(&m.students[0]); k],
            n if n == k => m.students.iter().map(PathBuf::from).collect(),
            n => bail_input!("key 'model.students': {n} files given for lot.students = {k} (give one, or {k})"),
        };
        Ok((PathBuf::from(&m.teacher), students))
    }

    /// Make relative model files absolute, relative to `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        let abs = |p: &mut String| {
            if !p.is_empty() && std::path::Path::new(p.as_str()).is_relative() {
                let joined = base.join(p.as_str());
                *p = std::path::absolute(&joined).unwrap_or(joined).display().to_string();
            }
        };
        abs(&mut self.model.teacher);
        self.model.students.iter_mut().for_each(abs);
    }

    /// (teacher depth, one depth per student) for `k` students.
    pub fn depths(&self, k: usize) -> Result<(usize, Vec<usize>)> {
        let parts: Vec<&str> = self.model.depth.split('_').collect();
        let mut depths = Vec::new();
        for p in &parts {
            let d: usize = p.trim().parse().map_err(|_| {
                input_err(format!("key 'model.depth': '{}' is not of the form TEACHER_STUDENT, e.g. 20_20", self.model.depth))
            })?;
            super::resnet::check_depth(d).map_err(|e| input_err(format!("key 'model.depth': {e}")))?;
            depths.push(d);
        }
        let students = match depths.len() {
            1 => vec![depths[0]; k],
            2 => vec![depths[1]; k],
            n if n == k + 1 => depths[1..].to_vec(),
            n => bail_input!("key 'model.depth': {} student depths given for lot.students = {k}", n - 1),
        };
        Ok((depths[0], students))
    }

    /// The models' forward options (`train.precision`, `train.channels_last`).
    pub fn forward_options(&self) -> super::resnet::ForwardOptions {
        super::resnet::ForwardOptions::new(self.train.precision, self.train.channels_last)
    }

    /// Data folder: the configured one, or the dataset's folder under the default data root.
    pub fn data_dir(&self) -> Result<PathBuf> {
        if !self.data.dir.is_empty() {
            return Ok(PathBuf::from(&self.data.dir));
        }
        Ok(crate::data::registry::dataset_dir(&crate::data::registry::default_data_dir(), self.data.dataset))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::precision::Precision;
    use crate::vision::resnet::ForwardOptions;

    fn parse(sets: &[&str]) -> anyhow::Result<Config> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::from_toml("task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n", &sets, "test.toml")
    }

    #[test]
    fn precision_and_channels_last_keys() {
        let c = parse(&[]).unwrap();
        let v = c.vision().unwrap();
        assert_eq!((v.train.precision, v.train.channels_last), (Precision::Fp32, false));
        assert!(v.forward_options().is_exact_fp32());
        let c = parse(&["train.precision=bf16", "train.channels_last=true"]).unwrap();
        assert_eq!(c.vision().unwrap().forward_options(), ForwardOptions::new(Precision::Bf16, true));
        // The resolved config keeps them.
        let again = Config::from_toml(&c.to_toml(), &[], "again").unwrap();
        assert_eq!(again.vision().unwrap().forward_options(), ForwardOptions::new(Precision::Bf16, true));
        let e = format!("{:#}", parse(&["train.precision=fp16"]).unwrap_err());
        assert!(e.contains("train.precision") && e.contains("fp16"), "{e}");
    }

    /// `model.teacher`/`model.students`: relative paths resolve against the config file's folder
    /// and are recorded absolute; bad combinations name the key.
    #[test]
    fn torchscript_model_keys() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("sub/c.toml");
        std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        let text = "task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n[model]\nteacher = \"t.pt\"\nstudents = [\"/abs/s.pt\"]\n";
        std::fs::write(&cfg, text).unwrap();
        let c = Config::load(&cfg, &["lot.students=2".into(), "train.precision=auto".into()]).unwrap();
        let v = c.vision().unwrap();
        assert!(v.scripted());
        let (t, s) = v.script_paths(2).unwrap();
        assert_eq!(t, std::path::absolute(d.path().join("sub/t.pt")).unwrap());
        assert_eq!(s, vec![std::path::PathBuf::from("/abs/s.pt"); 2], "one file serves every student");
        assert_eq!(v.train.precision, Precision::Fp32, "auto is fp32 for TorchScript models");
        let again = Config::from_toml(&c.to_toml(), &[], "again").unwrap();
        assert_eq!(again.vision().unwrap().model.teacher, v.model.teacher);
        // Built-in configs serialize without the keys.
        assert!(!parse(&[]).unwrap().to_toml().contains("teacher"));
        let err = |sets: &[&str]| crate::testing::input_error_text(parse(sets).unwrap_err());
        let e = err(&["model.teacher=\"t.pt\""]);
        assert!(e.contains("model.students") && e.contains("TorchScript students"), "{e}");
        let e = err(&["model.teacher=\"t.pt\"", "model.students=[\"a.pt\", \"b.pt\"]", "lot.students=3"]);
        assert!(e.contains("model.students") && e.contains("2 files given for lot.students = 3"), "{e}");
        let e = err(&["model.students=[\"a.pt\"]"]);
        assert!(e.contains("model.teacher"), "{e}");
        let e = err(&["model.teacher=\"t.pt\"", "model.students=[\"a.pt\"]", "train.precision=bf16"]);
        assert!(e.contains("train.precision") && e.contains("TorchScript"), "{e}");
    }

    #[test]
    fn own_data_keys() {
        // The built-in sets' config.toml does not change: the new keys are left out when unset.
        let c = parse(&[]).unwrap();
        let text = c.to_toml();
        assert!(!text.contains("mean") && !text.contains("layout"), "{text}");
        let c = parse(&["data.dataset=numpy", "data.dir=/d", "data.layout=nhwc", "data.mean=[0.5, 0.25]", "data.std=[0.1, 0.2]"]).unwrap();
        let again = Config::from_toml(&c.to_toml(), &[], "again").unwrap();
        assert_eq!(again, c);
        assert_eq!(again.vision().unwrap().data.mean, vec![0.5, 0.25]);
        let e = |sets: &[&str]| format!("{:#}", parse(sets).unwrap_err());
        assert!(e(&["data.dataset=image-folder"]).contains("key 'data.dir': required"));
        assert!(e(&["data.mean=[0.5]", "data.std=[0.5]"]).contains("only for your own data"));
        assert!(e(&["data.layout=nhwc"]).contains("data.layout"));
        assert!(e(&["data.dataset=numpy", "data.dir=/d", "data.layout=hwc"]).contains("data.layout"));
    }
}

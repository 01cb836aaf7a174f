//! LoT on your own model and data, from Rust: a small CNN of your own (any `tch::nn::ModuleT`)
//! on images held in memory, trained with LoT and with the teacher-only baseline; both teachers'
//! test accuracy printed. Each run is a full run folder (metrics.jsonl, TensorBoard events,
//! curves.png, summary.json, checkpoints; `lot compare` reads them).
//!
//!     cargo run --release -p lot --example own_model [OUT_DIR]

use anyhow::Result;
use lot::config::{LotConfig, Mode};
use lot::data::ImageDataset;
use lot::vision::config::TrainConfig;
use lot::vision::train::Splits;
use lot::vision::{train_classifiers, ClassifierRun, Classifiers};
use rand::{Rng, SeedableRng};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

const CLASSES: usize = 4;
const SIZE: usize = 16; // 1×16×16 images

/// Your model: two convolutions and a linear classifier.
#[derive(Debug)]
struct SmallCnn {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc: nn::Linear,
}

impl SmallCnn {
    fn new(p: &nn::Path) -> Self {
        let conv = nn::ConvConfig { padding: 1, ..Default::default() };
        Self {
            conv1: nn::conv2d(p / "conv1", 1, 16, 3, conv),
            conv2: nn::conv2d(p / "conv2", 16, 32, 3, conv),
            fc: nn::linear(p / "fc", 32 * 4 * 4, CLASSES as i64, Default::default()),
        }
    }
}

impl ModuleT for SmallCnn {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv1).relu().max_pool2d_default(2)
            .apply(&self.conv2).relu().max_pool2d_default(2)
            .flatten(1, -1).dropout(0.2, train).apply(&self.fc)
    }
}

/// Your data: here, noisy copies of one random template per class, as bytes (N×C×H×W).
fn noisy_templates(n: usize, seed: u64) -> Result<ImageDataset> {
    let mut templates = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let templates: Vec<Vec<f64>> = (0..CLASSES).map(|_| (0..SIZE * SIZE).map(|_| templates.gen_range(0.0..255.0)).collect()).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let y = rng.gen_range(0..CLASSES);
        images.extend(templates[y].iter().map(|&t| (0.2 * t + rng.gen_range(0.0..204.0)) as u8));
        labels.push(y as i64);
    }
    ImageDataset::new(images, labels, [1, SIZE, SIZE], CLASSES)
}

/// One run of `mode` into `out`: the teacher's final test accuracy.
fn run(mode: Mode, out: &std::path::Path) -> Result<f64> {
    let lot = LotConfig { mode, ..Default::default() }; // α 0.5, T 1.5, N 2, one student
    let train = TrainConfig { epochs: 8, batch_size: 64, lr: 0.05, ..Default::default() };
    let spec = ClassifierRun::new("own-model", lot, train);
    // The teacher and the mode's students, each seeded, each with its own var store.
    let (mut nets, mut stores) = (Vec::new(), Vec::new());
    for m in 0..spec.num_models() {
        tch::manual_seed(m as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        nets.push(SmallCnn::new(&vs.root()));
        stores.push(vs);
    }
    let models = Classifiers::from_modules(nets, stores)?;
    let engine = spec.engine(&models.stores); // SGD per `train`, LoT's losses per `lot`
    let splits = Splits { train: noisy_templates(1000, 1)?, valid: Some(noisy_templates(500, 2)?), test: noisy_templates(2000, 3)? };
    let summary = train_classifiers(&spec, models, engine, splits, out, false, None)?;
    Ok(summary.models["teacher"].final_test_accuracy().unwrap_or(f64::NAN))
}

fn main() -> Result<()> {
    let root = std::env::args().nth(1).map_or_else(|| std::env::temp_dir().join(format!("lot-own-model-{}", std::process::id())), Into::into);
    let lot_acc = run(Mode::Lot, &root.join("lot"))?;
    let base_acc = run(Mode::TeacherOnly, &root.join("teacher_only"))?;
    println!("teacher test accuracy: LoT {lot_acc:.2} %, teacher-only {base_acc:.2} % (one seed: an anecdote, not evidence)");
    println!("run folders: {} (compare with `lot compare {}`)", root.display(), root.display());
    Ok(())
}

//! The vision worker: the vision trainer's own step on synthetic CIFAR-shaped images.

use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind};

use lot::config::Config;

use crate::synthetic::synthetic_images;
use crate::worker::{run_lot_sections, synchronize, timed_steps};
use crate::{BenchSpec, WorkerResult};

/// The vision config the spec describes: the reference's CIFAR recipe (reference epoch
/// structure, crop + flip, SGD Nesterov with a per-epoch cosine over 180 epochs).
fn vision_config(spec: &BenchSpec) -> Result<Config> {
    let text = format!(
        "task = \"vision\"\n{}[data]\ndataset = \"cifar100\"\naugment = true\n[model]\ndepth = \"{}\"\n\
         [train]\nepochs = 180\nbatch_size = {}\nlr = {:?}\nmomentum = 0.9\nnesterov = true\nweight_decay = 1e-4\n\
         schedule = \"cosine\"\nepoch_style = \"reference\"\nprecision = \"{}\"\nchannels_last = {}\n",
        run_lot_sections(spec, spec.students),
        spec.depth,
        spec.batch_size,
        spec.lr,
        spec.precision.name(),
        spec.channels_last,
    );
    Config::from_toml(&text, &[], "bench vision config")
}

/// The vision trainer's own step (`VisionLearner`, what `lot train` runs) on synthetic
/// CIFAR-shaped data; nothing is evaluated, logged or checkpointed.
pub(crate) fn vision_loop(spec: &BenchSpec, device: Device) -> Result<(f64, WorkerResult)> {
    use lot::engine::{LotModels, Stream};
    use lot::vision::train::{Splits, VisionLearner};
    spec.depths()?;
    let cfg = vision_config(spec)?;
    let splits = Splits { train: synthetic_images(spec.samples, spec.classes, spec.seed), valid: None, test: synthetic_images(1, spec.classes, spec.seed) };
    let mut learner = VisionLearner::fresh(&cfg, splits, device)?;
    let train_s = timed_steps(&mut learner, spec, device)?;
    let mut extra = WorkerResult {
        students: Some(spec.students),
        images_per_s: Some((spec.steps * spec.batch_size) as f64 / train_s.max(1e-9)),
        train_acc_teacher: Some(learner.train_accuracy()),
        ..Default::default()
    };
    if spec.students == 0 {
        // What an extra student step costs the teacher: its forward on the student's batch, in
        // train mode and without autograd, exactly as `Engine::student_step` runs it.
        let mut forward_s = 0.0;
        for _ in 0..spec.steps {
            let b = learner.teacher_batches.next()?;
            let batch = learner.models.prepare(b.to_tensors(device));
            synchronize(device);
            let t0 = Instant::now();
            let logits = tch::no_grad(|| learner.models.forward(0, &batch, Stream::Student).0);
            let _ = logits.sum(Kind::Float).double_value(&[]);
            synchronize(device);
            forward_s += t0.elapsed().as_secs_f64();
        }
        extra.teacher_forward_s = Some(forward_s / spec.steps.max(1) as f64);
    }
    Ok((train_s, extra))
}

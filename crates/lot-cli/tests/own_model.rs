//! The library path a user takes for their own model (crates/lot/examples/own_model.rs: any
//! `tch::nn::ModuleT` through `Classifiers::from_modules`, a `ClassifierRun` built in code, and
//! `train_classifiers`) trains exactly as `lot train` does for the same model and data.

mod common;

use std::collections::BTreeMap;

use common::{lot, stderr, write_config, write_dataset};
use lot::config::Config;
use lot::vision::config::TrainConfig;
use lot::vision::resnet::{self, PreActResNet};
use lot::vision::train::load_data;
use lot::vision::{train_classifiers, ClassifierRun, Classifiers};
use tch::{nn, Device, Tensor};

fn weights(path: &std::path::Path) -> BTreeMap<String, Tensor> {
    Tensor::read_safetensors(path).unwrap().into_iter().collect()
}

#[test]
fn a_user_model_through_the_library_trains_exactly_like_lot_train() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 96, 40);
    let cfg_path = write_config(d.path(), &data);
    let built_in = d.path().join("built-in");
    let o = lot(&["train", cfg_path.to_str().unwrap(), "--set", "train.epochs=1", "--out", built_in.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same ResNet-8 pair, built by "the user" as plain tch modules seeded as lot seeds them,
    // and the same settings written in code.
    let cfg = Config::load(&cfg_path, &["train.epochs=1".to_string()]).unwrap();
    tch::set_num_threads(cfg.run.threads as i32); // as `lot train` does: the summation order follows it
    let v = cfg.vision().unwrap();
    let splits = load_data(v).unwrap();
    let (mut nets, mut stores) = (Vec::new(), Vec::new());
    for m in 0..2u64 {
        tch::manual_seed((cfg.run.seed + m) as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        nets.push(PreActResNet::new(&vs.root(), 8, 1, 10).unwrap());
        stores.push(vs);
    }
    let models = Classifiers::from_modules(nets, stores).unwrap();
    let train = TrainConfig { ..v.train.clone() };
    let mut spec = ClassifierRun::new("tiny", cfg.lot.clone(), train);
    spec.seed = cfg.run.seed;
    spec.augment = v.data.augment;
    let engine = spec.engine(&models.stores);
    let library = d.path().join("library");
    let summary = train_classifiers(&spec, models, engine, splits, &library, false, None).unwrap();
    assert!(summary.teacher_steps >= 3, "{} teacher steps", summary.teacher_steps);

    for model in ["teacher", "student0"] {
        let ours = weights(&library.join(format!("{model}.safetensors")));
        let theirs: BTreeMap<String, Tensor> =
            resnet::from_reference_names(weights(&built_in.join(format!("{model}.safetensors"))).into_iter().collect()).into_iter().collect();
        assert_eq!(ours.keys().collect::<Vec<_>>(), theirs.keys().collect::<Vec<_>>(), "{model}: variable names");
        for (name, t) in &ours {
            assert!(t.equal(&theirs[name]), "{model}.{name} differs after {} teacher steps", summary.teacher_steps);
        }
    }
    // A library run is a run folder like any other: lot compare reads it beside the built-in one.
    for f in ["metrics.jsonl", "summary.json", "config.toml", "curves.png"] {
        assert!(library.join(f).is_file(), "{f} missing");
    }
    let o = lot(&["compare", library.to_str().unwrap(), built_in.to_str().unwrap(), "--out", d.path().join("cmp").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

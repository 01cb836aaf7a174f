//! Finding finished run folders, reading them, and grouping them over seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::input_err;
use crate::run::{self, Summary};

/// One finished run folder.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub summary: Summary,
    /// `config.toml` flattened to `section.key → value` (TOML text); empty without the file.
    pub config: BTreeMap<String, String>,
}

/// Read a finished run folder: `summary.json` (required) and `config.toml` (optional).
pub fn load_run(dir: &Path) -> Result<RunInfo> {
    let summary = run::read_summary(dir)?;
    let cfg_path = dir.join(run::CONFIG_FILE);
    let config = match std::fs::read_to_string(&cfg_path) {
        Ok(text) => {
            let doc: toml::Table = toml::from_str(&text).map_err(|e| {
                input_err(format!("{}: not valid TOML: {}", cfg_path.display(), e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))
            })?;
            flatten_toml(&doc)
        }
        Err(_) => BTreeMap::new(),
    };
    Ok(RunInfo { dir: dir.to_path_buf(), summary, config })
}

/// `section.key → value text` for every leaf of a TOML document (arrays are leaves).
pub fn flatten_toml(doc: &toml::Table) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(sub) => walk(&key, sub, out),
                toml::Value::String(s) => {
                    out.insert(key, s.clone());
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", doc, &mut out);
    out
}

/// Keys that do not define the experiment: the whole `[run]` section (seed, name, device,
/// threads, checkpointing), the mode (a group key of its own), and where files are.
pub fn is_ignored_key(key: &str) -> bool {
    // run.* says how and where a run ran, except synchronized BatchNorm, which changes the training.
    if (key.starts_with("run.") && key != "run.sync_bn") || key == "lot.mode" {
        return true;
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    matches!(last, "dir" | "path" | "out" | "out_dir") || last.ends_with("_dir") || last.ends_with("_path")
}

/// The run folders to compare: each argument that holds `summary.json`, or else its immediate
/// subfolders that do (so `lot compare runs/sweep` works). Returns the folders and a warning per
/// argument that gave none. A path that does not exist is an input error.
pub fn find_run_dirs(args: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut dirs = Vec::new();
    let mut warnings = Vec::new();
    for a in args {
        if !a.is_dir() {
            return Err(input_err(format!("{}: not a run folder (no such directory)", a.display())));
        }
        if a.join(run::SUMMARY_FILE).is_file() {
            dirs.push(a.clone());
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(a)
            .map_err(|e| input_err(format!("{}: cannot list: {e}", a.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(run::SUMMARY_FILE).is_file())
            .collect();
        subs.sort();
        if subs.is_empty() {
            warnings.push(format!("{}: skipped: no {} (not a finished run) in it or its subfolders", a.display(), run::SUMMARY_FILE));
        }
        dirs.extend(subs);
    }
    Ok((dirs, warnings))
}

/// Runs of one mode and one experiment config, over seeds.
#[derive(Clone, Debug)]
pub struct Group {
    /// `<config name>/<mode>`, plus the distinguishing keys when that is ambiguous.
    pub name: String,
    pub config_name: String,
    pub mode: String,
    /// The config keys that define the group (ignored keys removed).
    pub key: BTreeMap<String, String>,
    pub runs: Vec<RunInfo>,
}

impl Group {
    pub fn seeds(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.summary.seed).collect()
    }
}

/// Group runs by (mode, config without ignored keys), in order of first appearance.
pub fn group_runs(runs: Vec<RunInfo>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for r in runs {
        let mode = r.config.get("lot.mode").cloned().unwrap_or_else(|| r.summary.mode.clone());
        let config_name = r.config.get("run.name").cloned().unwrap_or_else(|| r.summary.name.clone());
        let key: BTreeMap<String, String> = r.config.iter().filter(|(k, _)| !is_ignored_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        match groups.iter_mut().find(|g| g.mode == mode && g.key == key) {
            Some(g) => g.runs.push(r),
            None => groups.push(Group { name: format!("{config_name}/{mode}"), config_name, mode, key, runs: vec![r] }),
        }
    }
    // Same name, different experiments: name the keys that differ.
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    for i in 0..groups.len() {
        let same: Vec<usize> = (0..groups.len()).filter(|&j| names[j] == names[i]).collect();
        if same.len() < 2 {
            continue;
        }
        let mut keys: Vec<&String> = same.iter().flat_map(|&j| groups[j].key.keys()).collect();
        keys.sort();
        keys.dedup();
        let differing: Vec<String> = keys
            .into_iter()
            .filter(|k| same.iter().any(|&j| groups[j].key.get(*k) != groups[same[0]].key.get(*k)))
            .map(|k| format!("{k}={}", groups[i].key.get(k).map(String::as_str).unwrap_or("unset")))
            .collect();
        groups[i].name = format!("{} [{}]", names[i], differing.join(", "));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::fixtures::run_info;

    #[test]
    fn ignored_keys() {
        for k in ["run.seed", "run.name", "run.device", "run.devices", "run.threads", "run.checkpoint_every", "run.dist_timeout_s", "lot.mode", "data.dir", "env.rom_dir", "model.init_path"] {
            assert!(is_ignored_key(k), "{k}");
        }
        for k in ["lot.alpha", "train.epochs", "data.dataset", "model.depth", "lot.students", "run.sync_bn"] {
            assert!(!is_ignored_key(k), "{k}");
        }
    }

    #[test]
    fn grouping_ignores_seed_name_and_paths_but_not_mode_or_hyperparameters() {
        let runs = vec![
            run_info("a/lot-s0", "fm", "lot", 0, &[], 80.0),
            run_info("a/teacher_only-s0", "fm", "teacher_only", 0, &[], 78.0),
            run_info("b/lot-s1", "fm", "lot", 1, &[("run.device", "cuda")], 82.0),
            run_info("a/lot-a02-s0", "fm", "lot", 0, &[("lot.alpha", "0.2")], 81.0),
            run_info("c/other", "other-name", "lot", 2, &[], 84.0),
        ];
        let g = group_runs(runs);
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        // The run with another run.name is the same experiment: it joins fm/lot (named by the first run).
        assert_eq!(names, vec!["fm/lot [lot.alpha=0.5]", "fm/teacher_only", "fm/lot [lot.alpha=0.2]"]);
        assert_eq!(g[0].seeds(), vec![0, 1, 2]);
        assert_eq!(g[1].seeds(), vec![0]);
        assert_eq!(g[2].seeds(), vec![0]);
        assert!(!g[0].key.contains_key("data.dir") && g[0].key.contains_key("lot.alpha"));
    }
}

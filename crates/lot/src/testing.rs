//! For tests: skipping what a machine may lack (Python with torch, PTB, a font, ROMs), and the
//! fixtures several crates' tests share (a tiny corpus and language-model config).

use std::io::Write;

/// The environment variable that turns every skip into a failure (set it where the machine has
/// everything, so a missing dependency cannot pass silently).
pub const NO_SKIP: &str = "LOT_NO_SKIP";

/// Say that a test cannot run here and why, on stderr past the test harness's capture (so the
/// SKIP line shows even for a passing test); panic instead when `LOT_NO_SKIP` is set.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os(NO_SKIP).is_some() {
        panic!("{test}: cannot run ({why}) and {NO_SKIP} is set");
    }
    let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
}

/// The full text of an error a test expects to be an input error (the CLI's one clear line and
/// exit code 2); panics if it is another kind of error.
pub fn input_error_text(e: anyhow::Error) -> String {
    assert!(crate::error::is_input_error(&e), "not an input error: {e:#}");
    format!("{e:#}")
}

/// A PTB-layout corpus folder (`ptb.{train,valid,test}.txt`) in a tiny deterministic "language":
/// 12 words `w0`…`w11`, each followed by a fixed successor (w → 5w + 1 mod 12), 300 lines of 5 to
/// 8 words; valid and test are the first fifth of train. A small LSTM learns it in a few steps.
pub fn write_tiny_corpus(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    let mut w = 0usize;
    for line in 0..300 {
        for _ in 0..(5 + line % 4) {
            text.push_str(&format!("w{w} "));
            w = (w * 5 + 1) % 12;
        }
        text.push('\n');
    }
    for s in ["train", "valid", "test"] {
        let t = if s == "train" { text.clone() } else { text[..text.len() / 5].to_string() };
        std::fs::write(dir.join(format!("ptb.{s}.txt")), t).unwrap();
    }
}

/// The TOML text of a tiny LoT language model on the corpus [`write_tiny_corpus`] wrote to
/// `corpus_dir`: a 1-layer LSTM of 16 units, N = 2, α 1, batch 4, bptt 8, 3 epochs of SGD at a
/// constant lr 0.5 (momentum 0.3, clip 1), one thread; `extra` is appended to `[train]`.
pub fn tiny_lm_config(corpus_dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"task = "text"
[run]
name = "tiny-lm"
threads = 1
[lot]
alpha = 1.0
student_steps = 2
[data]
corpus = "ptb"
dir = "{}"
[model]
emsize = 16
nhid = 16
nlayers = 1
dropout = 0.0
[train]
epochs = 3
batch_size = 4
eval_batch_size = 2
bptt = 8
lr = 0.5
momentum = 0.3
clip = 1.0
schedule = "constant"
student_schedule = "same"
{extra}
"#,
        corpus_dir.display()
    )
}
